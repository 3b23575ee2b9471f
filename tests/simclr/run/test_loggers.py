"""simclr/run/loggers.py: the loggers that trainer.loggers names, a missing package refused in one
line before anything is written, a run's CSV and TensorBoard logs where they always were, an
MLflow store read back through MLflow's own client, and final metrics logged into the runs that
pretraining recorded."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from lightning.pytorch.loggers import CSVLogger, MLFlowLogger
from lightning.pytorch.loggers.logger import DummyLogger

import simclr.run.loggers
from simclr.errors import ConfigError
from simclr.run.loggers import (
    RUN_IDS_FILE,
    build_loggers,
    check_logger_packages,
    log_final_metrics,
)
from simclr.run.train import pretrain

pytestmark = [
    pytest.mark.usefixtures("single_thread"),
    pytest.mark.filterwarnings("ignore:.*(num_workers|does not have many workers).*"),
]


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch):
    """``without("mlflow", ...)``: simclr.run.loggers finds those modules missing."""

    def hide(*modules: str) -> None:
        importable = simclr.run.loggers._importable
        monkeypatch.setattr(
            simclr.run.loggers,
            "_importable",
            lambda module: module not in modules and importable(module),
        )

    return hide


def csv_rows(run_dir: Path, version: int) -> list[dict[str, str]]:
    with open(run_dir / "csv" / f"version_{version}" / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def mlflow_client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


@pytest.mark.parametrize(
    "name, hidden",
    [
        ("tensorboard", ("tensorboard", "tensorboardX")),
        ("wandb", ("wandb",)),
        ("mlflow", ("mlflow",)),
    ],
)
def test_a_missing_package_is_one_line_naming_it_before_anything_is_written(
    make_config, tmp_path: Path, without, name: str, hidden: tuple[str, ...]
) -> None:
    config = make_config(f"trainer.loggers=[csv,{name}]", "run.name=refused")
    without(*hidden)
    expected = f"trainer.loggers: '{name}' needs the {name} package: pip install {name}"
    with pytest.raises(ConfigError) as error:
        check_logger_packages(config)
    assert str(error.value) == expected
    with pytest.raises(ConfigError) as error:
        pretrain(config, quiet=True)
    assert str(error.value) == expected
    assert list(tmp_path.iterdir()) == []  # no run directory, no data, no store


def test_mlflow_skinny_without_a_database_driver_is_told_to_install_mlflow(
    make_config, without
) -> None:
    without("sqlalchemy")
    with pytest.raises(ConfigError) as error:
        check_logger_packages(make_config("trainer.loggers=[mlflow]"))  # the default: SQLite
    message = str(error.value)
    assert message.startswith("trainer.loggers: 'mlflow' needs the mlflow package (")
    assert "sqlalchemy" in message and message.endswith(": pip install mlflow")
    server = "logging.mlflow.tracking_uri=http://localhost:5000"  # needs no driver here
    check_logger_packages(make_config("trainer.loggers=[mlflow]", server))


def test_mlflow_settings_reach_the_run_it_creates(make_config, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    config = make_config(
        "trainer.loggers=[mlflow]",
        "logging.mlflow.experiment_name=sweep",
        f"logging.mlflow.tracking_uri={uri}",
        "logging.mlflow.run_name=first",
    )
    (logger,) = build_loggers(config, tmp_path / "runs" / "my-run")
    assert isinstance(logger, MLFlowLogger)
    client = mlflow_client(uri)
    assert client.get_experiment(logger.experiment_id).name == "sweep"
    run = client.get_run(logger.run_id)
    assert run.info.run_name == "first"
    assert run.data.tags["simclr.run_dir"] == str((tmp_path / "runs" / "my-run").resolve())
    assert not (tmp_path / "runs").exists()  # an explicit store: nothing beside the runs


def test_wandb_settings_reach_wandb_init(
    make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lightning.pytorch.loggers.wandb as lightning_wandb

    # WandbLogger keeps wandb.init's arguments until its first log: wandb itself is not needed
    monkeypatch.setattr(lightning_wandb, "_WANDB_AVAILABLE", True)
    monkeypatch.setattr(simclr.run.loggers, "_importable", lambda module: True)
    config = make_config(
        "trainer.loggers=[wandb]",
        "logging.wandb.project=simclr-cifar",
        "logging.wandb.entity=lab",
        "logging.wandb.group=temperature",
        "logging.wandb.tags=[ablation,cpu]",
        "logging.wandb.offline=true",
    )
    (logger,) = build_loggers(config, tmp_path / "my-run")
    assert logger._wandb_init == {
        "name": "my-run",
        "project": "simclr-cifar",
        "dir": str(tmp_path / "my-run"),
        "id": None,
        "resume": "allow",
        "anonymous": None,
        "entity": "lab",
        "group": "temperature",
        "tags": ["ablation", "cpu"],
    }
    assert logger._offline


def test_only_global_rank_zero_opens_the_mlflow_store(make_config, tmp_path: Path) -> None:
    config = make_config("trainer.loggers=[csv,mlflow]")
    loggers = build_loggers(config, tmp_path / "runs" / "run", rank_zero=False)
    assert [type(logger) for logger in loggers] == [CSVLogger, DummyLogger]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_run_writes_csv_and_tensorboard_logs_where_it_always_did(synthetic) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = synthetic.pretrain_config(
        "trainer.max_steps=2", "trainer.log_every_n_steps=1", "run.name=logs"
    )
    pretrain(config, quiet=True)
    run_dir = synthetic.tmp_path / "logs"
    assert sorted(path.name for path in run_dir.iterdir()) == [
        "checkpoints",
        "config.yaml",
        "csv",
        "encoder.pt",
        "encoder.yaml",
        "owner.json",
        "summary.json",
        "tensorboard",
    ]
    assert not (synthetic.tmp_path / "mlflow.db").exists()
    rows = csv_rows(run_dir, 0)
    assert [int(row["step"]) for row in rows if row["train/loss"]] == [0, 1]
    assert any(row["lr-LARS/pg1"] for row in rows)  # the learning-rate monitor
    (events,) = (run_dir / "tensorboard" / "version_0").glob("events.out.tfevents.*")
    scalars = EventAccumulator(str(events)).Reload().Tags()["scalars"]
    assert {"train/loss", "train/contrastive_acc", "lr-LARS/pg1"} <= set(scalars)


@pytest.mark.slow
def test_a_run_without_loggers_writes_no_logs(synthetic) -> None:
    config = synthetic.pretrain_config(
        "trainer.max_steps=1", "trainer.loggers=[]", "run.name=quiet"
    )
    summary = pretrain(config, quiet=True)
    run_dir = synthetic.tmp_path / "quiet"
    assert summary.global_step == 1
    assert not (run_dir / "csv").exists() and not (run_dir / "tensorboard").exists()


@pytest.mark.slow
def test_mlflow_holds_the_loss_of_pretraining_and_then_the_final_metrics(synthetic) -> None:
    config = synthetic.pretrain_config(
        "trainer.max_steps=3", "trainer.log_every_n_steps=1", "trainer.loggers=[csv,mlflow]"
    )
    config.run.name = "tracked"
    pretrain(config, quiet=True)
    run_dir = synthetic.tmp_path / "tracked"
    recorded = json.loads((run_dir / RUN_IDS_FILE).read_text())["mlflow"]
    uri = f"sqlite:///{synthetic.tmp_path.resolve() / 'mlflow.db'}"  # beside the run directory
    assert recorded["tracking_uri"] == uri
    client = mlflow_client(uri)
    run = client.get_run(recorded["run_id"])
    assert run.info.run_name == "tracked" and run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "simclr"
    history = client.get_metric_history(run.info.run_id, "train/loss")
    rows = [row for row in csv_rows(run_dir, 0) if row["train/loss"]]
    assert [(m.step, m.value) for m in history] == [
        (int(row["step"]), pytest.approx(float(row["train/loss"]), rel=1e-6)) for row in rows
    ]
    assert len(history) == 3

    written = log_final_metrics(config, run_dir, {"eval/knn_top1_k200": 0.75}, step=3)
    assert written == ["csv", "mlflow"]
    (final,) = client.get_metric_history(run.info.run_id, "eval/knn_top1_k200")
    assert (final.step, final.value) == (3, 0.75)
    assert [runs.info.run_id for runs in client.search_runs([run.info.experiment_id])] == [
        run.info.run_id  # the pretraining run, not a new one
    ]
    (row,) = csv_rows(run_dir, 1)  # a new CSV version beside training's
    assert (row["step"], float(row["eval/knn_top1_k200"])) == ("3", 0.75)


def test_final_metrics_skip_a_logger_whose_package_is_missing_in_one_line(
    make_config, tmp_path: Path, without, capsys
) -> None:
    config = make_config("trainer.loggers=[csv,mlflow]")
    without("mlflow")
    run_dir = tmp_path / "run"
    assert log_final_metrics(config, run_dir, {"eval/linear_top1": 0.5}, step=None) == ["csv"]
    assert capsys.readouterr().err.splitlines() == [
        "metrics not logged to mlflow: trainer.loggers: 'mlflow' needs the mlflow package: "
        "pip install mlflow"
    ]
    assert float(csv_rows(run_dir, 0)[0]["eval/linear_top1"]) == 0.5
