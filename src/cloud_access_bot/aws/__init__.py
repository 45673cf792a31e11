"""Adapters to AWS: clients and credential cache, DynamoDB store, IAM granters."""
