"""Athena's view of the archive, for tests: the queries of docs/audit.md run on DuckDB.

The SQL is read from docs/audit.md exactly as documented (Athena's dialect, Trino) and
translated by sqlglot; the table is declared with the Glue columns of terraform/audit_archive.tf
over the JSON Lines objects in their ``dt=`` folders, as Athena reads them (partition ``dt`` a
string, as Glue declares it).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot.errors import ErrorLevel

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "audit.md"
TERRAFORM = ROOT / "terraform" / "audit_archive.tf"
#: The Glue database and table for the module's default name (``cloud-access-bot``).
TABLE = "cloud_access_bot_audit.events"
#: The day the documented queries ask about (``last Tuesday`` in docs/audit.md).
EXAMPLE_DAY = date(2025, 3, 4)
GLUE_TYPES = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "boolean": "BOOLEAN",
    "array<string>": "VARCHAR[]",
}


def documented_queries() -> dict[str, str]:
    """Every ```sql block of docs/audit.md by its first line (``-- Its name``)."""
    blocks = re.findall(r"```sql\n(.*?)```", DOCS.read_text(), re.S)
    return {block.splitlines()[0].removeprefix("--").strip(): block for block in blocks}


def glue_columns() -> list[tuple[str, str]]:
    """The Glue table's columns (name, type), in order, as the Terraform module declares them."""
    return re.findall(r'\{ name = "(\w+)", type = "([^"]+)"', TERRAFORM.read_text())


def moved_to(sql: str, day: date) -> str:
    """``sql`` with every date moved by as many days as ``day`` is from the example's."""
    shift = day - EXAMPLE_DAY

    def moved(found: re.Match[str]) -> str:
        return (date.fromisoformat(found[0]) + shift).isoformat()

    return re.sub(r"\d{4}-\d\d-\d\d", moved, sql)


def athena(archive: Path) -> duckdb.DuckDBPyConnection:
    """A database whose ``cloud_access_bot_audit.events`` reads the objects under ``archive``
    (``<archive>/<prefix>dt=YYYY-MM-DD/*.jsonl``) with the Glue table's columns."""
    columns = ", ".join(f"'{name}': '{GLUE_TYPES[kind]}'" for name, kind in glue_columns())
    files = str(archive / "**" / "*.jsonl")
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("CREATE SCHEMA cloud_access_bot_audit")
    connection.execute(
        f"CREATE VIEW {TABLE} AS SELECT * FROM read_json('{files}', "
        f"format = 'newline_delimited', columns = {{{columns}}}, "
        "hive_partitioning = true, hive_types = {'dt': 'VARCHAR'})"
    )
    return connection


def run(connection: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    """The rows of an Athena (Trino) query, as dicts (a syntax error in it raises)."""
    # RAISE: a construct DuckDB cannot express fails the test instead of being dropped.
    (translated,) = sqlglot.transpile(
        sql, read="trino", write="duckdb", unsupported_level=ErrorLevel.RAISE
    )
    cursor = connection.execute(translated)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
