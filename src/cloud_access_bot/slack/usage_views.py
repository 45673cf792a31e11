"""Block Kit for what a grant was used for: the "What was used" modal, the usage review DM,
and the request modal pre-filled with only the actions a grant used (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.activity import RightSizing
from cloud_access_bot.domain.model import AccessRequest
from cloud_access_bot.slack import views
from cloud_access_bot.slack.views import ModalState, ServiceChoice, escape, plain, truncate

USAGE_CALLBACK = "what_was_used"
#: Characters of the escaped answer per section (Slack: 3,000 per text, with the fences).
PAGE = 2_900
#: Sections of the answer at most (a modal holds 100 blocks): about 29,000 characters.
MAX_PAGES = 10


def _pages(text: str) -> list[str]:
    """``text`` escaped, in code-block pages cut at line ends (a line longer than a page is
    cut), each within Slack's 3,000 characters."""
    pages: list[str] = []
    page = ""
    for line in (escape(raw)[:PAGE] for raw in text.splitlines()):
        if page and len(page) + len(line) + 1 > PAGE:
            pages.append(page)
            page = ""
        page += line + "\n"
    pages.append(page)
    return [f"```\n{p.rstrip()}\n```" for p in pages if p.strip()]


def usage_modal(
    request: AccessRequest, text: str | None = None, *, problem: str | None = None
) -> dict[str, Any]:
    """The answer of ``audit activity`` for one grant; None text: still reading CloudTrail."""
    intro = (
        f"Request `{request.id}` in {escape(request.account_name)} ({request.account_id}): "
        "the CloudTrail events of the grant's session in its window, by action."
    )
    blocks: list[dict[str, Any]] = [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": intro}]}
    ]
    if problem is not None:
        body = f":warning: {escape(problem)}\nNothing was changed; try again in a minute."
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": truncate(body, 3000)}})
    elif text is None:
        blocks.append({"type": "section", "text": plain("Reading CloudTrail…")})
    else:
        pages = _pages(text)
        for page in pages[:MAX_PAGES]:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": page}})
        if len(pages) > MAX_PAGES:
            rest = f"… cut to fit Slack: run `cloud-access-bot audit activity {request.id}`"
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": rest}]})
    return {
        "type": "modal",
        "callback_id": USAGE_CALLBACK,
        "title": plain("What was used"),
        "close": plain("Close"),
        "private_metadata": request.id,
        "blocks": blocks,
    }


def usage_review_message(request: AccessRequest, review: RightSizing) -> dict[str, Any]:
    """The requester's DM once their ended grant's use is known, with the smaller set to ask
    for next time (no button when nothing was used)."""
    head = (
        f":bar_chart: Your access to *{escape(request.account_name)}* (request `{request.id}`) "
        f"{escape(review.summary)}."
    )
    if not review.smaller:
        head += "\nNothing was used: next time, ask only when you need it."
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": truncate(head, 3000)}}
    ]
    if review.smaller:
        used = f"Used: {', '.join(review.smaller)}"
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": truncate(escape(used), 3000)}],
            }
        )
        button = (views.SMALLER_SET_ACTION, "Request the same smaller set", None)
        blocks.append(views._buttons(request.id, [button]))
    return {"text": f"Request {request.id} {review.summary}", "blocks": blocks}


def smaller_set_modal(
    config: BotConfig, request: AccessRequest, used: Sequence[str]
) -> dict[str, Any]:
    """The request modal for the same account, role and services, with only ``used`` actions
    picked and the same ARNs typed in (a preset from history)."""
    choices = []
    for service in request.services:
        actions = tuple(a for a in used if a.split(":", 1)[0] == service.service)
        if actions:
            arns = tuple(r for r in service.resources if r != "*")
            choices.append(ServiceChoice(service.service, actions, arns=arns))
    if not choices:
        raise ValueError(f"request {request.id} used none of its services' actions")
    current = choices[-1]
    state = ModalState(
        account=request.account_name, service=current.service, added=tuple(choices[:-1])
    )
    note = (
        f"Same as request `{request.id}`, with only the actions it used: "
        f"{escape(', '.join(used))}. Give a reason and a duration."
    )
    view = views.prefilled_modal(
        config, state, actions=current.actions, arns=current.arns, note=note
    )
    for block in view["blocks"]:
        element = block.get("element", {})
        if element.get("action_id") == views.LOGIN_ROLE_ACTION:
            chosen = [o for o in element.get("options", []) if o["value"] == request.login_role]
            if chosen:
                element["initial_option"] = chosen[0]
    return view
