"""Use case: one request over several accounts (issue 18, item 4).

A request over N accounts is stored as N ordinary requests, one per account, each with its own
id, audit chain, grant, expiry, revocation and extension, linked by the ids of all of them
(``AccessRequest.batch``; the first id is the batch's). The service's own use cases act on each
one exactly as on a request in one account; this module adds what spans them:

- one submission stores them all, under the strictest rule of their accounts
  (``domain.batch.strictest``: most approvals, a ticket if any account asks for one,
  auto-approval only when every account would auto-approve; the shortest maximum duration is
  each account's own duration check, which every request passes);
- one approval card lists every account and its status; its Approve approves each request
  the clicker may approve — judged per request exactly as today (the account's approvers
  now, N-of-M counts, self-approval) and writes its grant, the accounts at once, at most
  ``grant_concurrency`` at a time. One account failing to grant leaves the others granted and
  is told to the requester and the approvers.

Who may approve a batch: each account's own approvers, for that account only. A click by
someone who approves some of the accounts approves those and leaves the others waiting for
their own approvers (never "approver of one, so approver of all"). The card goes to the union
of the accounts' approvers, so everyone who has to decide sees it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

from cloud_access_bot.config import BotConfig, SelfApproval
from cloud_access_bot.domain import batch
from cloud_access_bot.domain.model import AccessRequest, Status, utcnow
from cloud_access_bot.ports import Audience, BatchNotifier, Store
from cloud_access_bot.service import AccessService, Draft, Prepared, too_few

log = logging.getLogger(__name__)

#: Grants (and approvals) a batch writes at once: each mostly waits on AWS round trips in its
#: own account (its own login role, so no two wait on one role's lock), so a batch of the
#: default size (``max_accounts_per_request``: 20) is written all at once; a larger batch
#: takes turns, which keeps the event loop and each API's rate in bounds.
GRANT_CONCURRENCY = 20

#: Set while a batch operation changes several of its requests: the card is refreshed once at
#: the end instead of after every change (tasks started meanwhile inherit it).
_card_deferred: ContextVar[bool] = ContextVar("batch_card_deferred", default=False)


@dataclass(frozen=True)
class BatchResult:
    requests: tuple[AccessRequest, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)


class BatchService:
    def __init__(
        self,
        *,
        service: AccessService,
        store: Store,
        notifier: BatchNotifier,
        config: Callable[[], BotConfig],
        clock: Callable[[], datetime] = utcnow,
        grant_concurrency: int = GRANT_CONCURRENCY,
    ) -> None:
        self._service = service
        self._store = store
        self._notifier = notifier
        self._config = config
        self._clock = clock
        self._gate = grant_concurrency
        service.on_batch_change = self._changed

    # -- submit ---------------------------------------------------------------------------

    def validate(self, drafts: Sequence[Draft]) -> dict[str, str]:
        """Problems with the drafts of one submission (one per account), keyed by field; a
        problem of some accounts only names them."""
        config = self._config()
        accounts = [d.account_name for d in drafts]
        modes = {name: account.access_mode for name, account in config.accounts.items()}
        problem = batch.accounts_problem(accounts, modes, config.max_accounts_per_request)
        if problem:
            return {"also_accounts": problem}
        return _merged(accounts, [self._service.validate(d) for d in drafts])

    async def submit(self, drafts: Sequence[Draft]) -> BatchResult:
        """Store one request per account under the strictest rule, then announce them on one
        card (or auto-approve and grant them all when every account would auto-approve)."""
        errors = self.validate(drafts)
        if errors:
            return BatchResult(errors=errors)
        prepared = await asyncio.gather(*(self._service.prepare(d) for d in drafts))
        problems = _merged([d.account_name for d in drafts], [p.errors for p in prepared])
        if problems:
            return BatchResult(errors=problems)
        rule = batch.strictest([self._terms(p) for p in prepared])
        if not rule.auto_approves and (unposted := await self._unposted(drafts, prepared)):
            return BatchResult(errors=unposted)
        if short := self._too_few(drafts, prepared, rule):
            return BatchResult(errors=short)
        linked = self._linked(prepared, rule)
        stored: list[AccessRequest] = []
        created = False
        for request, ready in zip(linked, prepared, strict=True):
            # One by one: a delivery that stopped partway (a crash) left the first ones
            # stored; the same submission delivered again stores the rest.
            saved, created = await self._service.store_new(request, fell_back=ready.fell_back)
            if saved is None:
                return BatchResult()
            stored.append(saved)
        if not created:
            # Its last request was stored by an earlier delivery, which announced the batch
            # (or approved it): only the delivery storing the last request goes on, so one
            # card is posted however often the submission arrives.
            return BatchResult(requests=tuple(stored))
        if rule.auto_approves:
            async with _one_card_refresh(self, stored[0].batch):
                # Every account's own auto-approval (that is what rule.auto_approves says).
                await self._bounded(
                    self._service.auto_approve(request, ready.auto)
                    for request, ready in zip(stored, prepared, strict=True)
                    if ready.auto is not None
                )
            for request in stored:
                await self._service.announce_to_requester(request.id)
            return BatchResult(requests=tuple(stored))
        audiences = [await self._service.audience(request) for request in stored]
        audience = combined(audiences, [a for r in stored for a in r.approvers])
        messages, mine = await self._notifier.announce_batch(stored, audience)
        for request, own in zip(stored, mine, strict=True):
            await self._store.set_messages(request.id, messages, own)
        # Someone may have decided before the messages were stored: show what is stored now.
        await self.refresh_card(stored[0].batch)
        return BatchResult(requests=tuple(stored))

    async def _unposted(
        self, drafts: Sequence[Draft], prepared: Sequence[Prepared]
    ) -> dict[str, str]:
        """The approval channel problems of the accounts that would have auto-approved alone
        (``prepare`` did not check theirs): the batch asks a person for all of them."""
        names = [d.account_name for d, p in zip(drafts, prepared, strict=True) if p.auto]
        found = [await self._service.approval_channel_problem(name) for name in names]
        return _merged(names, [{"account": p} if p else {} for p in found])

    def _too_few(
        self, drafts: Sequence[Draft], prepared: Sequence[Prepared], rule: batch.Strictest
    ) -> dict[str, str]:
        """The accounts whose approvers are fewer people than the approvals the strictest
        rule asks of every request (each is decided by its own account's approvers): such a
        batch could never be approved (unless the requester may break glass)."""
        if rule.auto_approves or self._config().self_approval is not SelfApproval.DENY:
            return {}
        config = self._config()
        found = [
            {
                "account": too_few(
                    d.account_name,
                    config.rules_for(d.account_name).limits.fallback_approvers,
                    rule.approvals_required,
                    p.people,
                )
            }
            if p.people < rule.approvals_required
            else {}
            for d, p in zip(drafts, prepared, strict=True)
        ]
        return _merged([d.account_name for d in drafts], found)

    def _terms(self, prepared: Prepared) -> batch.Terms:
        request = prepared.request
        assert request is not None
        account = self._config().accounts[request.account_name]
        return batch.Terms(
            approvals_required=request.approvals_required,
            ticket_required=account.ticket_pattern is not None,
            auto_approves=prepared.auto is not None,
        )

    @staticmethod
    def _linked(prepared: Sequence[Prepared], rule: batch.Strictest) -> list[AccessRequest]:
        """The requests, linked and under the strictest rule (every one needs as many
        approvals as the strictest account; the ticket, if any account asks for one)."""
        requests = [p.request for p in prepared if p.request is not None]
        ids = tuple(r.id for r in requests)
        tickets = [r.ticket for r in requests if r.ticket]
        ticket = tickets[0] if rule.ticket_required and tickets else None
        return [
            r.with_changes(
                batch=ids,
                approvals_required=rule.approvals_required,
                ticket=ticket if ticket is not None else r.ticket,
            )
            for r in requests
        ]

    # -- decisions ------------------------------------------------------------------------

    async def approve(self, batch_id: str, clicker: str) -> None:
        """The card's Approve: approve every waiting request of the batch in an account the
        clicker approves, then write the grants of those approved, concurrently."""
        requests, waiting, mine = await self._to_decide(batch_id, clicker)
        if not mine:
            return
        async with _one_card_refresh(self, requests[0].batch) as now:
            # Each account's approval and then its grant, the accounts concurrently.
            await self._bounded(self._service.approve_loaded(r, clicker) for r in mine)
        after = [r for r in now if r.id in {m.id for m in mine}]
        await self._report(requests, after, clicker, others=[r for r in waiting if r not in mine])

    async def deny(self, batch_id: str, clicker: str, reason: str) -> None:
        """The card's Deny: deny every waiting request in an account the clicker approves."""
        requests, _, mine = await self._to_decide(batch_id, clicker)
        if not mine:
            return
        async with _one_card_refresh(self, requests[0].batch):
            await self._bounded(self._service.deny(r.id, clicker, reason) for r in mine)

    async def _to_decide(
        self, batch_id: str, clicker: str
    ) -> tuple[list[AccessRequest], list[AccessRequest], list[AccessRequest]]:
        """The batch's requests, those waiting, and those of them the clicker approves now;
        the clicker is told when there is nothing for them to decide (none are theirs)."""
        requests = await self._load(batch_id, clicker)
        waiting = [r for r in requests if r.status is Status.PENDING]
        flags = await asyncio.gather(*(self._service.may_approve(r, clicker) for r in waiting))
        mine = [r for r, ok in zip(waiting, flags, strict=True) if ok]
        if requests and not mine:
            await self._notifier.tell(clicker, _nothing_to_approve(requests, waiting))
        return requests, waiting, mine

    async def _bounded(self, works: Iterable[Awaitable[object]]) -> None:
        """Run ``works`` concurrently, at most ``grant_concurrency`` at a time, each to its
        end: one that raises (DynamoDB throttling one account's write, say) is logged and the
        others go on, so the card and the summary afterwards show every account as stored."""
        gate = asyncio.Semaphore(self._gate)

        async def run(work: Awaitable[object]) -> None:
            async with gate:
                await work

        for result in await asyncio.gather(*(run(w) for w in works), return_exceptions=True):
            if isinstance(result, Exception):
                log.error("one account of a batch failed: %s", result, exc_info=result)
            elif isinstance(result, BaseException):
                raise result

    async def _report(
        self,
        requests: Sequence[AccessRequest],
        after: Sequence[AccessRequest],
        clicker: str,
        *,
        others: Sequence[AccessRequest],
    ) -> None:
        """Tell the clicker and the requester what the click did in each account; a failed
        grant is also told to every approver of the batch."""
        lead = requests[0]
        lines = [f"Request `{lead.batch_id}` over {len(requests)} accounts:"]
        lines += [f"• {r.account_name}: {_outcome(r)}" for r in after]
        lines += [
            f"• {r.account_name}: waiting for an approver of {r.account_name}" for r in others
        ]
        text = "\n".join(lines)
        told = [clicker, lead.requester_id]
        if any(r.status is Status.FAILED for r in after):
            told += [a for r in requests for a in r.approvers]
        for person in dict.fromkeys(told):
            await self._notifier.tell(person, text)

    # -- the card -------------------------------------------------------------------------

    async def refresh_card(self, ids: Sequence[str]) -> list[AccessRequest]:
        """Show every request of the batch on its card as stored now; returns them."""
        requests = await self._store.get_many(ids)
        if requests and requests[0].id == ids[0]:
            await self._notifier.refresh_batch(requests)
        return requests

    async def _changed(self, request: AccessRequest) -> None:
        if not _card_deferred.get():
            await self.refresh_card(request.batch)

    async def _load(self, batch_id: str, clicker: str) -> list[AccessRequest]:
        """The batch's requests, from the stored first request's list of ids (never from
        the payload): a forged id of another request is not pulled into the batch."""
        lead = await self._store.get(batch_id) if batch_id else None
        if lead is None or lead.batch_id != lead.id:
            await self._notifier.tell(
                clicker, "That request does not exist (the button may have been tampered with)."
            )
            return []
        found = await self._store.get_many(lead.batch[1:])
        return [lead, *(r for r in found if r.batch == lead.batch)]


@asynccontextmanager
async def _one_card_refresh(
    batch_service: BatchService, ids: Sequence[str]
) -> AsyncIterator[list[AccessRequest]]:
    """Changes made inside refresh the batch's card once, at the end; the list yielded then
    holds the batch's requests as the card shows them."""
    token = _card_deferred.set(True)
    shown: list[AccessRequest] = []
    try:
        yield shown
    finally:
        _card_deferred.reset(token)
        shown.extend(await batch_service.refresh_card(ids))


def combined(audiences: Sequence[Audience], approvers: Collection[str]) -> Audience:
    """Where a batch's one card goes: every account's approval channel, by DM when any
    account asks for DMs (or has no channel), and a copy to everyone notified of any account
    who approves none of them (and to no approval channel)."""
    approval = list(dict.fromkeys(a.channel for a in audiences if a.channel))
    notified_channels = dict.fromkeys(c for a in audiences for c in a.notified_channels)
    return Audience(
        dms=any(a.dms or not a.channel for a in audiences),
        channel=approval[0] if approval else None,
        notified=tuple(
            dict.fromkeys(p for a in audiences for p in a.notified if p not in approvers)
        ),
        notified_channels=tuple(c for c in notified_channels if c not in approval),
        channels=tuple(approval[1:]),
    )


def _merged(accounts: Sequence[str], problems: Sequence[dict[str, str]]) -> dict[str, str]:
    """One message per field: a problem every account has once, else naming its accounts."""
    by_field: dict[str, dict[str, list[str]]] = {}
    for account, found in zip(accounts, problems, strict=True):
        for key, message in found.items():
            by_field.setdefault(key, {}).setdefault(message, []).append(account)
    merged: dict[str, str] = {}
    for key, messages in by_field.items():
        parts = [
            message if len(names) == len(accounts) else f"{', '.join(names)}: {message}"
            for message, names in messages.items()
        ]
        merged[key] = " ".join(parts)[:1900]
    return merged


def _outcome(request: AccessRequest) -> str:
    if request.status is Status.ACTIVE:
        return "access granted"
    if request.status is Status.FAILED:
        return f"the grant FAILED: {request.failure_reason or 'unknown error'}"
    if request.status is Status.PENDING:
        return f"{len(request.approvals)} of {request.approvals_required} approvals"
    return request.status.value.lower().replace("_", " ")


def _nothing_to_approve(requests: Sequence[AccessRequest], waiting: Sequence[AccessRequest]) -> str:
    lead = requests[0]
    if not waiting:
        return f"Request `{lead.batch_id}` was already decided in every account."
    names = ", ".join(r.account_name for r in waiting)
    return (
        f"You are not an approver of the accounts of request `{lead.batch_id}` still waiting "
        f"({names}); their own approvers decide."
    )
