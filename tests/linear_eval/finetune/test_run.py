"""Tests of linear_eval/finetune/run.py: fine-tuned, from scratch and linear probe trained on one
label subset, the encoder they start from left as it was, the labels drawn or read from a file,
and bad requests refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from linear_eval.finetune.label_subset import read_subset, write_subset
from linear_eval.finetune.methods import FINE_TUNED, FROM_SCRATCH, LINEAR_PROBE, indices_digest
from linear_eval.finetune.run import choose_labels, finetune, resolved_epochs
from simclr.errors import ConfigError
from simclr.run.torch_files import read_torch_file
from tests.linear_eval.finetune.fast import load_fast

pytestmark = pytest.mark.usefixtures("single_thread")


def test_the_three_methods_train_on_the_same_labels(run_dir: Path, synthetic, bit_identical):
    loaded, config = load_fast(run_dir, synthetic, "finetune.labels_per_class=3")
    probe_encoder_unchanged = bit_identical(loaded.encoder)
    report = finetune(loaded, config)
    results = report["results"]
    assert list(results) == [FINE_TUNED, FROM_SCRATCH, LINEAR_PROBE]
    chosen = read_subset(report["labels"]["file"])
    labels = synthetic.images("train").labels.numpy()
    assert np.array_equal(np.bincount(labels[chosen]), [3, 3, 3, 3])
    assert {r["indices_sha256"] for r in results.values()} == {indices_digest(chosen)}
    assert all(r["images"] == 12 for r in results.values())
    probe_encoder_unchanged()  # the probe's f (and the one fine-tuning started from) is frozen
    tuned = read_torch_file(Path(results[FINE_TUNED]["checkpoint"]), "checkpoint")["state_dict"]
    weight = "classifier.encoder.backbone.conv1.weight"
    assert not torch.equal(tuned[weight], loaded.encoder.state_dict()["backbone.conv1.weight"])
    written = json.loads((Path(report["run_dir"]) / "finetune.json").read_text())
    assert written["results"][FINE_TUNED]["top1"] == results[FINE_TUNED]["top1"]


def test_the_paper_epochs_are_the_default(run_dir: Path, synthetic) -> None:
    config = synthetic.eval_config(None)
    assert resolved_epochs(config, 600, 60_000) == 60  # 1 % of the labels
    assert resolved_epochs(config, 6_000, 60_000) == 30  # 10 %


def test_the_labels_are_drawn_class_balanced_or_read_from_a_file(synthetic, tmp_path: Path):
    labels = synthetic.images("train").labels.numpy()  # 4 classes of 16
    pretrain = synthetic.pretrain_config()
    config = synthetic.eval_config(pretrain, "finetune.label_fraction=0.25")
    drawn = choose_labels(config, labels, "train")
    assert np.array_equal(np.bincount(labels[drawn.indices]), [4, 4, 4, 4])
    assert drawn.about == {"label_fraction": 0.25, "labels_per_class": None} and drawn.total == 64
    write_subset(tmp_path, drawn.indices, labels, dataset=synthetic.name, split="train")
    config = synthetic.eval_config(pretrain, f"finetune.label_subset={tmp_path}")
    copied = choose_labels(config, labels, "train")
    assert np.array_equal(copied.indices, drawn.indices)
    assert copied.about["copied_from"] == str(tmp_path) and copied.about["label_fraction"] == 0.25


def test_more_labels_per_class_than_a_class_has_fails_before_any_work(
    run_dir: Path, synthetic
) -> None:
    # 16 images per class
    loaded, config = load_fast(run_dir, synthetic, "finetune.labels_per_class=17")
    with pytest.raises(ConfigError, match="labels_per_class=17.*has only 16") as error:
        finetune(loaded, config)
    assert "\n" not in str(error.value)
    assert not (run_dir / "finetune").exists()


def test_a_written_label_subset_trains_another_run_on_the_same_labels(
    run_dir: Path, synthetic, tmp_path: Path
) -> None:
    loaded, config = load_fast(
        run_dir, synthetic, "finetune.labels_per_class=2", "finetune.baselines=[]"
    )
    first = finetune(loaded, config, tmp_path / "first")
    other = synthetic.make_run("seed5", seed=5)  # another encoder, and another seed
    loaded, config = load_fast(
        other, synthetic, f"finetune.label_subset={tmp_path / 'first'}", "seed=3"
    )
    second = finetune(loaded, config, tmp_path / "second")
    chosen = read_subset(tmp_path / "first")
    assert np.array_equal(read_subset(second["labels"]["file"]), chosen)
    digests = {
        r["indices_sha256"] for r in (*first["results"].values(), *second["results"].values())
    }
    assert digests == {indices_digest(chosen)}
    assert second["labels"]["copied_from"] == str(tmp_path / "first")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dataset": "cifar10"}, "drawn from dataset 'cifar10'"),
        ({"split": "test"}, "drawn from split 'test'"),
        ({"indices": [0, 10_000]}, "outside 0..63"),
        ({"indices": [1, 1]}, "repeats an index"),
        ({"indices": "none"}, "is not a label_subset.json"),
    ],
)
def test_a_label_subset_that_does_not_fit_the_split_is_one_line(
    run_dir: Path, synthetic, tmp_path: Path, change: dict, message: str
) -> None:
    path = tmp_path / "label_subset.json"
    loaded, config = load_fast(run_dir, synthetic, f"finetune.label_subset={path}")
    record = {"dataset": config.data.name, "split": "train", "indices": [0, 1]}
    path.write_text(json.dumps({**record, **change}))
    with pytest.raises(ConfigError, match=message) as error:
        finetune(loaded, config, tmp_path / "out")
    assert "\n" not in str(error.value) and not (tmp_path / "out").exists()
