"""Tests of ablation/runner.py: sweeps, re-runs, failures and the results log."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from ablation.config import load_ablation
from ablation.report import write_markdown, write_plot
from ablation.results import latest_rows, read_results
from ablation.runner import _pretrain_or_resume, run_sweep
from simclr.data.registry import DATASETS
from simclr.errors import ConfigError


@pytest.mark.slow
def test_two_run_sweep_writes_results_and_a_rerun_skips_both(
    tmp_path, fashion_mnist_root, write_ablation
):
    path = write_ablation(
        fashion_mnist_root, include_base=False, grid={"loss.temperature": [0.1, 0.5]}
    )
    config = load_ablation(path)
    config.reference = "loss.temperature=0.5"
    result = run_sweep(config)
    out = tmp_path / "sweeps" / "tiny"
    rows = read_results(out / "results.csv")
    assert [row["run"] for row in rows] == ["loss.temperature=0.1", "loss.temperature=0.5"]
    assert all(row["status"] == "ok" for row in rows)
    for row in rows:
        assert 0.0 <= float(row["knn_top1"]) <= 1.0
        assert float(row["knn_top1"]) <= float(row["knn_top5"])
        assert 0.0 <= float(row["linear_top1"]) <= 1.0
    # each run used its own temperature
    saved = OmegaConf.load(out / "runs" / "loss.temperature=0.1" / "config.yaml")
    assert saved.loss.temperature == 0.1
    markdown = write_markdown(config, result.rows, out / "results.md")
    assert "loss.temperature=0.1" in markdown and "+0.00" in markdown  # the reference's own Δ
    plot = write_plot(config, result.rows, out / "results.png")
    assert plot is not None and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    calls = []
    again = run_sweep(config, pretrain_fn=lambda *a, **k: calls.append(a))
    assert again.skipped == ["loss.temperature=0.1", "loss.temperature=0.5"]
    assert calls == [] and again.ran == []
    assert len(read_results(out / "results.csv")) == 2


@pytest.mark.slow
def test_a_failing_run_is_recorded_and_the_sweep_goes_on(
    tmp_path, fashion_mnist_root, write_ablation
):
    # 10 images cannot fill a batch of 32: that run fails when its data is set up
    runs = [{"name": "too-few-images", "overrides": ["data.subset=10"]}, {"name": "fine"}]
    path = write_ablation(fashion_mnist_root, include_base=False, runs=runs)
    result = run_sweep(load_ablation(path), log=lambda line: None)
    assert result.failed == ["too-few-images"] and result.ran == ["fine"]
    rows = {row["run"]: row for row in read_results(tmp_path / "sweeps" / "tiny" / "results.csv")}
    assert rows["too-few-images"]["status"] == "failed"
    assert "batch_size=32" in rows["too-few-images"]["error"]
    assert rows["fine"]["status"] == "ok"


def test_unknown_key_is_rejected_before_any_run(tmp_path, write_ablation):
    runs = [{"name": "ok", "overrides": []}, {"name": "typo", "overrides": ["loss.tempreture=1"]}]
    path = write_ablation(tmp_path / "data", runs=runs)
    started = []
    with pytest.raises(ConfigError, match="loss.tempreture"):
        run_sweep(load_ablation(path), pretrain_fn=lambda *a, **k: started.append(a))
    assert started == []
    assert not (tmp_path / "sweeps" / "tiny").exists()


def test_a_missing_logger_package_stops_the_sweep_before_any_run(
    tmp_path, tiny_budget, write_ablation, monkeypatch
):
    import simclr.run.loggers

    monkeypatch.setattr(simclr.run.loggers, "_importable", lambda module: module != "mlflow")
    budget = [*tiny_budget(tmp_path / "data"), "trainer.loggers=[csv,mlflow]"]
    path = write_ablation(tmp_path / "data", base_overrides=budget, runs=[{"name": "one"}])
    started = []
    with pytest.raises(ConfigError, match="^trainer.loggers: 'mlflow' needs the mlflow package"):
        run_sweep(load_ablation(path), pretrain_fn=lambda *a, **k: started.append(a))
    assert started == []
    assert not (tmp_path / "sweeps" / "tiny").exists()


@pytest.mark.slow
def test_each_runs_evaluation_is_logged_to_its_own_runs(tmp_path, synthetic, monkeypatch) -> None:
    from mlflow.tracking import MlflowClient

    # a dataset that holds val out of train, where a sweep measures (eval.measure_on=val)
    held_out = synthetic.spec_with_val()
    monkeypatch.setitem(DATASETS, synthetic.name, held_out)

    path = tmp_path / "tiny.yaml"
    content = {
        "name": "tiny",
        "out_dir": str(tmp_path / "sweeps"),
        "base_overrides": [
            *synthetic.pretrain_overrides,
            f"data.root={tmp_path / 'data'}",
            "trainer.max_steps=2",
            "trainer.log_every_n_steps=1",
            "trainer.loggers=[csv,mlflow]",
        ],
        "grid": {"loss.temperature": [0.2, 0.5]},
        "include_base": False,
        "eval": {"linear": False},
    }
    path.write_text(OmegaConf.to_yaml(OmegaConf.create(content)))
    result = run_sweep(load_ablation(path), log=lambda line: None)
    assert result.ran == ["loss.temperature=0.2", "loss.temperature=0.5"]
    runs_dir = tmp_path / "sweeps" / "tiny" / "runs"
    client = MlflowClient(f"sqlite:///{runs_dir.resolve() / 'mlflow.db'}")  # one store, 2 runs
    for row in result.rows:
        run_dir = runs_dir / row["run"]
        run_id = json.loads((run_dir / "loggers.json").read_text())["mlflow"]["run_id"]
        assert client.get_run(run_id).info.run_name == row["run"]
        (logged,) = client.get_metric_history(run_id, "eval/knn_top1_k200")
        assert (logged.step, logged.value) == (2, pytest.approx(float(row["knn_top1"])))
        assert client.get_metric_history(run_id, "train/loss")  # pretraining's, same run
        with open(run_dir / "csv" / "version_1" / "metrics.csv", newline="") as handle:
            (logged_row,) = csv.DictReader(handle)
        assert float(logged_row["eval/knn_top5_k200"]) == pytest.approx(float(row["knn_top5"]))


def test_a_sweep_records_each_run_and_retries_only_failed_ones(tmp_path, write_ablation):
    runs = [{"name": "good", "overrides": []}, {"name": "bad", "overrides": []}]
    config = load_ablation(write_ablation(tmp_path / "data", include_base=False, runs=runs))
    pretrained, failing = [], {"bad"}

    def fake_pretrain(run_config, resume_dir=None, quiet=False):
        pretrained.append(run_config.run.name)

    def fake_evaluate(run_dir: Path, run_config, sweep) -> dict:
        if run_dir.name in failing:
            raise RuntimeError("no features")
        return {"knn_top1": 0.5, "linear_top1": 0.25}

    first = run_sweep(config, fake_evaluate, fake_pretrain, log=lambda line: None)
    assert (first.ran, first.failed, first.skipped) == (["good"], ["bad"], [])
    failing.clear()
    second = run_sweep(config, fake_evaluate, fake_pretrain, log=lambda line: None)
    assert (second.ran, second.failed, second.skipped) == (["bad"], [], ["good"])
    assert pretrained == ["good", "bad", "bad"]
    rows = read_results(tmp_path / "sweeps" / "tiny" / "results.csv")
    assert [(row["run"], row["status"]) for row in rows] == [
        ("good", "ok"),
        ("bad", "failed"),
        ("bad", "ok"),
    ]
    assert rows[1]["error"] == "RuntimeError: no features"
    assert latest_rows(rows)["bad"]["status"] == "ok"  # the retry's row wins


def test_interrupted_run_resumes_and_finished_pretraining_is_not_redone(tmp_path):
    calls = []

    def fake_pretrain(config, resume_dir=None, quiet=False):
        calls.append(resume_dir)

    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    torch.save({"global_step": 3}, run_dir / "checkpoints" / "last.ckpt")
    _pretrain_or_resume(None, run_dir, fake_pretrain)
    assert calls == [run_dir]  # resumed from its last.ckpt

    (run_dir / "summary.json").write_text("{}")
    (run_dir / "encoder.pt").write_bytes(b"x")
    _pretrain_or_resume(None, run_dir, fake_pretrain)
    assert calls == [run_dir]  # finished: only the evaluation is left

    started = tmp_path / "started"
    started.mkdir()
    (started / "config.yaml").write_text("x")
    _pretrain_or_resume(None, started, fake_pretrain)
    assert calls[-1] is None  # a fresh start, the earlier attempt kept aside
    assert [p.name.split(".")[0] for p in tmp_path.glob("started.abandoned-*")] == ["started"]


def test_a_damaged_last_ckpt_is_read_safely_and_the_run_refused_in_one_line(
    tmp_path, write_ablation
):
    """Lightning would load it itself and print a traceback; the sweep reads it first."""
    runs = [{"name": "damaged", "overrides": []}, {"name": "good", "overrides": []}]
    config = load_ablation(write_ablation(tmp_path / "data", include_base=False, runs=runs))
    checkpoint = tmp_path / "sweeps" / "tiny" / "runs" / "damaged" / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"half a checkpoint")
    pretrained, lines = [], []

    def fake_pretrain(run_config, resume_dir=None, quiet=False):
        pretrained.append(run_config.run.name)

    result = run_sweep(config, lambda *a: {"knn_top1": 0.5}, fake_pretrain, log=lines.append)
    assert (result.ran, result.failed) == (["good"], ["damaged"]) and pretrained == ["good"]
    failure = [line for line in lines if "damaged failed" in line]
    assert failure == [
        f"[ablate] run damaged failed: ConfigError: run damaged: resuming from {checkpoint}: "
        "not a readable PyTorch file (RuntimeError); remove it and run the sweep again to train "
        "this run afresh"
    ]
    assert not any("Traceback" in line for line in lines)
    assert checkpoint.read_bytes() == b"half a checkpoint"

    checkpoint.unlink()  # as the line says
    result = run_sweep(config, lambda *a: {"knn_top1": 0.5}, fake_pretrain, log=lines.append)
    assert (result.ran, result.failed) == (["damaged"], []) and pretrained == ["good", "damaged"]


@pytest.mark.slow
def test_a_sweep_of_two_runs_completes_under_two_process_ddp(
    tmp_path, fashion_mnist_root, tiny_budget, write_ablation
):
    import os
    import subprocess
    import sys

    import torch

    budget = [o for o in tiny_budget(fashion_mnist_root) if not o.startswith("trainer.devices")]
    path = write_ablation(
        fashion_mnist_root,
        include_base=False,
        base_overrides=[*budget, "trainer.devices=2", "trainer.strategy=ddp"],
        grid={"loss.temperature": [0.1, 0.5]},
    )
    env = {k: v for k, v in os.environ.items() if k != "SIMCLR_RUN_NAME"}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, "-m", "simclr.cli", "ablate", "--config", str(path)],
        cwd=Path(__file__).resolve().parents[2],  # the repository root
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "sweeps" / "tiny"
    rows = read_results(out / "results.csv")  # one row a run: rank 0 alone records
    assert [row["run"] for row in rows] == ["loss.temperature=0.1", "loss.temperature=0.5"]
    assert all(row["status"] == "ok" and row["knn_top1"] for row in rows)
    # each run trained on both processes: 3 steps of the global batch of 2 x 32 images
    assert all(row["images_seen"] == str(3 * 2 * 32) for row in rows)
    assert done.stdout.count("results:") == 1  # one report
    for row in rows:
        run_dir = out / "runs" / row["run"]
        checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
        assert checkpoint["global_step"] == 3
    assert sorted(p.name for p in (out / "runs").iterdir()) == [row["run"] for row in rows]
