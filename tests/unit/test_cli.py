"""The command line as an operator uses it: exit codes and what is printed."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud_access_bot.cli import main
from cloud_access_bot.domain.model import utcnow
from cloud_access_bot.health import HealthState, read_health, write_health
from cloud_access_bot.settings import Settings
from tests.unit.config_samples import THREE_MISTAKES

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.yml"
APP_TOKEN = "xapp-1-A0123456789-1234567890123-0123456789abcdef"
BOT_TOKEN = "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrSt"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """No bot variables set, a working folder without a .env file; `run` may set up logging."""
    for name in list(os.environ):
        if name.startswith(("SLACK_", "BOT_CONFIG_", "LOG_", "HEALTH_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield monkeypatch
    root.handlers[:] = handlers
    root.setLevel(level)


def fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **functions: object) -> None:
    module = types.ModuleType(name)
    for attribute, value in functions.items():
        setattr(module, attribute, value)
    monkeypatch.setitem(sys.modules, name, module)


def test_check_config_on_the_example_is_valid(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", "--file", str(EXAMPLE)]) == 0

    out = capsys.readouterr().out
    assert f"{EXAMPLE}: valid" in out
    assert "request command: /request" in out
    assert "acme-development: 210987654321 alias acme-dev, mode inline_policy" in out
    assert "acme-production: 987654321098 alias acme-prod, mode managed_policy, production" in out
    assert "approval groups: sre-oncall (2 approval(s) needed)" in out
    assert "durations (minutes): 15, 30, 60, 120, max 120" in out


def test_check_config_prints_every_problem_prefixed_by_source(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bot.yml"
    path.write_text(THREE_MISTAKES)

    assert main(["check-config", "--file", str(path)]) == 2

    lines = capsys.readouterr().err.splitlines()
    assert lines[-1] == "3 problems found"
    problems = lines[:-1]
    assert len(problems) == 3
    assert all(line.startswith(f"{path}: ") for line in problems)
    keys = sorted(line.removeprefix(f"{path}: ").split(":")[0] for line in problems)
    assert keys == ["accounts.dev.account_number", "accounts.prod.iam_role", "regions"]


def test_check_config_uses_bot_config_file(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("BOT_CONFIG_FILE", str(EXAMPLE))

    assert main(["check-config"]) == 0
    assert f"{EXAMPLE}: valid" in capsys.readouterr().out


def test_check_config_missing_file(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", "--file", str(tmp_path / "nope.yml")]) == 2
    assert f"{tmp_path / 'nope.yml'}: file not found" in capsys.readouterr().err


def test_check_config_without_any_source(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no configuration source")
    assert len(err.splitlines()) == 1


def test_run_without_bot_token_is_one_line_and_exit_2(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    env.setenv("BOT_CONFIG_FILE", str(EXAMPLE))

    assert main(["run"]) == 2

    captured = capsys.readouterr()
    assert captured.err == "error: SLACK_BOT_TOKEN: not set (the Slack token starting with xoxb-)\n"
    assert captured.out == ""


def test_run_with_malformed_token_does_not_print_it(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    env.setenv("SLACK_BOT_TOKEN", "xoxp-" + BOT_TOKEN[5:])
    env.setenv("BOT_CONFIG_FILE", str(EXAMPLE))

    assert main(["run"]) == 2

    err = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN" in err
    assert BOT_TOKEN[5:] not in err


def test_run_as_a_process_exits_2_without_traceback(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BOT_CONFIG_"))}

    result = subprocess.run(
        [sys.executable, "-m", "cloud_access_bot", "run"],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "SLACK_APP_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_calls_the_runtime_and_returns_its_code(env: pytest.MonkeyPatch) -> None:
    env.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    env.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    env.setenv("BOT_CONFIG_FILE", str(EXAMPLE))
    received: list[Settings] = []

    async def run_bot(settings: Settings) -> int:
        received.append(settings)
        return 3

    fake_module(env, "cloud_access_bot.runtime", run_bot=run_bot)

    assert main(["run"]) == 3
    token = received[0].slack_bot_token
    assert token is not None
    assert token.get_secret_value() == BOT_TOKEN


def test_run_with_a_bad_config_names_every_problem_and_exits_2(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bot.yml"
    path.write_text(THREE_MISTAKES)
    env.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    env.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    env.setenv("BOT_CONFIG_FILE", str(path))
    env.setenv("LOG_FORMAT", "text")

    assert main(["run"]) == 2
    err = capsys.readouterr().err
    for field in ("accounts.dev.account_number", "accounts.prod.iam_role", "regions"):
        assert f"{path}: {field}" in err


def test_demo_passes_json_flag(env: pytest.MonkeyPatch) -> None:
    calls = []

    async def run_demo(json_output: bool) -> int:
        calls.append(json_output)
        return 0

    fake_module(env, "cloud_access_bot_sandbox.demo", run_demo=run_demo)

    assert main(["demo", "--json"]) == 0
    assert main(["demo"]) == 0
    assert calls == [True, False]


#: Runs ``cloud-access-bot demo`` in a fresh interpreter where the named top-level module
#: cannot be imported, as in an install without the demo extra.
WITHOUT_MODULE = """
import sys
from importlib.abc import MetaPathFinder

class Absent(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == sys.argv[1]:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Absent())
from cloud_access_bot.cli import main
sys.exit(main(["demo"]))
"""


@pytest.mark.parametrize("absent", ["moto", "cloud_access_bot_sandbox"])
def test_demo_without_the_sandbox_says_how_to_get_it(absent: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_MODULE, absent],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "demo: the demo needs the sandbox: pip install 'cloud-access-bot[demo]'\n"
    )


def test_ctrl_c_exits_130_quietly(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def run_demo(json_output: bool) -> int:
        raise KeyboardInterrupt

    fake_module(env, "cloud_access_bot_sandbox.demo", run_demo=run_demo)

    assert main(["demo"]) == 130
    assert capsys.readouterr() == ("", "")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("cloud-access-bot ")


def state(**changes: Any) -> HealthState:
    """A connected bot that started a minute ago and has just swept (15 s interval)."""
    now = utcnow()
    fields: dict[str, Any] = {
        "connected": True,
        "started_at": now - timedelta(minutes=1),
        "sweep_interval_s": 15,
        "last_sweep_at": now - timedelta(seconds=2),
    }
    return HealthState(**(fields | changes))


def test_health_when_connected_and_fresh(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bot.health"
    env.setenv("HEALTH_FILE", str(path))
    write_health(path, state())

    assert main(["health"]) == 0
    assert capsys.readouterr().out.startswith("healthy: connected to Slack")


@pytest.mark.parametrize(
    ("connected", "age_s", "reason"),
    [
        (False, 5, "not connected to Slack"),
        (True, 300, "s old (limit 60 s)"),
    ],
)
def test_health_when_disconnected_or_stale(
    env: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    connected: bool,
    age_s: int,
    reason: str,
) -> None:
    path = tmp_path / "bot.health"
    env.setenv("HEALTH_FILE", str(path))
    write_health(path, state(connected=connected), now=utcnow() - timedelta(seconds=age_s))

    assert main(["health"]) == 1
    assert reason in capsys.readouterr().err


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"last_sweep_at": timedelta(seconds=50)},
            r"the sweeper's last successful run was 5\d s ago \(limit 45 s, 3 sweep intervals\)",
        ),
        (
            {"last_sweep_at": None, "started_at": timedelta(seconds=60)},
            r"the sweeper has not completed a run in the 6\d s since start",
        ),
        (
            {"store_problem": "DynamoDB table t: access denied (AccessDeniedException)"},
            r"the store is unreachable: DynamoDB table t: access denied",
        ),
    ],
)
def test_health_of_a_connected_bot_whose_sweeper_or_store_fails(
    env: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    changes: dict[str, Any],
    reason: str,
) -> None:
    path = tmp_path / "bot.health"
    env.setenv("HEALTH_FILE", str(path))
    now = utcnow()
    ago = {k: now - v if isinstance(v, timedelta) else v for k, v in changes.items()}
    write_health(path, state(**ago))

    assert main(["health"]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert re.match(f"unhealthy: {reason}", line), line


def test_health_of_a_bot_that_just_started(tmp_path: Path) -> None:
    path = tmp_path / "bot.health"
    write_health(path, state(last_sweep_at=None, started_at=utcnow() - timedelta(seconds=5)))

    assert read_health(path)[0] is True


def test_health_without_a_file(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("HEALTH_FILE", str(tmp_path / "missing.health"))

    assert main(["health"]) == 1
    assert "no health file" in capsys.readouterr().err


def test_health_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "bot.health"
    write_health(path, state(connected=False))
    write_health(path, state())

    assert json.loads(path.read_text())["connected"] is True
    assert [p.name for p in tmp_path.iterdir()] == ["bot.health"]
    assert read_health(path, max_age_s=60)[0] is True


def test_health_file_garbage(tmp_path: Path) -> None:
    path = tmp_path / "bot.health"
    path.write_text("{not json")

    ok, reason = read_health(path, max_age_s=60)

    assert not ok
    assert "unreadable" in reason


PERKBOX_WITHOUT_TABLE = (
    "loginRoles: [SSO-Devops]\napprovalGroups: [devops]\naccounts:\n  dev:\n"
    "    account_number: '123456789012'\n"
    "    iam_role: arn:aws:iam::123456789012:role/request-access-bot\n"
)


def test_check_config_names_actions_iam_does_not_have(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bot.yml"
    path.write_text(
        PERKBOX_WITHOUT_TABLE
        + "never_grantable_actions: ['iam:*', 'organisations:*']\n"
        + "presets:\n  reader:\n    actions: ['s3:GetObjekt', 's3:List*']\n"
        + "regions: [eu-wset-1]\n"
    )

    assert main(["check-config", "--file", str(path)]) == 2

    problems = capsys.readouterr().err.splitlines()
    assert f"{path}: regions: 'eu-wset-1' is not a known AWS region" in problems
    assert (
        f"{path}: never_grantable_actions: 'organisations:*' is not an IAM action "
        "(not in the IAM catalog)"
    ) in problems
    assert (
        f"{path}: presets.reader.actions: 's3:GetObjekt' is not an IAM action "
        "(not in the IAM catalog)"
    ) in problems
    assert problems[-1] == "3 problems found"


def test_check_config_warns_when_no_table_is_named(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A perkbox file without dynamoDbTable meant perkbox's request_access_bot table."""
    path = tmp_path / "perkbox.yml"
    path.write_text(PERKBOX_WITHOUT_TABLE)

    assert main(["check-config", "--file", str(path)]) == 0

    [warning] = capsys.readouterr().err.splitlines()
    assert warning.startswith(f"{path}: warning: dynamoDbTable is not set")
    assert "request_access_bot" in warning and "Migrating from perkbox" in warning


def test_check_config_account_shows_what_the_rules_on_what_is_asked_make_of_a_request(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["check-config", "--file", str(EXAMPLE), "--account", "987654321098"]
    assert main([*args, "--action", "s3:GetObject", "--action", "s3:PutObject"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert (
        "  Write in production: when access level Write or Permissions management, needs 2 "
        "approvals from @sre-oncall"
    ) in out
    assert out[-1] == (
        "a request for s3:GetObject, s3:PutObject: 2 approval(s) from sre-oncall, max 120 "
        "minutes; rules applied: Write in production: needs 2 approvals from @sre-oncall"
    )
    assert main([*args[:3], "--action", "s3 Put"]) == 2
    assert main([*args, "--action", "s3 Put"]) == 2
    assert "is not an IAM action like s3:PutObject" in capsys.readouterr().err


def test_a_reader_that_goes_away_gets_no_traceback() -> None:
    """`cloud-access-bot check-config … | head -1`: the pipe closes before the output is
    written; the operator sees no BrokenPipeError traceback, and the exit status says so."""
    command = [sys.executable, "-m", "cloud_access_bot", "check-config", "--file"]
    child = subprocess.Popen(
        [*command, str(REPO / "config.example.yml"), "--account", "210987654321"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # before the child has imported anything, let alone written
    errors = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141
    assert "Traceback" not in errors and "BrokenPipe" not in errors
