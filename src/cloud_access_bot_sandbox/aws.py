"""moto's server on 127.0.0.1 as the in-process AWS for ``demo`` and tests."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler
from moto.server import ThreadedMotoServer

from cloud_access_bot.aws.clients import AwsClients

#: moto's default account: credentials that did not come from assume_role land here.
MOTO_DEFAULT_ACCOUNT = "123456789012"


def _serialise_moto_requests() -> None:
    """Let moto's server handle one request at a time: a transport property, not a semantic one.

    moto's server answers on one thread per connection, but its backends are plain dicts with
    no locking: a query iterating a table while another thread writes to it fails ("dictionary
    changed size during iteration"), and a cancelled transaction restores the table snapshot it
    took before a concurrent one committed, erasing the winner. moto offers no lock of its own
    (its dispatcher's lock covers only picking the backend). Every request still runs moto's own
    code, unchanged and whole; only their interleaving is ruled out. moto runs under the GIL
    anyway, so the lock costs little (see docs/reliability.md).
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__
    if getattr(original, "serialised", False):
        return
    lock = threading.Lock()

    def serial(self: DomainDispatcherApplication, environ: Any, start_response: Any) -> Any:
        with lock:
            return original(self, environ, start_response)

    serial.serialised = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.__call__ = serial  # type: ignore[method-assign]


def _cheapen_moto_transactions() -> None:
    """A speed patch for the benchmark only: moto's TransactWriteItems without its rollback copy.

    moto deep-copies every table a transaction touches, to roll back a cancelled one, so one
    commit costs time in proportion to the table (docs/performance.md has the figure). Here the
    conditions are checked before anything is written, so a cancelled transaction writes nothing
    and needs no copy. This is the project's own variant of moto's semantics: tests run on
    moto's own transactions and never call this; ``start_moto(cheap_transactions=True)`` opts in.
    """
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    original = DynamoDBBackend.transact_write_items
    if getattr(original, "cheapened", False):
        return

    def failed_condition(backend: DynamoDBBackend, entry: dict[str, Any]) -> tuple[Any, ...]:
        kind, op = next(iter(entry.items()))
        table = backend.get_table(op["TableName"])
        if kind == "Put":
            names = [table.hash_key_attr, table.range_key_attr]
            key = {name: op["Item"][name] for name in names if name}
        else:
            key = op["Key"]
        current = backend.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is None or get_filter_expression(
            condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        ).expr(current):
            return (None, None, None)
        wants_old = op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
        old = current.to_json()["Attributes"] if wants_old and current else None
        return ("ConditionalCheckFailed", "The conditional request failed", old)

    def checked_first(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> Any:
        reasons = [failed_condition(self, entry) for entry in transact_items]
        if any(code for code, _, _ in reasons):
            raise TransactionCanceledException(reasons)
        Table.__deepcopy__ = lambda table, memo: table  # type: ignore[attr-defined]
        try:
            return original(self, transact_items)
        finally:
            del Table.__deepcopy__  # type: ignore[attr-defined]

    checked_first.cheapened = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = checked_first  # type: ignore[method-assign]


def _scan_moto_access_keys_without_creating() -> None:
    """A speed patch for the benchmark only: moto's access key → account lookup, same answer.

    moto finds the account of every request by scanning the IAM backend of every account it
    knows, and creates each account's backend for every partition on the way
    (``moto.iam.models.get_account_id_from``). With an organisation of 5,000 accounts that is
    30,000 lookups, about 45 ms of moto's time on every request of any service, which real
    AWS never spends. This variant looks only at the backends that exist (one that does not
    holds no keys), so it returns the same account; it is still linear, but in dict lookups.
    """
    from moto.iam import models

    if getattr(models.get_account_id_from, "scan_existing", False):
        return

    def existing_only(access_key: str) -> str:
        for account_id, account in list(dict.items(models.iam_backends)):
            for backend in list(dict.values(account)):
                if access_key in backend.access_keys:
                    return account_id
        return models.DEFAULT_ACCOUNT_ID

    existing_only.scan_existing = True  # type: ignore[attr-defined]
    models.get_account_id_from = existing_only


def start_moto(
    *, cheap_transactions: bool = False, cheap_account_lookup: bool = False
) -> tuple[ThreadedMotoServer, str]:
    """Start moto on a free loopback port; return the server and its endpoint URL.

    ``cheap_transactions`` and ``cheap_account_lookup``: the benchmark's speed patches
    (``_cheapen_moto_transactions``, ``_scan_moto_access_keys_without_creating``); they stay in
    this process for good, so only the benchmark's own moto process passes them.
    """
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _serialise_moto_requests()
    if cheap_transactions:
        _cheapen_moto_transactions()
    if cheap_account_lookup:
        _scan_moto_access_keys_without_creating()
    # HTTP/1.1 answers. werkzeug's server still ends every connection after one answer
    # ("Connection: close", werkzeug/serving.py), so each call to moto is a new TCP
    # connection and a new thread in moto (counted at the fault proxy: 30 calls, 30
    # connections), work production's keep-alive connections to AWS never do.
    MotoRequestHandler.protocol_version = "HTTP/1.1"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


SAML_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::{account}:saml-provider/CompanyIdP"},
            "Action": "sts:AssumeRoleWithSAML",
            "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
        }
    ],
}


@dataclass(frozen=True)
class SeededAccount:
    name: str
    account_id: str
    bot_role_arn: str
    login_role: str
    buckets: tuple[str, ...]
    tables: tuple[tuple[str, str], ...]  # (region, table name)


async def seed_account(
    clients: AwsClients,
    *,
    name: str,
    account_id: str,
    login_role: str,
    buckets: Sequence[str],
    tables: Sequence[tuple[str, str]],
) -> SeededAccount:
    """Create, in moto, what a target account holds: a SAML login role, buckets and tables.

    moto puts whatever assumed-role credentials create into that role's account, so the
    resources land in ``account_id``'s backend exactly as the bot will see them.
    """
    bot_role_arn = f"arn:aws:iam::{account_id}:role/cloud-access-bot"
    trust = json.dumps(SAML_TRUST_POLICY).replace("{account}", account_id)
    async with clients.assumed("iam", bot_role_arn) as iam:
        await iam.create_role(RoleName=login_role, AssumeRolePolicyDocument=trust)
    regions = sorted({region for region, _ in tables} | {"eu-west-1"})
    async with clients.assumed("s3", bot_role_arn, regions[0]) as s3:
        for bucket in buckets:
            await s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": regions[0]}
            )
    for region, table in tables:
        async with clients.assumed("dynamodb", bot_role_arn, region) as dynamodb:
            await dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
    return SeededAccount(name, account_id, bot_role_arn, login_role, tuple(buckets), tuple(tables))


async def inline_policy_names(clients: AwsClients, account: SeededAccount) -> list[str]:
    """The names of the inline policies now on the account's login role (a document fetched
    after listing may be gone already while the bot is removing it)."""
    async with clients.assumed("iam", account.bot_role_arn) as iam:
        names = (await iam.list_role_policies(RoleName=account.login_role))["PolicyNames"]
    return list(names)


async def inline_policies(clients: AwsClients, account: SeededAccount) -> dict[str, dict[str, Any]]:
    """The inline policies now on the account's login role, by name (what IAM holds)."""
    found: dict[str, dict[str, Any]] = {}
    async with clients.assumed("iam", account.bot_role_arn) as iam:
        names = (await iam.list_role_policies(RoleName=account.login_role))["PolicyNames"]
        for policy_name in names:
            policy = await iam.get_role_policy(RoleName=account.login_role, PolicyName=policy_name)
            document = policy["PolicyDocument"]
            found[policy_name] = json.loads(document) if isinstance(document, str) else document
    return found
