"""Tests of linear_eval/finetune_run.py: fine-tuned, from scratch and linear probe trained on one
label subset, the encoder they start from left as it was, the same settings for both trained
methods but their initial weights, and bad requests refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from linear_eval.encoders import load_encoder
from linear_eval.finetune_run import (
    FINE_TUNED,
    FROM_SCRATCH,
    LINEAR_PROBE,
    finetune,
    finetune_sweep,
    indices_digest,
)
from linear_eval.label_subset import read_subset
from simclr.errors import ConfigError
from simclr.run.torch_files import read_torch_file

pytestmark = pytest.mark.usefixtures("single_thread")

FAST = [
    "finetune.epochs=1",
    "finetune.batch_size=8",
    "finetune.progress_bar=false",
    "linear.weight_decays=[0.0]",
]


def _run(run_dir: Path, synthetic, *overrides: str) -> tuple:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config, *FAST, *overrides)
    return loaded, config


def test_the_three_methods_train_on_the_same_labels(run_dir: Path, synthetic, bit_identical):
    loaded, config = _run(run_dir, synthetic, "finetune.labels_per_class=3")
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


def test_scratch_and_pretrained_share_every_setting_but_the_initial_weights(synthetic) -> None:
    # run_dir's untrained f is torch's init under seed 0: the scratch baseline's own weights
    run_dir = synthetic.make_run("seed5", seed=5)
    loaded, config = _run(run_dir, synthetic, "finetune.labels_per_class=2")
    report = finetune(loaded, config)
    resolved = {}
    for method in (FINE_TUNED, FROM_SCRATCH):
        path = Path(report["results"][method]["run_dir"]) / "config.yaml"
        resolved[method] = OmegaConf.to_container(OmegaConf.load(path))
    tuned, scratch = resolved[FINE_TUNED], resolved[FROM_SCRATCH]
    assert tuned["init_fingerprint"] == loaded.extractor.fingerprint
    assert scratch["init_fingerprint"] != tuned["init_fingerprint"]
    assert {k for k in tuned if tuned[k] != scratch[k]} == {"init", "init_fingerprint"}
    assert tuned["resolved_epochs"] == 1 and tuned["finetune"]["labels_per_class"] == 2


def test_the_paper_epochs_are_the_default(run_dir: Path, synthetic) -> None:
    from linear_eval.finetune_run import resolved_epochs

    config = synthetic.eval_config(None)
    assert resolved_epochs(config, 600, 60_000) == 60  # 1 % of the labels
    assert resolved_epochs(config, 6_000, 60_000) == 30  # 10 %


def test_more_labels_per_class_than_a_class_has_fails_before_any_work(
    run_dir: Path, synthetic
) -> None:
    loaded, config = _run(run_dir, synthetic, "finetune.labels_per_class=17")  # 16 per class
    with pytest.raises(ConfigError, match="labels_per_class=17.*has only 16") as error:
        finetune(loaded, config)
    assert "\n" not in str(error.value)
    assert not (run_dir / "finetune").exists()


def test_the_sweep_writes_every_fraction_and_the_plot(run_dir: Path, synthetic) -> None:
    loaded, config = _run(
        run_dir, synthetic, "finetune.sweep_fractions=[0.125,0.25]", "finetune.baselines=[linear]"
    )
    reports, sweep_dir = finetune_sweep(loaded, config)
    assert [r["labels"]["count"] for r in reports] == [8, 16]
    assert [r["epochs"] for r in reports] == [1, 1]  # finetune.epochs=1 for every fraction
    summary = json.loads((sweep_dir / "sweep.json").read_text())
    assert [run["labels"]["label_fraction"] for run in summary["runs"]] == [0.125, 0.25]
    assert set(summary["runs"][0]["results"]) == {FINE_TUNED, LINEAR_PROBE}
    assert (sweep_dir / "label_efficiency.png").stat().st_size > 0


def test_the_sweep_trains_each_fraction_for_its_own_epochs(run_dir: Path, synthetic) -> None:
    overrides = ["finetune.sweep_fractions=[0.125,0.25]", "finetune.sweep_epochs=[2,1]"]
    loaded, config = _run(run_dir, synthetic, *overrides, "finetune.baselines=[]")
    reports, _ = finetune_sweep(loaded, config)
    assert [r["epochs"] for r in reports] == [2, 1]
    assert [r["results"][FINE_TUNED]["steps"] for r in reports] == [2 * 1, 1 * 2]  # 8, 16 rows


def test_a_written_label_subset_trains_another_run_on_the_same_labels(
    run_dir: Path, synthetic, tmp_path: Path
) -> None:
    loaded, config = _run(
        run_dir, synthetic, "finetune.labels_per_class=2", "finetune.baselines=[]"
    )
    first = finetune(loaded, config, tmp_path / "first")
    other = synthetic.make_run("seed5", seed=5)  # another encoder, and another seed
    loaded, config = _run(other, synthetic, f"finetune.label_subset={tmp_path / 'first'}", "seed=3")
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
    loaded, config = _run(run_dir, synthetic, f"finetune.label_subset={path}")
    record = {"dataset": config.data.name, "split": "train", "indices": [0, 1]}
    path.write_text(json.dumps({**record, **change}))
    with pytest.raises(ConfigError, match=message) as error:
        finetune(loaded, config, tmp_path / "out")
    assert "\n" not in str(error.value) and not (tmp_path / "out").exists()
