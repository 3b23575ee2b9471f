"""Tests of linear_eval/protocols/report.py: the table of ``simclr eval`` and its eval.json, and
the command's work: evaluate, print, write, log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linear_eval.features.encoders import PRETRAINED, load_encoder
from linear_eval.features.gallery import load_evaluation
from linear_eval.protocols.evaluate import evaluate
from linear_eval.protocols.report import EVAL_FILE, format_table, report_evaluation, write_report


def _result(knn_top1: float, linear_top1: float, feature_dim: int, **extra) -> dict:
    """One extractor's result as evaluate writes it, on a gallery of 64 training images."""
    return {
        "feature_dim": feature_dim,
        "train": {"split": "train", "images": 64},
        "test": {"split": "test", "images": 32},
        "knn": {
            "5": {"top1": knn_top1, "top5": 1.0, "neighbours": 5},
            "200": {"top1": knn_top1 / 2, "top5": 1.0, "neighbours": 64},
        },
        "linear": {"top1": linear_top1, "top5": 0.96875},
        **extra,
    }


def _report(fingerprint: str = "f" * 64, **results: dict) -> dict:
    return {"dataset": "synthetic_eval", "encoder_fingerprint": fingerprint, "results": results}


def test_the_table_sets_every_extractor_side_by_side() -> None:
    augmented = {"linear_augmented": {"top1": 0.5, "top5": 0.75}}
    report = _report(
        **{
            "pretrained": _result(0.8125, 0.71875, 512, **augmented),
            "raw pixels": _result(0.9375, 0.96875, 256),
        }
    )
    lines = format_table(report).splitlines()
    assert lines[0] == "synthetic_eval: train on train (64 images), test on test (32 images)"
    assert lines[1].split() == ["metric", "(%)", "pretrained", "raw", "pixels"]
    assert set(lines[2]) == {"-"} and len(lines[2]) == len(lines[1])
    cells = {line.rsplit(None, 2)[0].strip(): line.split()[-2:] for line in lines[3:]}
    assert cells["kNN k=5 top-1"] == ["81.25", "93.75"]
    # k = 200 on a gallery of 64: every image votes, and the table says so
    assert cells["kNN k=200 (all 64) top-1"] == ["40.62", "46.88"]
    assert cells["linear top-1"] == ["71.88", "96.88"]
    assert cells["linear top-5"] == ["96.88", "96.88"]
    assert cells["linear crop+flip top-1"] == ["50.00", "-"]  # measured for one column only
    assert cells["feature dim"] == ["512", "256"]


@pytest.mark.usefixtures("single_thread")
def test_eval_json_keeps_earlier_results_of_the_same_encoder(run_dir: Path, synthetic) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config, "baselines.random_init=false")
    write_report(evaluate(loaded, config, "knn", run_dir / "cache"), run_dir)
    path = write_report(evaluate(loaded, config, "linear", run_dir / "cache"), run_dir)
    saved = json.loads(path.read_text())
    assert {"knn", "linear"} <= set(saved["results"][PRETRAINED])


def test_eval_json_of_another_encoder_replaces_the_old_one(tmp_path: Path) -> None:
    write_report(_report("a" * 64, pretrained={"knn": {"5": {"top1": 0.5}}}), tmp_path)
    path = write_report(_report("b" * 64, pretrained={"linear": {"top1": 0.25}}), tmp_path)
    assert path == tmp_path / EVAL_FILE
    saved = json.loads(path.read_text())
    assert saved["encoder_fingerprint"] == "b" * 64
    assert saved["results"] == {"pretrained": {"linear": {"top1": 0.25}}}


@pytest.mark.usefixtures("single_thread")
def test_the_evaluation_is_printed_and_written_where_asked(
    run_dir: Path, synthetic, tmp_path: Path, capsys
) -> None:
    overrides = [*synthetic.eval_overrides, "baselines.random_init=false", "knn.k=[5]"]
    loaded, config = load_evaluation(run_dir, None, overrides)
    report = report_evaluation(loaded, config, "knn", tmp_path)
    lines = capsys.readouterr().out.splitlines()
    table = format_table(report).splitlines()
    assert lines[: len(table)] == table and lines[len(table)] == f"wrote {tmp_path / EVAL_FILE}"
    assert all(line.startswith("logged the pretrained") for line in lines[len(table) + 1 :])
    assert json.loads((tmp_path / EVAL_FILE).read_text())["results"] == report["results"]
    assert set(report["results"]) == {PRETRAINED, "raw pixels"} and report["mode"] == "knn"
