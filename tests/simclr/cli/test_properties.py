"""Property-based tests of every command's options: whatever a person types, a command ends in a
result, or in exit status 2 with one line, never a traceback, and writes nothing outside the
folders it was given.

Each example runs the real command root (``simclr.cli.main``) in a fresh folder holding a
pretrained run of the synthetic dataset, a file, an empty folder and a folder of images. The
generated argument lists mix those paths (as they are, below a file, missing) with hostile text
and numbers, for every option of the command's parser and for its ``key=value`` settings. The
long work a valid command starts (Lightning's ``fit``, feature extraction) is replaced by a
sentinel: reaching it means every check at the boundary passed.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simclr.cli import build_parser, main
from tests.simclr.config.test_properties import EVAL_KEYS, PRETRAIN_KEYS, VALUES, rendered


class Reached(BaseException):
    """The command passed its boundary and started its long work."""


def _reach(*args, **kwargs):
    raise Reached


COMMANDS = next(
    dict(action.choices)
    for action in build_parser()._actions
    if isinstance(action, argparse._SubParsersAction)
)
PATH_NAMES = ["run", "run/checkpoints/last.ckpt", "run/encoder.pt", "file.txt", "empty"]
PATH_NAMES += ["images", "images/0.png", "missing/deeper", "file.txt/child", ""]
PATH_NAMES += ["\x1b[2Jname", "é🙂", "../outside"]


def path_or_text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(PATH_NAMES), st.text(max_size=10))


def override(keys: list[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda k, v: f"{k}={rendered(v)}", st.sampled_from(keys), VALUES)


def argv_for(command: str) -> st.SearchStrategy[list[str]]:
    """Arguments for ``command``: each option of its parser present or not, with a path, text
    or a number; a few settings."""
    keys = PRETRAIN_KEYS if command in ("pretrain", "ablate") else EVAL_KEYS
    parts = []
    for action in COMMANDS[command]._actions:
        if action.dest == "help":
            continue
        if action.nargs == 0:
            parts.append(st.sampled_from([[], [action.option_strings[0]]]))
            continue
        value = path_or_text() if action.type is None else st.integers(-3, 10**6).map(str)
        if action.choices:
            value = st.one_of(st.sampled_from(list(action.choices)), value)
        if not action.option_strings:  # positional: paths, or key=value settings
            many = action.nargs in ("*", "+")
            item = st.one_of(override(keys), path_or_text()) if many else value
            parts.append(st.lists(item, max_size=2) if many else item.map(lambda v: [v]))
            continue
        parts.append(
            st.one_of(st.just([]), value.map(lambda v, o=action: [o.option_strings[0], v]))
        )
    return st.tuples(*parts).map(lambda lists: [command, *[x for part in lists for x in part]])


@pytest.fixture
def workspace(synthetic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder as a user's: a pretrained run, a file, an empty folder, two images."""
    from PIL import Image

    run = synthetic.make_run("run")
    (tmp_path / "file.txt").write_text("not a folder\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "images").mkdir()
    for index in range(2):
        Image.new("L", (16, 16), index * 100).save(tmp_path / "images" / f"{index}.png")
    monkeypatch.setattr("lightning.pytorch.Trainer.fit", _reach)
    monkeypatch.setattr("werkzeug.serving.BaseWSGIServer.serve_forever", _reach)  # serve
    monkeypatch.setattr("linear_eval.features.extract._extract_here", _reach)
    monkeypatch.chdir(tmp_path)
    assert run == tmp_path / "run"
    return tmp_path


def snapshot(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def run_in_copy(workspace: Path, argv: list[str], capsys) -> tuple[int | str, str]:
    """``main(argv)`` in a fresh copy of the workspace: (exit status or "reached", stderr)."""
    copy = workspace / "try"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(workspace, copy, ignore=shutil.ignore_patterns("try"))
    os.chdir(copy)
    capsys.readouterr()
    try:
        status: int | str = main(argv)
    except Reached:
        status = "reached"
    except SystemExit as exit_:  # argparse's own refusal: usage and one error line
        status = exit_.code
    finally:
        os.chdir(workspace)
    return status, capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(COMMANDS))
@settings(max_examples=12)
@given(data=st.data())
def test_any_arguments_end_in_a_result_or_one_line(command, data, workspace, capsys) -> None:
    argv = data.draw(argv_for(command), label="argv")
    outside = workspace.parent / "outside"
    outside.mkdir(exist_ok=True)
    before = snapshot(outside)
    status, err = run_in_copy(workspace, argv, capsys)
    assert "Traceback" not in err, err[-3000:]
    assert status in (0, 2, "reached"), (status, err[-2000:])
    if status == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        errors = [line for line in lines if "error:" in line]
        assert len(errors) == 1, err[-2000:]  # argparse adds its usage above the one line
    assert snapshot(outside) == before  # nothing written beside the folder it was given
