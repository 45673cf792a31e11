"""The start-up check's reading of DescribeTable: the store's layout, or why not."""

from __future__ import annotations

from typing import Any

from cloud_access_bot.aws.store import table_definition
from cloud_access_bot.aws.table_check import layout_problems


def described(**changes: Any) -> dict[str, Any]:
    """A DescribeTable answer for a table made with the store's own definition."""
    return {**table_definition("t"), "TableStatus": "ACTIVE", **changes}


def test_the_stores_own_table_passes() -> None:
    assert layout_problems("t", described()) == []


def test_perkbox_table_is_named_as_such() -> None:
    perkbox = described(
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[],
    )

    [problem] = layout_problems("request_access_bot", perkbox)

    assert problem.startswith("table request_access_bot has perkbox's layout (PK, SK)")
    assert "Migrating from perkbox" in problem


def test_a_missing_index_is_named() -> None:
    table = described()
    table["GlobalSecondaryIndexes"] = [
        i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] != "by_due"
    ]

    assert layout_problems("t", table) == ["table t lacks the index by_due"]
