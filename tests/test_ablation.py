"""Tests of the ablation runner (ablation/): sweeps, re-runs, failures, reports and plots."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ablation.config import load_ablation, plan_runs
from ablation.report import write_markdown, write_plot
from ablation.runner import _pretrain_or_resume, read_results, run_sweep
from simclr.cli import main
from simclr.config import ConfigError


def tiny_budget(root: Path) -> list[str]:
    return [
        f"data.root={root}",
        "data.subset=128",
        "data.val_subset=64",
        "data.batch_size=32",
        "data.num_workers=0",
        "data.download=false",
        "trainer.max_steps=3",
        "trainer.progress_bar=false",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
    ]


def write_ablation(directory: Path, root: Path, **fields) -> Path:
    content = {
        "name": "tiny",
        "out_dir": str(directory / "sweeps"),
        "base_overrides": tiny_budget(root),
        "eval": {"train_subset": 128, "test_subset": 64},
        **fields,
    }
    path = directory / "tiny.yaml"
    path.write_text(OmegaConf.to_yaml(OmegaConf.create(content)))
    return path


@pytest.mark.slow
def test_two_run_sweep_writes_results_and_a_rerun_skips_both(tmp_path, fashion_mnist_root):
    path = write_ablation(
        tmp_path, fashion_mnist_root, include_base=False, grid={"loss.temperature": [0.1, 0.5]}
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
def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, fashion_mnist_root):
    # 10 images cannot fill a batch of 32: that run fails when its data is set up
    runs = [{"name": "too-few-images", "overrides": ["data.subset=10"]}, {"name": "fine"}]
    path = write_ablation(tmp_path, fashion_mnist_root, include_base=False, runs=runs)
    result = run_sweep(load_ablation(path), log=lambda line: None)
    assert result.failed == ["too-few-images"] and result.ran == ["fine"]
    rows = {row["run"]: row for row in read_results(tmp_path / "sweeps" / "tiny" / "results.csv")}
    assert rows["too-few-images"]["status"] == "failed"
    assert "batch_size=32" in rows["too-few-images"]["error"]
    assert rows["fine"]["status"] == "ok"


def test_unknown_key_is_rejected_before_any_run(tmp_path, capsys):
    runs = [{"name": "ok", "overrides": []}, {"name": "typo", "overrides": ["loss.tempreture=1"]}]
    path = write_ablation(tmp_path, tmp_path / "data", runs=runs)
    started = []
    with pytest.raises(ConfigError, match="loss.tempreture"):
        run_sweep(load_ablation(path), pretrain_fn=lambda *a, **k: started.append(a))
    assert started == []
    assert not (tmp_path / "sweeps" / "tiny").exists()
    assert main(["ablate", "--config", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "loss.tempreture" in error


def test_plan_of_grid_and_runs(tmp_path):
    path = write_ablation(
        tmp_path,
        tmp_path,
        grid={"encoder.name": ["resnet18", "resnet34"], "encoder.residual": [True, False]},
        runs=[{"name": "hot", "overrides": ["loss.temperature=1.0"]}],
    )
    names = [run.name for run in plan_runs(load_ablation(path))]
    assert names == [
        "base",
        "encoder.name=resnet18,encoder.residual=true",
        "encoder.name=resnet18,encoder.residual=false",
        "encoder.name=resnet34,encoder.residual=true",
        "encoder.name=resnet34,encoder.residual=false",
        "hot",
    ]


def test_interrupted_run_resumes_and_finished_pretraining_is_not_redone(tmp_path):
    calls = []

    def fake_pretrain(config, resume_dir=None, quiet=False):
        calls.append(resume_dir)

    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"x")
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


def test_markdown_ranks_best_first_with_differences_to_the_reference(tmp_path):
    path = write_ablation(
        tmp_path, tmp_path, include_base=False, grid={"head.type": ["none", "mlp"]}
    )
    config = load_ablation(path)
    config.reference = "head.type=mlp"
    rows = [
        {
            "run": "head.type=none",
            "overrides": "head.type=none",
            "status": "ok",
            "knn_top1": "0.70",
            "linear_top1": "0.75",
            "final_loss": "5.0",
            "seconds": "1",
        },
        {
            "run": "head.type=mlp",
            "overrides": "head.type=mlp",
            "status": "ok",
            "knn_top1": "0.80",
            "linear_top1": "0.78",
            "final_loss": "4.0",
            "seconds": "1",
        },
        {"run": "broken", "overrides": "x=1", "status": "failed", "error": "boom"},
    ]
    text = write_markdown(config, rows, tmp_path / "results.md")
    table = [
        line for line in text.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")
    ]
    assert table[0].startswith("| 1 | head.type=mlp") and table[1].startswith(
        "| 2 | head.type=none"
    )
    assert "| 70.00 | -10.00 | 75.00 | -3.00 |" in table[1]
    assert "- broken: boom" in text


def test_line_plot_for_a_numeric_key_and_bars_otherwise(tmp_path, monkeypatch):
    import ablation.report as report

    drawn = []
    monkeypatch.setattr(report.plt.Axes, "plot", lambda self, *a, **k: drawn.append("line"))
    monkeypatch.setattr(report.plt.Axes, "bar", lambda self, *a, **k: drawn.append("bar"))
    rows = [
        {"run": name, "overrides": name, "status": "ok", "knn_top1": "0.5"}
        for name in ("loss.temperature=0.1", "loss.temperature=0.5", "no-crop")
    ]
    numeric = write_ablation(
        tmp_path, tmp_path, include_base=False, grid={"loss.temperature": [0.1, 0.5]}
    )
    write_plot(load_ablation(numeric), rows, tmp_path / "a.png")
    assert drawn == ["line"]
    drawn.clear()
    switches = write_ablation(
        tmp_path,
        tmp_path,
        include_base=False,
        runs=[{"name": "no-crop", "overrides": ["augment.crop.enabled=false"]}],
    )
    write_plot(load_ablation(switches), rows, tmp_path / "b.png")
    assert drawn == ["bar"]


def test_results_csv_has_one_header(tmp_path):
    from ablation.runner import append_result

    path = tmp_path / "results.csv"
    append_result(path, {"run": "a", "status": "ok"})
    append_result(path, {"run": "b", "status": "failed", "error": "x"})
    with path.open() as handle:
        assert [row[0] for row in csv.reader(handle)] == ["run", "a", "b"]


@pytest.mark.slow
def test_a_sweep_of_two_runs_completes_under_two_process_ddp(tmp_path, fashion_mnist_root):
    import os
    import subprocess
    import sys

    import torch

    budget = [o for o in tiny_budget(fashion_mnist_root) if not o.startswith("trainer.devices")]
    path = write_ablation(
        tmp_path,
        fashion_mnist_root,
        include_base=False,
        base_overrides=[*budget, "trainer.devices=2", "trainer.strategy=ddp"],
        grid={"loss.temperature": [0.1, 0.5]},
    )
    env = {k: v for k, v in os.environ.items() if k != "SIMCLR_RUN_NAME"}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, "-m", "simclr.cli", "ablate", "--config", str(path)],
        cwd=Path(__file__).resolve().parents[1],
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
