"""benchmarks/quality.py: one tiny run of every variant is evaluated."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
def test_quality_runs_one_step_per_seed_and_summarises_the_seeds(
    tmp_path: Path, fashion_mnist_root: Path, run_script, has_lightly: bool
) -> None:
    report = run_script(
        "quality.py",
        *["--steps", "1", "--batch-size", "8", "--workers", "0", "--train-subset", "16"],
        *["--eval-subset", "40", "--k", "5", "3", "--linear", "--seeds", "0", "1"],
        *["--data-root", str(fashion_mnist_root), "--work-dir", str(tmp_path / "runs")],
        out=tmp_path / "quality.json",
    )
    expected = {"project", "random", "raw"} | ({"lightly"} if has_lightly else set())
    assert set(report["results"]) == expected
    assert set(report["per_seed"]) == {"0", "1"}
    for method, summary in report["results"].items():
        runs = [report["per_seed"][seed][method] for seed in ("0", "1")]
        for k in ("5", "3"):
            values = [run["knn_top1"][k] for run in runs]
            assert all(0.0 <= value <= 1.0 for value in values)
            # mean and sample sd of two values, by hand
            assert summary["knn_top1"][k]["mean"] == pytest.approx(sum(values) / 2)
            assert summary["knn_top1"][k]["sd"] == pytest.approx(
                abs(values[0] - values[1]) / 2**0.5
            )
        linear = [run["linear_top1"] for run in runs]
        assert summary["linear_top1"]["values"] == linear
    # raw pixels have no seed in their kNN: both seeds agree exactly
    raw = [report["per_seed"][seed]["raw"]["knn_top1"] for seed in ("0", "1")]
    assert raw[0] == raw[1]
    # the project pretrained once per seed; its run folders are removed afterwards
    assert not list((tmp_path / "runs").glob("project-*"))
    assert (
        report["per_seed"]["0"]["project"]["final_loss"]
        != report["per_seed"]["1"]["project"]["final_loss"]
    )


def test_lightly_pretrains_on_the_rows_the_project_does(
    tmp_path: Path, fashion_mnist_root: Path
) -> None:
    """The images lightly's recipe gets are the data module's training images: the training
    split less its held-out validation rows, then the seeded subset."""
    import torch

    from simclr.data.datamodule import SimCLRDataModule
    from simclr.data.held_out import held_out_rows
    from simclr.data.readers import read_fashion_mnist
    from simclr.data.splits import subset_indices
    from tests.benchmarks.conftest import load_benchmark

    quality = load_benchmark("quality")
    args = quality.parse_args(
        ["--data-root", str(fashion_mnist_root), "--work-dir", str(tmp_path), "--seeds", "3"]
    )
    args.seed, args.train_subset = 3, 500
    config = quality.project_config(args, "rows")
    images = quality.training_images(config)

    module = SimCLRDataModule(config.data, seed=3)
    module.setup()
    assert torch.equal(images, module.train_set.images)
    # by hand: the val rows out (10 % of each class), then 500 of the rest drawn with seed 3
    full = read_fashion_mnist("train", root=str(fashion_mnist_root), download=False)
    kept, held = held_out_rows(full.labels, 0.1)
    chosen = [kept[i] for i in subset_indices(len(kept), 500, 3)]
    assert not set(chosen) & set(held)
    assert torch.equal(images, full.images[chosen])


@pytest.mark.parametrize(("measure_on", "measured"), [("val", "val"), ("test", "test")])
def test_quality_measures_on_the_split_asked_for(
    tmp_path: Path, fashion_mnist_root: Path, measure_on: str, measured: str
) -> None:
    from linear_eval.protocols.evaluate import labelled_splits
    from tests.benchmarks.conftest import load_benchmark

    quality = load_benchmark("quality")
    args = quality.parse_args(
        ["--data-root", str(fashion_mnist_root), "--work-dir", str(tmp_path)]
        + ["--measure-on", measure_on]
    )
    args.seed = 0
    config = quality.project_config(args, "split")
    assert labelled_splits(quality.eval_config(args, config)) == ("train", measured)
