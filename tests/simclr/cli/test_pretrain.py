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
