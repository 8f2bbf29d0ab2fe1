"""Commands front ends register (models.commands): found through the installed entry points, run with their own
arguments, and refused with a one-line hint when the library of their extra is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from moodscore.models.commands import Command, registered


def test_the_front_ends_register_their_commands() -> None:
    found = registered()
    assert {"web", "discord", "bridge", "osc", "send"} <= set(found)
    assert found["web"].main == "moodscore.web.app:main" and ("gradio", "web") in found["web"].needs


def test_a_command_runs_its_main_with_its_arguments() -> None:
    assert Command("echo", "json.tool:main").needs == ()
    r = subprocess.run(
        [sys.executable, "-m", "moodscore.models.cli", "osc", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0 and "usage: moodscore osc" in r.stdout


def test_a_missing_extra_is_a_one_line_hint(capsys: pytest.CaptureFixture[str]) -> None:
    command = Command("needs a library nobody has", "json:dumps", needs=(("no_such_module_xyz", "web"),))
    assert command.run([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'moodscore[web]'" in err and "Traceback" not in err
