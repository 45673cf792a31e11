"""Resource discovery against moto: two accounts (reached by AssumeRole) in two regions."""

from __future__ import annotations

import asyncio
import io
import json
import time
import zipfile
from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.discovery import DISCOVERERS, ApiCall, ResourceDiscovery
from cloud_access_bot.aws.errors import AssumeRoleError
from cloud_access_bot.domain.resources import DiscoveryFailure, Resource, search

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("eu-west-1", "eu-west-2")
TRUST = json.dumps({"Version": "2012-10-17", "Statement": []})
STATE_MACHINE = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})

Seen = tuple[str, str, str, str]  # service, kind, name, arn


def role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/discovery"


def targets(accounts: tuple[str, ...] = ACCOUNTS) -> list[tuple[str, str]]:
    return [(account, role(account)) for account in accounts]


def lambda_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return event\n")
    return buffer.getvalue()


class CallLog:
    """A before_call hook that records every AWS call discovery makes."""

    def __init__(self) -> None:
        self.calls: list[ApiCall] = []

    async def __call__(self, call: ApiCall) -> None:
        self.calls.append(call)


async def seed_region(clients: AwsClients, account: str, region: str) -> tuple[set[Seen], str]:
    """One of each regional resource; returns what discovery must find and the instance IP."""
    arn = role(account)
    prefix = f"arn:aws:{{}}:{region}:{account}:"
    seen: set[Seen] = set()
    async with clients.assumed("dynamodb", arn, region) as dynamodb:
        await dynamodb.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        seen.add(("dynamodb", "table", "orders", prefix.format("dynamodb") + "table/orders"))
    async with clients.assumed("sqs", arn, region) as sqs:
        await sqs.create_queue(QueueName="jobs")
        seen.add(("sqs", "queue", "jobs", prefix.format("sqs") + "jobs"))
    async with clients.assumed("sns", arn, region) as sns:
        topic = await sns.create_topic(Name="alerts")
        seen.add(("sns", "topic", "alerts", topic["TopicArn"]))
    async with clients.assumed("iam", arn, region) as iam:
        function_role = await iam.create_role(
            RoleName=f"fn-{region}", AssumeRolePolicyDocument=TRUST
        )
    role_arn = function_role["Role"]["Arn"]
    async with clients.assumed("lambda", arn, region) as lambda_:
        function = await lambda_.create_function(
            FunctionName="resize",
            Runtime="python3.12",
            Role=role_arn,
            Handler="handler.handle",
            Code={"ZipFile": lambda_zip()},
        )
        seen.add(("lambda", "function", "resize", function["FunctionArn"]))
    async with clients.assumed("ec2", arn, region) as ec2:
        run = await ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web-1"}]}
            ],
        )
        instance = run["Instances"][0]
        instance_id = instance["InstanceId"]
        seen.add(
            (
                "ec2",
                "instance",
                f"{instance_id} (web-1)",
                prefix.format("ec2") + f"instance/{instance_id}",
            )
        )
    async with clients.assumed("secretsmanager", arn, region) as secrets:
        secret = await secrets.create_secret(Name="db-password", SecretString="s3cr3t")
        seen.add(("secretsmanager", "secret", "db-password", secret["ARN"]))
    async with clients.assumed("kms", arn, region) as kms:
        key = (await kms.create_key())["KeyMetadata"]
        await kms.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
        seen.add(("kms", "key", f"{key['KeyId']} (alias/app)", key["Arn"]))
        seen.add(("kms", "alias", "alias/app", prefix.format("kms") + "alias/app"))
    async with clients.assumed("rds", arn, region) as rds:
        db = await rds.create_db_instance(
            DBInstanceIdentifier="ledger",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="admin_user",
            MasterUserPassword="password123",
            AllocatedStorage=20,
        )
        cluster = await rds.create_db_cluster(
            DBClusterIdentifier="reports",
            Engine="aurora-postgresql",
            MasterUsername="admin_user",
            MasterUserPassword="password123",
        )
        seen.add(("rds", "db", "ledger", db["DBInstance"]["DBInstanceArn"]))
        seen.add(("rds", "cluster", "reports", cluster["DBCluster"]["DBClusterArn"]))
    async with clients.assumed("ecr", arn, region) as ecr:
        repo = await ecr.create_repository(repositoryName="api")
        seen.add(("ecr", "repository", "api", repo["repository"]["repositoryArn"]))
    async with clients.assumed("logs", arn, region) as logs:
        await logs.create_log_group(logGroupName="/app/api")
        seen.add(("logs", "log-group", "/app/api", prefix.format("logs") + "log-group:/app/api"))
    async with clients.assumed("ecs", arn, region) as ecs:
        cluster_arn = (await ecs.create_cluster(clusterName="apps"))["cluster"]["clusterArn"]
        await ecs.register_task_definition(
            family="api", containerDefinitions=[{"name": "api", "image": "api", "memory": 128}]
        )
        service = await ecs.create_service(
            cluster="apps", serviceName="api", taskDefinition="api", desiredCount=0
        )
        seen.add(("ecs", "cluster", "apps", cluster_arn))
        seen.add(("ecs", "service", "api", service["service"]["serviceArn"]))
    async with clients.assumed("stepfunctions", arn, region) as sfn:
        machine = await sfn.create_state_machine(
            name="checkout", definition=STATE_MACHINE, roleArn=role_arn
        )
        seen.add(("states", "state-machine", "checkout", machine["stateMachineArn"]))
    return seen, instance["PrivateIpAddress"]


async def seed_buckets(clients: AwsClients, account: str) -> set[Seen]:
    """A bucket in each region: S3 lists them all from any region."""
    seen: set[Seen] = set()
    for region in REGIONS:
        name = f"assets-{account}-{region}"
        async with clients.assumed("s3", role(account), region) as s3:
            await s3.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": region}
            )
        seen.add(("s3", "bucket", name, f"arn:aws:s3:::{name}"))
    return seen


async def seed_queues(
    clients: AwsClients, accounts: tuple[str, ...], regions: tuple[str, ...]
) -> None:
    for account in accounts:
        for region in regions:
            async with clients.assumed("sqs", role(account), region) as sqs:
                await sqs.create_queue(QueueName=f"jobs-{region}")


def found(resources: tuple[Resource, ...], account: str, region: str) -> set[Seen]:
    return {
        (r.service, r.kind, r.name, r.arn)
        for r in resources
        if r.account_id == account and r.region == region
    }


async def test_every_seeded_resource_is_found_with_its_account_region_and_arn(
    clients: AwsClients,
) -> None:
    expected: dict[tuple[str, str], set[Seen]] = {}
    ips: dict[tuple[str, str], str] = {}
    for account in ACCOUNTS:
        expected[(account, "")] = await seed_buckets(clients, account)
        for region in REGIONS:
            expected[(account, region)], ips[(account, region)] = await seed_region(
                clients, account, region
            )
    log = CallLog()
    discovery = ResourceDiscovery(clients, before_call=log)

    result = await discovery.discover(targets(), REGIONS, sorted(DISCOVERERS))

    assert result.failures == ()
    for (account, region), seen in expected.items():
        assert found(result.resources, account, region) == seen, (account, region)
    assert len(result.resources) == sum(len(seen) for seen in expected.values())
    bucket_listings = Counter(c.account_id for c in log.calls if c.operation == "ListBuckets")
    assert bucket_listings == {account: 1 for account in ACCOUNTS}
    web = search(result, ips[(ACCOUNTS[1], REGIONS[1])])
    assert [(r.kind, r.account_id, r.region, r.tags) for r in web] == [
        ("instance", ACCOUNTS[1], REGIONS[1], {"Name": "web-1"})
    ]
    assert web[0].extra["private_ip"] == ips[(ACCOUNTS[1], REGIONS[1])]
    assert web[0].extra["public_ip"]


async def test_empty_accounts_give_no_resources_and_no_failures(clients: AwsClients) -> None:
    discovery = ResourceDiscovery(clients)

    result = await discovery.discover(targets(), REGIONS, sorted(DISCOVERERS))

    assert result.resources == ()
    assert result.failures == ()


async def test_second_call_is_served_from_cache_until_refresh_or_ttl(clients: AwsClients) -> None:
    await seed_queues(clients, ACCOUNTS, REGIONS)
    now = [1000.0]
    log = CallLog()
    discovery = ResourceDiscovery(clients, ttl_seconds=300, clock=lambda: now[0], before_call=log)
    first = await discovery.discover(targets(), REGIONS, ["sqs", "dynamodb"])
    calls = len(log.calls)
    assert calls == len(ACCOUNTS) * len(REGIONS) * 2
    async with clients.assumed("sqs", role(ACCOUNTS[0]), REGIONS[0]) as sqs:
        await sqs.create_queue(QueueName="late")

    now[0] += 299
    cached = await discovery.discover(targets(), REGIONS, ["sqs", "dynamodb"])
    assert len(log.calls) == calls
    assert cached == first

    refreshed = await discovery.discover(targets(), REGIONS, ["sqs"], refresh=True)
    assert len(log.calls) == calls + len(ACCOUNTS) * len(REGIONS)
    assert "late" in {r.name for r in refreshed.resources}

    now[0] += 2
    await discovery.discover(targets(), REGIONS, ["dynamodb"])
    assert len(log.calls) == calls + 2 * len(ACCOUNTS) * len(REGIONS)


async def test_concurrent_callers_share_one_in_flight_call(clients: AwsClients) -> None:
    await seed_queues(clients, ACCOUNTS, REGIONS)
    log = CallLog()
    discovery = ResourceDiscovery(clients, call_delay=0.1, before_call=log)

    results = await asyncio.gather(
        *(discovery.discover(targets(), REGIONS, ["sqs"]) for _ in range(5))
    )

    assert len(log.calls) == len(ACCOUNTS) * len(REGIONS)
    assert all(result == results[0] for result in results)
    assert len(results[0].resources) == len(ACCOUNTS) * len(REGIONS)


async def test_a_failing_region_is_reported_while_the_rest_loads(clients: AwsClients) -> None:
    await seed_queues(clients, ACCOUNTS, REGIONS)
    broken = True

    async def deny_dynamodb_in_eu_west_2(call: ApiCall) -> None:
        if broken and call.region == "eu-west-2" and call.service == "dynamodb":
            error = {"Error": {"Code": "AccessDenied", "Message": "not allowed"}}
            raise ClientError(error, call.operation)

    discovery = ResourceDiscovery(clients, before_call=deny_dynamodb_in_eu_west_2)
    async with clients.assumed("dynamodb", role(ACCOUNTS[0]), "eu-west-2") as dynamodb:
        await dynamodb.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

    result = await discovery.discover(targets(), REGIONS, ["sqs", "dynamodb"])

    assert set(result.failures) == {
        DiscoveryFailure(
            account, "eu-west-2", "dynamodb", "eu-west-2: AccessDenied on dynamodb:ListTables"
        )
        for account in ACCOUNTS
    }
    assert {(r.account_id, r.region) for r in result.resources if r.service == "sqs"} == {
        (account, region) for account in ACCOUNTS for region in REGIONS
    }

    broken = False
    retried = await discovery.discover(targets(), REGIONS, ["dynamodb"])
    assert retried.failures == ()
    assert [(r.account_id, r.region, r.name) for r in retried.resources] == [
        (ACCOUNTS[0], "eu-west-2", "orders")
    ]


class DeniedRole:
    """AwsClients whose AssumeRole into one role fails, as when its trust policy is wrong."""

    def __init__(self, clients: AwsClients, denied: str) -> None:
        self.clients = clients
        self.denied = denied

    async def with_assumed_shared(
        self, service: str, role_arn: str, work: Any, region: str | None = None
    ) -> Any:
        if role_arn == self.denied:
            raise AssumeRoleError(role_arn, "AccessDenied", "not trusted")
        return await self.clients.with_assumed_shared(service, role_arn, work, region)


async def test_an_account_that_cannot_be_assumed_is_reported_per_unit(
    clients: AwsClients,
) -> None:
    await seed_queues(clients, ACCOUNTS, REGIONS)
    denied = role(ACCOUNTS[1])
    discovery = ResourceDiscovery(DeniedRole(clients, denied))

    result = await discovery.discover(targets(), REGIONS, ["sqs", "s3"])

    assert {(f.account_id, f.region, f.service, f.message) for f in result.failures} == {
        (ACCOUNTS[1], "", "s3", f"global: AccessDenied assuming {denied}"),
        *(
            (ACCOUNTS[1], region, "sqs", f"{region}: AccessDenied assuming {denied}")
            for region in REGIONS
        ),
    }
    assert {(r.account_id, r.region) for r in result.resources} == {
        (ACCOUNTS[0], region) for region in REGIONS
    }


async def test_unknown_service_is_a_failure_not_an_exception(clients: AwsClients) -> None:
    discovery = ResourceDiscovery(clients)

    result = await discovery.discover(targets(ACCOUNTS[:1]), REGIONS[:1], ["sqs", "quantum"])

    assert result.failures == (
        DiscoveryFailure(ACCOUNTS[0], "eu-west-1", "quantum", "no discovery for quantum"),
    )


async def test_units_still_loading_after_wait_seconds_are_failures_then_cached(
    clients: AwsClients,
) -> None:
    await seed_queues(clients, ACCOUNTS, REGIONS)
    log = CallLog()
    discovery = ResourceDiscovery(clients, call_delay=1.0, before_call=log)

    hurried = await discovery.discover(targets(), REGIONS, ["sqs"], wait_seconds=0.05)
    assert hurried.resources == ()
    assert {f.message for f in hurried.failures} == {
        f"{region}: sqs still loading after 0.05 s" for region in REGIONS
    }

    patient = await discovery.discover(targets(), REGIONS, ["sqs"])
    assert patient.failures == ()
    assert len(patient.resources) == len(ACCOUNTS) * len(REGIONS)
    assert len(log.calls) == len(ACCOUNTS) * len(REGIONS)


async def test_many_accounts_and_regions_take_about_one_call_not_the_sum(
    clients: AwsClients,
) -> None:
    """10 accounts x 4 regions x 2 services with 0.2 s injected latency per AWS call.

    The clients are opened by a first discovery: a new aiobotocore client spends ~25 ms of CPU
    loading the CA bundle on its first call, a start-up cost this test does not measure.
    """
    accounts = tuple(f"{n:012d}" for n in range(300000000001, 300000000011))
    regions = ("eu-west-1", "eu-west-2", "us-east-1", "us-west-2")
    await ResourceDiscovery(clients).discover(targets(accounts), regions, ["sqs", "dynamodb"])
    delay = 0.2
    log = CallLog()
    discovery = ResourceDiscovery(clients, call_delay=delay, before_call=log)

    started = time.perf_counter()
    result = await discovery.discover(targets(accounts), regions, ["sqs", "dynamodb"])
    elapsed = time.perf_counter() - started

    assert result.failures == ()
    assert len(log.calls) == len(accounts) * len(regions) * 2
    ratio = elapsed / (len(log.calls) * delay)
    print(f"\n{len(log.calls)} calls x {delay} s: {elapsed:.2f} s elapsed, ratio {ratio:.3f}")
    assert ratio < 0.3


def resource(name: str, *, kind: str = "table", **tags: str) -> Resource:
    return Resource(
        "111111111111",
        "eu-west-1",
        "dynamodb",
        kind,
        name,
        f"arn:aws:dynamodb:eu-west-1:111111111111:table/{name}",
        tags=tags,
    )


def test_search_ranks_exact_then_prefix_then_contains_case_insensitively() -> None:
    resources = [
        resource("legacy-orders"),
        resource("Orders-archive"),
        resource("payments"),
        resource("ORDERS"),
        resource("orders-2024"),
    ]

    assert [r.name for r in search(resources, "orders")] == [
        "ORDERS",
        "orders-2024",
        "Orders-archive",
        "legacy-orders",
    ]
    assert [r.name for r in search(resources, "  Orders ", limit=2)] == ["ORDERS", "orders-2024"]
    assert search(resources, "invoices") == []


def test_search_matches_tags_and_arns_after_names_of_the_same_tier() -> None:
    tagged = resource("i-0abc", kind="instance", Name="checkout", team="payments")
    named = resource("checkout-web")
    resources = [named, tagged, resource("other")]

    assert search(resources, "checkout") == [tagged, named]
    assert search(resources, "PAYMENTS") == [tagged]
    assert search(resources, "table/other") == [resources[2]]
    assert search(resources, "") == sorted(resources, key=lambda r: r.name)
