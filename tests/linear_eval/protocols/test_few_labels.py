"""Tests of linear_eval/protocols/few_labels.py: kNN and the linear probe on class-balanced,
seeded parts of the training labels, beside the baselines on the same rows, in eval's report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from linear_eval.features.encoders import PRETRAINED, RANDOM_INIT, RAW_PIXELS, load_encoder
from linear_eval.features.labelled import class_balanced_subset
from linear_eval.protocols.evaluate import evaluate
from linear_eval.protocols.few_labels import label_sets
from linear_eval.protocols.report import format_table
from simclr.errors import ConfigError

pytestmark = pytest.mark.usefixtures("single_thread")
FEW = ["few_labels.fractions=[0.25,1.0]", "few_labels.per_class=[2]"]


def nearest_neighbour_top1(bank: np.ndarray, bank_labels, queries: np.ndarray, labels) -> float:
    """1-NN by cosine, brute force: the label of the most similar bank row."""
    bank = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    predicted = bank_labels[np.argmax(queries @ bank.T, axis=1)]
    return float(np.mean(predicted == labels))


def test_every_extractor_is_measured_on_the_same_class_balanced_rows(
    run_dir: Path, synthetic
) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config, *FEW)
    report = evaluate(loaded, config, "all", run_dir / "cache")
    assert list(report["results"]) == [PRETRAINED, RANDOM_INIT, RAW_PIXELS]
    for result in report["results"].values():
        few = result["few_labels"]
        # 64 training images, 16 a class: 25 % gives 4 a class, 100 % all, 2/class 8 images
        assert {name: few[name]["labels"] for name in few} == {"25%": 16, "100%": 64, "2/class": 8}
        assert set(few["25%"]["knn"]) == {"1", "5", "200"} and "top1" in few["25%"]["linear"]
        assert few["2/class"]["knn"]["200"]["neighbours"] == 8  # the bank is the 8 labelled rows

    # 100 % of the labels is the full protocol: the same rows, the same probe, the same kNN
    raw = report["results"][RAW_PIXELS]
    assert raw["few_labels"]["100%"]["linear"]["top1"] == raw["linear"]["top1"]
    assert raw["few_labels"]["100%"]["knn"] == raw["knn"]


def test_the_few_label_knn_is_the_brute_force_nearest_neighbour_of_the_chosen_rows(
    run_dir: Path, synthetic
) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config, *FEW, "baselines.random_init=false")
    result = evaluate(loaded, config, "knn", run_dir / "cache")["results"][PRETRAINED]
    train, test = (Path(result[split]["cache"]) for split in ("train", "test"))
    train_h, test_h = (
        np.load(folder / "features.npy").astype(np.float64) for folder in (train, test)
    )
    train_y, test_y = np.load(train / "labels.npy"), np.load(test / "labels.npy")
    rows = class_balanced_subset(train_y, fraction=0.25, seed=config.seed)
    expected = nearest_neighbour_top1(train_h[rows], train_y[rows], test_h, test_y)
    assert result["few_labels"]["25%"]["knn"]["200"]["neighbours"] == len(rows) == 16
    assert result["few_labels"]["25%"]["knn"]["1"]["top1"] == pytest.approx(expected, abs=1e-6)
    assert "linear" not in result["few_labels"]["25%"]  # mode knn


def test_the_table_has_a_row_per_protocol_and_setting(run_dir: Path, synthetic) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config, *FEW)
    table = format_table(evaluate(loaded, config, "linear", run_dir / "cache"))
    assert "linear top-1, 25% labels (16)" in table
    assert "linear top-1, 2/class labels (8)" in table
    assert "kNN" not in table


def test_more_labels_per_class_than_a_class_has_is_refused_before_extraction(
    run_dir: Path, synthetic
) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config, "few_labels.per_class=[17]")
    with pytest.raises(ConfigError, match=r"few_labels\.per_class=17 .* only 16") as error:
        evaluate(loaded, config, "all", run_dir / "cache")
    assert "\n" not in str(error.value) and not (run_dir / "cache").exists()


@pytest.mark.parametrize(
    "override, key",
    [
        ("few_labels.fractions=[0.0]", "few_labels.fractions"),
        ("few_labels.fractions=[1.5]", "few_labels.fractions"),
        ("few_labels.per_class=[0]", "few_labels.per_class"),
        ("few_labels.per_class=[1.5]", "few_labels.per_class"),
    ],
)
def test_bad_few_label_settings_are_one_line_naming_the_key(
    synthetic, override: str, key: str
) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as error:
        synthetic.eval_config(None, override)
    assert "\n" not in str(error.value)


def test_label_sets_are_seeded_by_the_evaluation_seed(synthetic) -> None:
    labels = synthetic.images("train").labels.numpy()
    first = label_sets(labels, synthetic.eval_config(None, "seed=1"))
    again = label_sets(labels, synthetic.eval_config(None, "seed=1"))
    other = label_sets(labels, synthetic.eval_config(None, "seed=2"))
    assert list(first) == ["1%", "10%"]  # the defaults: 1 % and 10 % (at least one a class)
    assert all(np.array_equal(first[name], again[name]) for name in first)
    assert not np.array_equal(first["10%"], other["10%"])
    assert [np.bincount(labels[rows]).tolist() for rows in first.values()] == [[1] * 4, [2] * 4]
