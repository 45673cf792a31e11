"""Is the DynamoDB table the one the store expects (keys and indexes of table_definition)?"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.errors import error_code
from cloud_access_bot.aws.explain import explain
from cloud_access_bot.aws.store import table_definition

#: perkbox/cloud-access-bot's table: PK = Slack user id, SK = request id, no indexes.
PERKBOX_KEYS = (("PK", "HASH"), ("SK", "RANGE"))


class TableProblem(Exception):
    """The table cannot serve the store; the message says why and what to do."""


def _keys(schema: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    return tuple((key["AttributeName"], key["KeyType"]) for key in schema)


def layout_problems(table: str, description: dict[str, Any]) -> list[str]:
    """How a DescribeTable answer differs from the layout the store writes (pure)."""
    expected = table_definition(table)
    keys = _keys(description.get("KeySchema", []))
    if keys == PERKBOX_KEYS:
        return [
            f"table {table} has perkbox's layout (PK, SK), which this bot does not use: point "
            "dynamoDbTable at a table made by the Terraform module (see 'Migrating from "
            "perkbox' in docs/deploy.md)"
        ]
    problems = []
    if keys != _keys(expected["KeySchema"]):
        problems.append(f"table {table} has keys {keys}, expected (pk HASH, sk RANGE)")
    found = {
        i["IndexName"]: _keys(i["KeySchema"]) for i in description.get("GlobalSecondaryIndexes", [])
    }
    for index in expected["GlobalSecondaryIndexes"]:
        name, wanted = index["IndexName"], _keys(index["KeySchema"])
        if name not in found:
            problems.append(f"table {table} lacks the index {name}")
        elif found[name] != wanted:
            problems.append(f"table {table}: index {name} has keys {found[name]}, not {wanted}")
    return problems


async def check_table(clients: AwsClients, table: str) -> str:
    """One line describing the table if it suits the store; raises TableProblem otherwise."""
    try:
        async with clients.client("dynamodb") as dynamodb:
            answer = await dynamodb.describe_table(TableName=table)
    except (ClientError, BotoCoreError, OSError) as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise TableProblem(
                f"DynamoDB table {table} does not exist in {clients.region}: create it with the "
                "Terraform module (or set create_table: true for local use)"
            ) from None
        resource = f"DynamoDB table {table}"
        raise TableProblem(
            explain(exc, action="dynamodb:DescribeTable", resource=resource)
        ) from None
    description = answer["Table"]
    problems = layout_problems(table, description)
    if problems:
        raise TableProblem("; ".join(problems))
    indexes = len(description.get("GlobalSecondaryIndexes", []))
    status = description.get("TableStatus", "?")
    return f"DynamoDB table {table}: {status}, keys and {indexes} indexes as expected"
