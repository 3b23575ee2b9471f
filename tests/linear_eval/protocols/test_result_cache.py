"""Tests of linear_eval/protocols/result_cache.py: protocol results stored beside the features, read
back by a second evaluation with the same settings, recomputed when anything they depend on
changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from linear_eval.features.cache import Features
from linear_eval.features.encoders import load_encoder
from linear_eval.features.float32_rows import Float32Rows
from linear_eval.protocols import evaluate as evaluate_module
from linear_eval.protocols import linear as linear_module
from linear_eval.protocols.evaluate import evaluate_extractor
from linear_eval.protocols.result_cache import cached_result, result_key, result_path

pytestmark = pytest.mark.usefixtures("single_thread")
NO_FEW_LABELS = "few_labels.fractions=[]"


def _features(key: str, sha: str = "0" * 64) -> Features:
    meta = {"key": key, "arrays": {"features.npy": {"shape": [2, 2], "sha256": sha}}}
    rows = Float32Rows(np.zeros((2, 2), np.float16))
    return Features(rows, np.zeros(2), np.arange(2), meta, Path("."), from_cache=True)


def test_the_key_changes_with_the_protocol_the_features_and_every_setting() -> None:
    train, test = _features("a" * 64), _features("b" * 64)
    settings = {"k": [10, 200], "temperature": 0.1}
    key = result_key("knn", train, test, settings)
    assert key == result_key("knn", _features("a" * 64), _features("b" * 64), dict(settings))
    others = [
        result_key("linear", train, test, settings),
        result_key("knn", _features("c" * 64), test, settings),
        result_key("knn", train, _features("c" * 64), settings),
        result_key("knn", _features("a" * 64, "1" * 64), test, settings),  # recomputed features
        result_key("knn", train, test, {**settings, "k": [10]}),
        result_key("knn", train, test, {**settings, "temperature": 0.07}),
    ]
    assert len({key, *others}) == 1 + len(others)


def test_a_result_is_computed_once_then_read_and_a_damaged_one_recomputed(tmp_path: Path) -> None:
    train, test = _features("a" * 64), _features("b" * 64)
    calls = []

    def compute() -> dict:
        calls.append(1)
        return {"linear": {"top1": 0.1 + 0.2, "held_out_top1": {"1e-06": 1 / 3}}}

    first, cached = cached_result(tmp_path, "linear", train, test, {"seed": 0}, compute)
    assert not cached and len(calls) == 1
    again, cached = cached_result(tmp_path, "linear", train, test, {"seed": 0}, compute)
    assert cached and again == first and len(calls) == 1  # floats read back bit for bit
    path = result_path(tmp_path, result_key("linear", train, test, {"seed": 0}))
    assert path.parent == tmp_path / "results" and path.is_file()
    path.write_text('{"key": "')  # a half-written file (not from atomic_write)
    assert cached_result(tmp_path, "linear", train, test, {"seed": 0}, compute) == (first, False)
    assert len(calls) == 2


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often each protocol really ran: linear-layer fits and kNN searches."""
    counts = {"fits": 0, "knn": 0}
    fit, knn = linear_module.train_linear_classifier, evaluate_module.knn_classify

    def counted_fit(*args, **kwargs):
        counts["fits"] += 1
        return fit(*args, **kwargs)

    def counted_knn(*args, **kwargs):
        counts["knn"] += 1
        return knn(*args, **kwargs)

    monkeypatch.setattr(linear_module, "train_linear_classifier", counted_fit)
    monkeypatch.setattr(evaluate_module, "knn_classify", counted_knn)
    return counts


def test_a_second_evaluation_reads_the_results_and_a_changed_setting_refits(
    run_dir: Path, synthetic, counted: dict[str, int]
) -> None:
    loaded = load_encoder(run_dir)
    cache = run_dir / "features"

    def run(*overrides: str) -> dict:  # few labels off: their fits are counted in their tests
        config = synthetic.eval_config(loaded.pretrain_config, NO_FEW_LABELS, *overrides)
        return evaluate_extractor(loaded.extractor, config, "all", cache)

    first = run()
    assert counted == {"fits": 3, "knn": 1}  # two weight decays, then the final fit
    assert first["results_from_cache"] == []
    second = run()
    assert counted == {"fits": 3, "knn": 1}  # nothing refitted
    assert second["results_from_cache"] == ["knn", "linear"]
    assert second["knn"] == first["knn"] and second["linear"] == first["linear"]
    assert second["linear_seconds"] == first["linear_seconds"]  # the fit's, recorded

    run("linear.epochs=4")  # a probe setting: the probe refits, kNN is still read
    assert counted == {"fits": 6, "knn": 1}
    run("seed=3")
    assert counted == {"fits": 9, "knn": 1}
    run("knn.temperature=0.2")
    assert counted == {"fits": 9, "knn": 2}
    run("knn.k=[5,1,200]")  # the same k in another order: the same result
    assert counted == {"fits": 9, "knn": 2}
    run("linear.augment_epochs=3")  # only the crop-and-flip probe reads it
    assert counted == {"fits": 9, "knn": 2}


def test_the_crop_and_flip_probe_is_cached_too(
    run_dir: Path, synthetic, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config, NO_FEW_LABELS)
    probe, calls = evaluate_module.augmented_linear_probe, []
    monkeypatch.setattr(
        evaluate_module,
        "augmented_linear_probe",
        lambda *args, **kwargs: calls.append(1) or probe(*args, **kwargs),
    )
    cache = run_dir / "features"
    first = evaluate_extractor(loaded.extractor, config, "linear", cache, augmented=True)
    second = evaluate_extractor(loaded.extractor, config, "linear", cache, augmented=True)
    assert len(calls) == 1 and second["linear_augmented"] == first["linear_augmented"]
    assert second["results_from_cache"] == ["linear", "linear_augmented"]
