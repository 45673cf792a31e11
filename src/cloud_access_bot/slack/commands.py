"""``/request`` subcommands: list, revoke <id>, find <query>, preset [name].

``subcommands(deps)`` is the map ``build_app`` dispatches ``/request <name>`` to (help and
unknown text are answered by slack/app.py). ``register_commands(app, deps)`` adds the listeners
their answers need: the "Request access" button of a ``find`` result and the preset form, both
of which open the request modal pre-filled.

``find`` searches every account the person may see (config ``find_visibility``) and its regions
at once (resource discovery, cached) for an EC2 instance id or IP address, or a bucket, table,
function, queue or topic name.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.webhook.async_client import AsyncWebhookClient

from cloud_access_bot.config import BotConfig, FindVisibility
from cloud_access_bot.domain.approval import Outcome
from cloud_access_bot.domain.model import REQUEST_ID, Status
from cloud_access_bot.domain.presets import preset_defaults
from cloud_access_bot.domain.resources import DiscoveryFailure, Resource, search
from cloud_access_bot.slack import views
from cloud_access_bot.slack.app import Subcommand
from cloud_access_bot.slack.home import HOME_PRESET, Deps, summary, time_left
from cloud_access_bot.slack.views import ModalState, escape, plain, truncate

log = logging.getLogger(__name__)

#: Services ``find`` searches (IAM prefixes known to resource discovery).
FIND_SERVICES = ("ec2", "s3", "dynamodb", "lambda", "sqs", "sns")
#: Discovery time allowed to ``find``: it answers through the response_url, not the ack.
FIND_WAIT_S = 20.0
MAX_MATCHES = 10
#: Own requests ``find`` looks at for accounts the person was granted access in.
MAX_OWN_REQUESTS = 50
MAX_LISTED = 25

FIND_REQUEST_ACTION = "find_request_access"
PRESET_CALLBACK = "preset_pick"
PRESET_ACTION = "preset_choice"
PRESET_ACCOUNT_ACTION = "preset_account"


@dataclass(frozen=True)
class Found:
    account_name: str
    resource: Resource


# -- pure parts ------------------------------------------------------------------------------


def _instance_id(resource: Resource) -> str:
    return resource.name.split(" ", 1)[0]


def exact_matches(resources: Sequence[Resource], query: str) -> list[Resource]:
    """Resources ``query`` names exactly: instance id, private or public IP, name or ARN."""
    needle = query.strip().casefold()
    found = []
    for resource in resources:
        keys = {resource.name.casefold(), resource.arn.casefold()}
        if resource.kind == "instance":
            keys.add(_instance_id(resource).casefold())
            keys.update(
                resource.extra.get(k, "")
                for k in ("private_ip", "public_ip")
                if k in resource.extra
            )
        if needle in keys:
            found.append(resource)
    return found


def find_matches(resources: Sequence[Resource], query: str) -> list[Resource]:
    """Exact matches if any, else resources whose name, ARN, tags or details contain ``query``."""
    return exact_matches(resources, query) or search(resources, query, limit=MAX_MATCHES)


def _where(found: Found, config: BotConfig) -> str:
    resource = found.resource
    region = resource.region or resource.extra.get("bucket_region") or "global"
    account = config.accounts[found.account_name]
    alias = f" ({escape(account.account_alias)})" if account.account_alias else ""
    ips = ", ".join(
        f"{label} {resource.extra[key]}"
        for key, label in (("private_ip", "private IP"), ("public_ip", "public IP"))
        if key in resource.extra
    )
    return (
        f"*{escape(resource.name)}* ({resource.kind})\n"
        f"account *{escape(found.account_name)}*{alias} {account.account_number}, "
        f"region {region}{' · ' + ips if ips else ''}\n`{escape(resource.arn)}`"
    )


def find_message(
    query: str, found: Sequence[Found], failures: Sequence[DiscoveryFailure], config: BotConfig
) -> dict[str, Any]:
    """The answer to ``/request find``: where each match lives, with a "Request access" button."""
    blocks: list[dict[str, Any]] = []
    for index, item in enumerate(found[:MAX_MATCHES]):
        value = json.dumps(
            {
                "account": item.account_name,
                "service": item.resource.service,
                "arn": item.resource.arn,
            }
        )
        blocks.append(
            {
                "type": "section",
                "block_id": f"find.{index}",
                "text": {"type": "mrkdwn", "text": truncate(_where(item, config), 3000)},
                "accessory": {
                    "type": "button",
                    "action_id": FIND_REQUEST_ACTION,
                    "text": plain("Request access"),
                    "value": value[:2000],
                },
            }
        )
    shown = escape(truncate(query, 100))
    head = f"No resource matches `{shown}`." if not found else f"Found `{shown}`:"
    if len(found) > MAX_MATCHES:
        head = f"{len(found)} resources match `{shown}`; the first {MAX_MATCHES}:"
    notes = [f"{f.message} (account {f.account_id})" for f in failures[:5]]
    if notes:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": truncate("Not searched: " + "; ".join(notes), 3000),
                    }
                ],
            }
        )
    text = head + "".join(f"\n• {_where(f, config)}" for f in found[:MAX_MATCHES])
    return {
        "text": truncate(text, 3000),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": head}}, *blocks],
    }


def preset_modal(config: BotConfig, chosen: str | None = None) -> dict[str, Any]:
    """Step one of a preset request: which preset, in which account."""
    presets = config.presets
    preset_select: dict[str, Any] = {
        "type": "static_select",
        "action_id": PRESET_ACTION,
        "options": [views.option(name, name) for name in presets][:100],
    }
    if chosen in presets:
        preset_select["initial_option"] = views.option(chosen, chosen)
    descriptions = "\n".join(
        f"• *{escape(name)}*: {escape(p.description or ', '.join(p.actions))}"
        for name, p in presets.items()
    )
    return {
        "type": "modal",
        "callback_id": PRESET_CALLBACK,
        "title": plain("Request from a preset"),
        "submit": plain("Next"),
        "close": plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": "preset",
                "label": plain("Preset"),
                "element": preset_select,
            },
            {
                "type": "input",
                "block_id": "preset_account",
                "label": plain("AWS account"),
                "element": {
                    "type": "external_select",
                    "action_id": PRESET_ACCOUNT_ACTION,
                    "min_query_length": 0,
                },
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": truncate(descriptions, 3000)}],
            },
        ],
    }


def _selected(view: dict[str, Any], block: str, action: str) -> str:
    values = view.get("state", {}).get("values", {})
    option = (values.get(block, {}).get(action) or {}).get("selected_option") or {}
    return str(option.get("value") or "")


# -- subcommands -----------------------------------------------------------------------------


def subcommands(deps: Deps) -> dict[str, Subcommand]:
    """``/request <name>`` handlers for ``build_app(subcommands=…)``."""

    async def list_requests(user_id: str, args: list[str], body: dict[str, Any]) -> str:
        mine = await deps.store.for_user(user_id, limit=50)
        if not mine:
            return "You have no access requests yet."
        now = deps.clock()
        lines = [
            f"{views.STATUS_EMOJI[r.status]} `{r.id}` *{escape(r.account_name)}* · "
            f"{summary(r)} · {time_left(r, now)}\n{views.quoted(r.reason, 200)}"
            for r in mine[:MAX_LISTED]
        ]
        more = f"\n…and {len(mine) - MAX_LISTED} older." if len(mine) > MAX_LISTED else ""
        return "*Your access requests*, newest first:\n" + "\n".join(lines) + more

    async def revoke(user_id: str, args: list[str], body: dict[str, Any]) -> str:
        request_id = args[0].strip("`") if args else ""
        if not REQUEST_ID.match(request_id):
            return "Usage: `revoke <request id>` (the ids are in `list`)."
        decision = await deps.service.revoke(request_id, user_id)
        if decision.outcome is Outcome.REFUSE:
            return f"Not revoked: {decision.reason}"
        request = await deps.store.get(request_id)
        if request is None or request.status is not Status.REVOKED:
            status = request.status.value.lower() if request else "gone"
            return f"`{request_id}` had already ended ({status})."
        if views.is_session_grant(request):
            return f"Revoked `{request_id}`. {views.session_revoked_text(request)}"
        return f"Revoked `{request_id}`: its access in {escape(request.account_name)} is removed."

    async def find(user_id: str, args: list[str], body: dict[str, Any]) -> str:
        query = " ".join(args).strip()
        if not query:
            return (
                "Usage: `find <instance id, IP address, bucket, table, function, queue or topic>`"
            )
        return await find_answer(deps, user_id, query, str(body.get("response_url") or ""))

    async def preset(user_id: str, args: list[str], body: dict[str, Any]) -> str:
        config = deps.config()
        if not config.presets:
            return "No presets are configured."
        chosen = args[0] if args else None
        view = preset_modal(config, chosen)
        await deps.client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)
        return "Pick the preset and the account in the form I opened."

    return {"list": list_requests, "revoke": revoke, "find": find, "preset": preset}


NOTHING_TO_FIND = (
    "`find` searches the accounts you approve for or have been granted access in, and there "
    "are none yet. Request access with `/request`: the form lists each account's resources."
)
SEARCHED_ONLY = "Only the accounts you approve for or have been granted access in are searched."


async def searchable_accounts(deps: Deps, user_id: str) -> list[str]:
    """The accounts ``find`` searches for ``user_id`` (config ``find_visibility``).

    ``restricted``: the accounts whose approval groups the person is in, or where one of their
    recent requests was approved; every account for members of ``admin_groups``. The bot does
    not limit who may ask for an account, so having been granted access there is what "may
    request" means here. Accounts are matched by number, so a renamed account stays visible.
    """
    config = deps.config()
    names = list(config.accounts)
    if config.find_visibility is FindVisibility.PUBLIC:
        return names
    if config.admin_groups and user_id in await deps.directory.members_of(config.admin_groups):
        return names
    mine = await deps.store.for_user(user_id, limit=MAX_OWN_REQUESTS)
    granted = {r.account_id for r in mine if r.starts_at is not None}
    groups = {name: config.approver_specs_for(name) for name in names}
    members = {g: await deps.directory.resolve(g) for g in set(groups.values())}
    return [
        name
        for name in names
        if config.accounts[name].account_number in granted or user_id in members[groups[name]]
    ]


async def find_answer(deps: Deps, user_id: str, query: str, response_url: str) -> str:
    """Search for ``query`` where ``user_id`` may look; post the results to ``response_url``
    (they carry buttons) and answer with a summary line, or answer with everything."""
    started = time.monotonic()
    accounts = await searchable_accounts(deps, user_id)
    config = deps.config()
    if not accounts:
        return NOTHING_TO_FIND
    found, failures, searched = await find_everywhere(deps, query, accounts)
    message = find_message(query, found, failures, config)
    took = f"Searched {searched} account(s) in {time.monotonic() - started:.1f} s."
    if searched < len(config.accounts):
        took += f" {SEARCHED_ONLY}"
    if not found or not response_url:
        return f"{message['text']}\n{took}"
    answer = await AsyncWebhookClient(response_url).send(**message, response_type="ephemeral")
    if answer.status_code != 200:
        return f"{message['text']}\n{took}"
    return took


async def find_everywhere(
    deps: Deps, query: str, accounts: Collection[str]
) -> tuple[list[Found], list[DiscoveryFailure], int]:
    """Matches of ``query`` in the named accounts and their regions, the units that failed,
    and how many accounts were searched."""
    config = deps.config()
    names_by_id = {a.account_number: name for name, a in config.accounts.items()}
    chosen = {name: a for name, a in config.accounts.items() if name in accounts}
    by_regions: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for name, account in chosen.items():
        key = tuple(config.regions_for(name))
        by_regions.setdefault(key, []).append((account.account_number, account.iam_role))
    results = await asyncio.gather(
        *(
            deps.discovery.discover(accounts, regions, FIND_SERVICES, wait_seconds=FIND_WAIT_S)
            for regions, accounts in by_regions.items()
        )
    )
    resources = [r for result in results for r in result.resources]
    failures = [f for result in results for f in result.failures]
    found = [Found(names_by_id[r.account_id], r) for r in find_matches(resources, query)]
    return found, failures, len(chosen)


# -- listeners -------------------------------------------------------------------------------


def register_commands(app: AsyncApp, deps: Deps) -> None:
    """The listeners behind the subcommands' answers: "Request access" and the preset form."""

    @app.action(FIND_REQUEST_ACTION)
    async def on_request_access(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        try:
            chosen = json.loads(str((body.get("actions") or [{}])[0].get("value") or "{}"))
        except ValueError:
            chosen = {}
        config = deps.config()
        account, service, arn = (str(chosen.get(k) or "") for k in ("account", "service", "arn"))
        if account not in config.accounts:
            view = views.request_modal(config, ModalState())
        else:
            state = ModalState(account, service or None)
            view = views.prefilled_modal(
                config, state, arns=[arn] if arn.startswith("arn:") else []
            )
        async with deps.inflight.track():
            await deps.client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)

    @app.action(HOME_PRESET)
    async def on_home_preset(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        async with deps.inflight.track():
            await deps.client.views_open(
                trigger_id=str(body.get("trigger_id", "")), view=preset_modal(deps.config())
            )

    @app.view(PRESET_CALLBACK)
    async def on_preset_submit(ack: Any, view: dict[str, Any]) -> None:
        config = deps.config()
        name = _selected(view, "preset", PRESET_ACTION)
        account = _selected(view, "preset_account", PRESET_ACCOUNT_ACTION)
        if name not in config.presets:
            await ack(response_action="errors", errors={"preset": "Pick a preset."})
            return
        if account not in config.accounts:
            await ack(response_action="errors", errors={"preset_account": "Pick an account."})
            return
        try:
            defaults = preset_defaults(name, config.presets[name].actions, deps.catalog)
        except ValueError as problem:
            await ack(response_action="errors", errors={"preset": str(problem)})
            return
        state = ModalState(account, defaults.service)
        updated = views.prefilled_modal(
            config, state, actions=defaults.actions, note=views.preset_note(defaults)
        )
        await ack(response_action="update", view=updated)
