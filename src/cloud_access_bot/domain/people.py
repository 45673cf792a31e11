"""A Slack person as far as eligibility cares: plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str | None
    #: A single- or multi-channel guest (Slack's ``is_ultra_restricted`` / ``is_restricted``).
    guest: bool
    #: Deactivated in Slack (``deleted``).
    deactivated: bool
    #: The name Slack shows (``real_name``), if any.
    name: str | None = None
