"""`make demo ARGS=--json` as a script uses it: stdout is one JSON document, nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_make_demo_json_prints_only_the_json_result_on_stdout(tmp_path: Path) -> None:
    """The whole demo (about a minute: its grant lasts a real minute), as CI proves it."""
    stamp = tmp_path / "installed"
    stamp.touch()  # this virtualenv is installed: make must not rebuild it
    # As typed at a shell: under `make test`, make would see itself nested and print
    # "Entering directory" lines (as `make -C` does).
    shell = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    done = subprocess.run(
        [
            "make",
            "demo",
            "ARGS=--json",
            f"BIN={Path(sys.executable).parent}",
            f"STAMP={stamp}",
        ],
        cwd=REPO,
        env=shell,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["statuses"] == ["PENDING", "APPROVED", "ACTIVE", "EXPIRED"]
    assert result["policy_present_after_expiry"] is False
