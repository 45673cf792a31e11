"""The ticket or change reference an account may require (``ticket_pattern``)."""

from __future__ import annotations

import re

MAX_TICKET_LENGTH = 64


def ticket_problem(pattern: str | None, ticket: str) -> str | None:
    """Why ``ticket`` does not do for an account requiring ``pattern`` (None: it does).
    The whole reference must match, so ``INC-1; drop table`` is not ``INC-1``."""
    ticket = ticket.strip()
    if pattern is None:
        return None
    if not ticket:
        return f"This account needs a ticket or change id matching {pattern}."
    if len(ticket) > MAX_TICKET_LENGTH or not re.fullmatch(pattern, ticket):
        return f"{ticket[:MAX_TICKET_LENGTH]!r} does not match {pattern}: give the ticket id."
    return None
