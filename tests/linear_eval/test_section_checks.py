"""Every command that reads evaluation settings runs the check of every section it reads, before
any work: walked over the commands ``linear_eval`` registers and the sections of ``EvalConfig``,
both taken from the code, so a new command or section cannot be skipped silently. Also: the
gallery commands (index, embed, plot) read the subset keys of the split they read."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from linear_eval.commands import register
from linear_eval.config import EvalConfig, section_names
from simclr.cli import main
from tests.refusals import refusals

pytestmark = pytest.mark.usefixtures("single_thread")

# one invalid value of each section (its key is the one the error must name)
INVALID = {
    "data": "data.image_size=4",
    "normalize": "normalize.std=[0]",  # would divide by zero: NaN features, a chance-level table
    "features": "features.batch_size=0",
    "knn": "knn.temperature=0",
    "linear": "linear.lr=0",
    "few_labels": "few_labels.fractions=[2.0]",
    "baselines": "baselines.raw_pixels=maybe",  # two switches: only their type can be wrong
    "retrieval": "retrieval.top_k=0",
    "embed": "embed.csv_max_rows=-1",
    "plot": "plot.max_points=2",
    "finetune": "finetune.base_lr=0",
}
# values that are invalid for the same reason in pretraining (simclr.config.NormalizeConfig)
ALSO_INVALID = ["normalize.mean=[0.1,0.2]", "normalize.std=[0.3,-0.3,0.3]"]


def commands_with_settings() -> list[str]:
    """The sub-commands of ``linear_eval`` that read evaluation settings (they take --config)."""
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    register(commands)
    return [
        name
        for name, command in commands.choices.items()
        if any("--config" in action.option_strings for action in command._actions)
    ]


def test_the_walk_covers_every_section_and_every_command_with_settings() -> None:
    assert set(INVALID) == set(section_names(EvalConfig()))  # a new section needs its value
    assert {"eval", "finetune", "index", "embed", "plot"} <= set(commands_with_settings())
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    register(commands)
    without = set(commands.choices) - set(commands_with_settings())
    # their settings are their index's, checked when it was built
    assert without == {"retrieve", "serve"}


@pytest.mark.parametrize("command", commands_with_settings())
def test_each_command_refuses_an_invalid_value_of_each_section_before_any_work(
    command: str, run_dir: Path, tmp_path: Path, synthetic, capsys
) -> None:
    earlier = run_dir / "eval.json"
    earlier.write_text('{"results": "of an earlier evaluation"}\n')
    argvs = {
        override: [command, "--checkpoint", str(run_dir), *synthetic.eval_overrides, override]
        for override in [*INVALID.values(), *ALSO_INVALID]
    }
    failures = refusals(argvs, tmp_path, capsys)
    assert not failures, "\n".join(failures)
    assert earlier.read_text() == '{"results": "of an earlier evaluation"}\n'


@pytest.mark.parametrize("command", ["embed", "index", "plot"])
def test_a_gallery_of_the_test_split_takes_data_val_subset(
    command: str, run_dir: Path, tmp_path: Path, synthetic, monkeypatch
) -> None:
    import linear_eval.protocols.plot as plot

    drawn = []
    draw = plot.plot_embedding

    def counted(features, *rest, **keywords):
        drawn.append(len(features))
        return draw(features, *rest, **keywords)

    monkeypatch.setattr(plot, "plot_embedding", counted)
    out = tmp_path / ("map.png" if command == "plot" else "out")
    argv = [command, "--checkpoint", str(run_dir), "--split", "test", "--out", str(out)]
    overrides = [*synthetic.eval_overrides, "data.val_subset=10", "plot.method=pca"]
    assert main([*argv, *overrides]) == 0
    if command == "embed":
        assert np.load(out / "embeddings.npy").shape[0] == 10
        assert json.loads((out / "meta.json").read_text())["subset"] == 10
    if command == "index":
        assert json.loads((out / "index.json").read_text())["count"] == 10
    if command == "plot":
        assert drawn == [10]


def test_a_val_subset_that_would_do_nothing_is_refused(run_dir: Path, synthetic, capsys) -> None:
    argv = ["embed", "--checkpoint", str(run_dir), "--split", "train", *synthetic.eval_overrides]
    assert main([*argv, "data.val_subset=10"]) == 2
    (error,) = capsys.readouterr().err.strip().splitlines()
    assert "data.val_subset" in error and "set data.subset" in error
    assert not (run_dir / "embeddings").exists()


def test_an_image_folder_gallery_takes_data_subset(
    run_dir: Path, tmp_path: Path, synthetic, gallery_of_test_images
) -> None:
    folder, _ = gallery_of_test_images(12)
    out = tmp_path / "embed"
    argv = ["embed", "--checkpoint", str(run_dir), "--folder", str(folder), "--out", str(out)]
    assert main([*argv, *synthetic.eval_overrides, "data.subset=5"]) == 0
    assert len((out / "paths.txt").read_text().splitlines()) == 5
