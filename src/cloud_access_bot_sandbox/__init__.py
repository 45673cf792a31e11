"""Local stand-ins for Slack and AWS, used by ``demo`` and the tests."""
