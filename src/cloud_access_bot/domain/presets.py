"""Access presets: named bundles of actions from config, turned into request-form defaults.

A preset (``presets: {ssm-session: {actions: [ssm:StartSession, ssm:TerminateSession, …]}}``)
pre-fills the request form: the service, the concrete actions (wildcards such as ``s3:Get*``
expanded with the IAM catalog, since the form lists concrete actions) and the resource types
those actions need, shown as a hint. The request form asks for one service at a time, so a
preset whose actions span several services fills the form for the service most of them belong
to and reports the others as left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from cloud_access_bot.domain.catalog import Catalog


@dataclass(frozen=True)
class PresetDefaults:
    """What a preset fills in the request form."""

    name: str
    service: str
    actions: tuple[str, ...]
    resource_types: tuple[str, ...]
    left_out: tuple[str, ...] = ()  # configured actions of other services, or unknown


def preset_defaults(name: str, patterns: Sequence[str], catalog: Catalog) -> PresetDefaults:
    """The form defaults of the preset ``name`` configured with these action ``patterns``;
    ValueError if none of them is known."""
    expanded = {pattern: catalog.expand(pattern) for pattern in patterns}
    services = Counter(action.split(":", 1)[0] for names in expanded.values() for action in names)
    if not services:
        raise ValueError(f"preset {name!r} names no known IAM action")
    service = services.most_common(1)[0][0]
    actions: list[str] = []
    left_out: list[str] = []
    for pattern, names in expanded.items():
        mine = [a for a in names if a.split(":", 1)[0] == service]
        if not mine:
            left_out.append(pattern)
        actions.extend(a for a in mine if a not in actions)
    types: list[str] = []
    for action_name in actions:
        action = catalog.action(action_name)
        needed = (action.required_types or action.resource_types) if action else ()
        types.extend(t for t in needed if t not in types)
    return PresetDefaults(name, service, tuple(actions), tuple(types), tuple(left_out))
