"""How many grants a shared login role holds: the benchmark's ``grants_per_shared_role`` and
the naive one-policy-per-grant scheme it is compared with (also checked by the tests)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from cloud_access_bot.aws.granter import InlinePolicyGranter
from cloud_access_bot.config import AccountConfig
from cloud_access_bot.domain.model import AccessRequest
from cloud_access_bot.domain.packing import ROLE_INLINE_LIMIT
from cloud_access_bot.domain.policy import policy_size
from cloud_access_bot.ports import GrantError


async def fill_role(
    granter: InlinePolicyGranter,
    account: AccountConfig,
    requests: Iterable[AccessRequest],
    start: datetime,
    end: datetime,
) -> int:
    """How many of ``requests`` one login role holds at once: they are granted in order until
    the first CapacityExceeded (the benchmark's ``grants_per_shared_role``)."""
    held = 0
    for request in requests:
        try:
            await granter.grant(request, account, start, end)
        except GrantError as exc:
            if exc.code == "CapacityExceeded":
                return held
            raise
        held += 1
    raise ValueError(f"the role still had room after {held} grants: pass more requests")


def one_policy_each(documents: Iterable[Mapping[str, Any]], limit: int = ROLE_INLINE_LIMIT) -> int:
    """How many of ``documents`` a role holds as one inline policy each (the naive scheme the
    benchmark compares with): added in order until the next would pass ``limit``."""
    used = 0
    for held, document in enumerate(documents):
        used += policy_size(document)
        if used > limit:
            return held
    raise ValueError("every document fits: pass more")
