"""The ``simclr`` command root (simclr/cli/__init__.py): it finds the commands every package
registers, parses and dispatches, and prints a SimCLRError as one line with status 2."""

from __future__ import annotations

import argparse
import errno
import subprocess
import sys
from pathlib import Path

import pytest

import simclr.cli
from simclr.cli import build_parser, main, registered_commands
from simclr.errors import ConfigError, DataError, SimCLRError
from simclr.run.divergence import TrainingDiverged

COMMANDS = (
    "pretrain",
    "eval",
    "finetune",
    "index",
    "retrieve",
    "serve",
    "embed",
    "plot",
    "ablate",
    "recipes",
    "clean",
)
ROOT = Path(__file__).resolve().parents[3]  # the repository


class FakeEntryPoint:
    """An entry point of ``simclr.commands`` whose register function adds ``fail``."""

    name = "fake"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def load(self):
        def register(commands: argparse._SubParsersAction) -> None:
            parser = commands.add_parser("fail", help="raise an error")
            parser.set_defaults(handler=self.handle)

        return register

    def handle(self, args: argparse.Namespace) -> int:
        raise self.error


def with_only(monkeypatch: pytest.MonkeyPatch, *points) -> None:
    monkeypatch.setattr(simclr.cli, "registered_commands", lambda: list(points))


def test_every_package_registers_its_commands_in_the_data_flows_order() -> None:
    names = [point.name for point in registered_commands()]
    assert names == ["simclr", "linear_eval", "ablation", "recipes", "clean"]
    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    assert tuple(commands.choices) == COMMANDS


def test_help_lists_every_command_without_loading_lightning_kornia_or_torch() -> None:
    script = (
        "import sys\n"
        "from simclr.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "heavy = [m for m in ('lightning', 'kornia', 'torch') if m in sys.modules]\n"
        "print('loaded:', ','.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    for command in COMMANDS:
        assert f"    {command} " in done.stdout, command
    assert done.stdout.strip().endswith("loaded:"), done.stdout.splitlines()[-1]


@pytest.mark.parametrize("argv", [["frobnicate"], []])
def test_an_unknown_or_missing_command_fails_with_status_2(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: simclr") and "error:" in err


@pytest.mark.parametrize(
    "error",
    [
        SimCLRError("the run cannot go on"),
        ConfigError("loss.temperature=0 is invalid: must be > 0"),
        DataError("data.path='x' is not a directory"),
        TrainingDiverged("training diverged at step 3: the loss is not finite"),
    ],
)
def test_a_simclr_error_of_a_handler_is_one_line_and_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys, error: SimCLRError
) -> None:
    with_only(monkeypatch, FakeEntryPoint(error))
    assert main(["fail"]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"simclr fail: error: {error}\n" and captured.out == ""


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "/runs/x/.eval.json.tmp-7"),
            "/runs/x/.eval.json.tmp-7: No space left on device (ENOSPC)",
        ),
        (PermissionError(errno.EACCES, "Permission denied", "/runs/x"), "/runs/x: Permission "),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "a\x1b[2J"), "a\\x1b[2J: Not a "),
        (OSError(errno.EIO, "Input/output error"), "Input/output error (EIO)"),
    ],
)
def test_an_os_error_of_a_handler_is_one_line_naming_the_path_and_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys, error: OSError, line: str
) -> None:
    with_only(monkeypatch, FakeEntryPoint(error))
    assert main(["fail"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"simclr fail: error: {line}") and err.count("\n") == 1, err
    assert "\x1b" not in err


def test_any_other_exception_of_a_handler_keeps_its_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_only(monkeypatch, FakeEntryPoint(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        main(["fail"])


def test_the_handlers_status_is_the_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    point = FakeEntryPoint(SimCLRError("unused"))
    point.handle = lambda args: 0
    with_only(monkeypatch, point)
    assert main(["fail"]) == 0


def test_no_registered_command_is_a_usage_error_naming_the_group(
    monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    with_only(monkeypatch)
    with pytest.raises(SystemExit) as exit:
        main(["pretrain"])
    assert exit.value.code == 2
    assert "'simclr.commands'" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_command_root() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "simclr.cli", "frobnicate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "invalid choice: 'frobnicate'" in done.stderr
