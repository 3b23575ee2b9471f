"""Loggers from config across commands: a run pretrained with ``trainer.loggers=[...,mlflow]``,
then ``simclr eval``; MLflow's client reads the pretraining loss and the evaluation's accuracies
back from the one run that the local store (no server) holds."""

from __future__ import annotations

import json

import pytest

from simclr.cli import main
from simclr.run.loggers import RUN_IDS_FILE
from simclr.run.train import pretrain

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("single_thread"),
    pytest.mark.filterwarnings("ignore:.*(num_workers|does not have many workers).*"),
]


def test_simclr_eval_logs_into_the_mlflow_run_of_pretraining(synthetic, capsys) -> None:
    from mlflow.tracking import MlflowClient

    config = synthetic.pretrain_config(
        "trainer.max_steps=2",
        "trainer.log_every_n_steps=1",
        "trainer.loggers=[csv,tensorboard,mlflow]",
        "run.name=tracked",
    )
    pretrain(config, quiet=True)
    run_dir = synthetic.tmp_path / "tracked"
    code = main(["eval", "knn", "--checkpoint", str(run_dir), *synthetic.eval_overrides])
    assert code == 0
    out = capsys.readouterr().out
    assert "logged the pretrained encoder's eval/* metrics to csv, tensorboard, mlflow" in out

    recorded = json.loads((run_dir / RUN_IDS_FILE).read_text())["mlflow"]
    client = MlflowClient(recorded["tracking_uri"])
    run_id = recorded["run_id"]
    assert [m.step for m in client.get_metric_history(run_id, "train/loss")] == [0, 1]
    report = json.loads((run_dir / "eval.json").read_text())
    for k, knn in report["results"]["pretrained"]["knn"].items():
        for metric in ("top1", "top5"):
            (logged,) = client.get_metric_history(run_id, f"eval/knn_{metric}_k{k}")
            assert (logged.step, logged.value) == (2, pytest.approx(knn[metric]))
    experiment = client.get_run(run_id).info.experiment_id
    assert len(client.search_runs([experiment])) == 1  # evaluation made no run of its own
