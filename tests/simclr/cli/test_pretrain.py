"""``simclr pretrain`` (simclr/cli/pretrain.py): a run, then its resume, through the command;
bad settings refused in one line before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from simclr.cli import main

DEFAULT_YAML = Path(__file__).resolve().parents[3] / "configs" / "default.yaml"


@pytest.mark.slow
def test_pretrain_then_resume_through_the_command(tmp_path, fashion_mnist_root, capsys):
    common = [
        "trainer.progress_bar=false",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
    ]
    first = [
        "pretrain",
        f"run.out_dir={tmp_path}",
        "run.name=cli",
        f"data.root={fashion_mnist_root}",
        "data.download=false",
        "data.subset=128",
        "data.val_subset=64",
        "data.batch_size=32",
        "data.num_workers=0",
        "trainer.max_epochs=3",  # max_steps ends the run
        "trainer.max_steps=2",
        *common,
    ]
    assert main(first) == 0
    run_dir = tmp_path / "cli"
    assert json.loads((run_dir / "summary.json").read_text())["global_step"] == 2
    assert "SimCLR pretraining finished" in capsys.readouterr().out

    assert main(["pretrain", "--resume", str(run_dir), "trainer.max_steps=4", *common]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["global_step"] == 4 and summary["images_seen"] == 4 * 32

    # --resume takes the run's own config: a second config file is refused in one line
    assert main(["pretrain", "--resume", str(run_dir), "--config", str(DEFAULT_YAML)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "arguments", [["loss.temperature=0"], ["data.foo=1"], ["trainer.max_epochs"]]
)
def test_cli_refuses_bad_overrides_before_any_work(tmp_path: Path, capsys, arguments: list) -> None:
    argv = ["pretrain", f"run.out_dir={tmp_path / 'runs'}", "run.name=bad", *arguments]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("simclr pretrain: error: ") and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_cli_refuses_a_data_error_before_any_work(tmp_path: Path, capsys) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for index in range(3):
        Image.new("RGB", (8, 8), (index, 0, 0)).save(images / f"{index}.png")
    argv = [
        "pretrain",
        "data.name=folder",
        f"data.path={images}",
        "data.batch_size=8",
        "data.num_workers=0",
        f"run.out_dir={tmp_path / 'runs'}",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "data.batch_size=8" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_cli_refuses_to_resume_what_is_not_a_run(tmp_path: Path, capsys) -> None:
    assert main(["pretrain", "--resume", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_pretrain_hands_the_loaded_config_to_pretrain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    monkeypatch.setattr("simclr.run.train.pretrain", lambda *a, **k: calls.append((a, k)))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("loss:\n  temperature: 0.3\n")
    assert main(["pretrain", "--config", str(recipe), "data.batch_size=16"]) == 0
    ((config,), keywords) = calls[0]
    assert (config.loss.temperature, config.data.batch_size) == (0.3, 16)
    assert keywords == {"resume_dir": None}


def _yaml(tmp_path: Path, text: str) -> str:
    (tmp_path / "config.yaml").write_text(text)
    return str(tmp_path / "config.yaml")


def _file(tmp_path: Path) -> Path:
    (tmp_path / "file").write_text("not a folder\n")
    return tmp_path / "file"


@pytest.mark.parametrize(
    ("override", "named"),
    [
        (lambda t: [f"run.out_dir={_file(t)}"], "run.out_dir"),
        (lambda t: [f"run.out_dir={_file(t)}/runs"], "is a file, not a folder"),
        (lambda t: ["run.name=../../escaped"], "run.name="),
        (lambda t: ["--config", _yaml(t, 'run:\n  name: "a\\e[2Jb"\n')], "run.name='a\\x1b[2Jb'"),
        (lambda t: [f"data.root={_file(t)}"], "data.root"),
        (lambda t: [f"data.path={t / 'none'}"], "data.path"),
    ],
)
def test_the_paths_of_a_run_are_checked_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, override, named: str
) -> None:
    monkeypatch.setattr("simclr.run.train.pretrain", lambda *a, **k: pytest.fail("work began"))
    runs = tmp_path / "runs"
    case = override(tmp_path)
    name = [] if "--config" in case else ["run.name=ok"]  # the file's name is the case
    argv = ["pretrain", f"run.out_dir={runs}", *name, *case]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("simclr pretrain: error: ") and err.count("\n") == 1, err
    assert named in err and "\x1b" not in err
    assert not runs.exists() and not (tmp_path.parent / "escaped").exists()


def test_a_read_only_out_dir_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    # the tests run as root, where chmod leaves a folder writable: os.access answers for it
    monkeypatch.setattr("simclr.run.train.pretrain", lambda *a, **k: pytest.fail("work began"))
    monkeypatch.setattr("simclr.run.paths.os.access", lambda path, mode: not mode & 2)
    assert main(["pretrain", f"run.out_dir={tmp_path}", "run.name=ok"]) == 2
    err = capsys.readouterr().err
    assert f"run.out_dir {tmp_path}: is not writable" in err and err.count("\n") == 1


def test_a_resume_whose_recorded_step_is_not_a_number_is_refused(tmp_path: Path, capsys):
    run = tmp_path / "runs" / "run"
    run.mkdir(parents=True)
    summary = json.dumps({"global_step": "../../../../outside"})
    (run / "summary.json").write_text(summary)
    assert main(["pretrain", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "global_step='../../../../outside' is invalid" in err and err.count("\n") == 1
    assert (run / "summary.json").read_text() == summary
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["run", "runs", "summary.json"]
