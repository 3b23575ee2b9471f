"""The Lightning loggers that ``trainer.loggers`` names, built for a run directory.

- ``csv`` and ``tensorboard`` write in the run directory (``csv/version_N/metrics.csv``,
  ``tensorboard/version_N``), a new version for every command that logs;
- ``wandb`` and ``mlflow`` log where ``logging.wandb`` and ``logging.mlflow`` say; MLflow's
  default store is ``sqlite:///<run.out_dir>/mlflow.db``, one file beside the run directories
  (no server), so that ``mlflow ui`` compares the runs as ``tensorboard --logdir`` does.

Pretraining records the ids of the W&B and MLflow runs it made in ``loggers.json``; evaluation and
ablation then log their final metrics into those same runs (:func:`log_final_metrics`). A logger's
package is imported only when the logger is chosen, and a missing one is a one-line error naming
the pip package, before any work.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from lightning.pytorch.loggers.logger import DummyLogger

from simclr.config.schema import LOGGERS, MLflowConfig, SimCLRConfig
from simclr.errors import ConfigError
from simclr.run.atomic import atomic_write

RUN_IDS_FILE = "loggers.json"  # the W&B and MLflow runs that pretraining logged to
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")  # MLflow's SQLAlchemy stores


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install counts as missing
        return False


def missing_package(name: str, config: SimCLRConfig) -> str | None:
    """What logger ``name`` lacks in this environment, as ``the P package: pip install P``."""
    if name == "tensorboard" and not (_importable("tensorboard") or _importable("tensorboardX")):
        return "the tensorboard package: pip install tensorboard"
    if name in ("wandb", "mlflow") and not _importable(name):
        return f"the {name} package: pip install {name}"
    if name == "mlflow":
        uri = config.logging.mlflow.tracking_uri or "sqlite:"  # the default store is SQLite
        database = uri.split(":", 1)[0].split("+", 1)[0] in DATABASE_SCHEMES
        if database and not (_importable("sqlalchemy") and _importable("alembic")):
            return (
                "the mlflow package (a database store needs sqlalchemy and alembic, which "
                "mlflow-skinny lacks): pip install mlflow"
            )
    return None


def check_logger_packages(config: SimCLRConfig) -> None:
    """Every logger of ``trainer.loggers`` can be built here, or a one-line ConfigError."""
    for name in config.trainer.loggers:
        _check_package(name, config)


def _check_package(name: str, config: SimCLRConfig) -> None:
    missing = missing_package(name, config)
    if missing is not None:
        raise ConfigError(f"trainer.loggers: {name!r} needs {missing}")


def mlflow_tracking_uri(settings: MLflowConfig, run_dir: Path) -> str:
    """``logging.mlflow.tracking_uri``, or the SQLite store beside ``run_dir`` (in its out_dir)."""
    if settings.tracking_uri is not None:
        return settings.tracking_uri
    return f"sqlite:///{(run_dir.parent / 'mlflow.db').resolve()}"


def build_loggers(config: SimCLRConfig, run_dir: Path, rank_zero: bool = True) -> list[Logger]:
    """The loggers of ``trainer.loggers`` for a run in ``run_dir``, each starting a new run.

    Lightning's loggers write from global rank 0 only; MLflow's opens its store as it is built,
    so the other ranks (``rank_zero=False``) get Lightning's DummyLogger in its place.
    """
    check_logger_packages(config)  # all of them before any is built
    return [build_logger(name, config, run_dir, rank_zero) for name in config.trainer.loggers]


def build_logger(
    name: str,
    config: SimCLRConfig,
    run_dir: Path,
    rank_zero: bool = True,
    recorded: dict | None = None,
) -> Logger:
    """Logger ``name`` of ``run_dir``; ``recorded`` (a ``loggers.json``) reopens the W&B or
    MLflow run it names instead of starting one."""
    _check_package(name, config)
    recorded = recorded or {}
    if name == "csv":
        return CSVLogger(run_dir, name="csv")
    if name == "tensorboard":
        return TensorBoardLogger(run_dir, name="tensorboard", default_hp_metric=False)
    if name == "wandb":
        return _wandb(config, run_dir, recorded.get("wandb", {}))
    if name == "mlflow" and not rank_zero:
        return DummyLogger()
    if name == "mlflow":
        return _mlflow(config, run_dir, recorded.get("mlflow", {}))
    raise ConfigError(f"trainer.loggers={name!r} is invalid: allowed: {', '.join(LOGGERS)}")


def _wandb(config: SimCLRConfig, run_dir: Path, recorded: dict) -> Logger:
    from lightning.pytorch.loggers import WandbLogger

    settings = config.logging.wandb
    return WandbLogger(
        name=settings.name or run_dir.name,
        project=settings.project,
        save_dir=str(run_dir),  # W&B's own files go to RUN/wandb
        offline=settings.offline,
        id=recorded.get("id"),
        entity=settings.entity,
        group=settings.group,
        tags=list(settings.tags) or None,
    )


def _mlflow(config: SimCLRConfig, run_dir: Path, recorded: dict) -> Logger:
    from lightning.pytorch.loggers import MLFlowLogger
    from mlflow.exceptions import MlflowException

    settings = config.logging.mlflow
    uri = recorded.get("tracking_uri") or mlflow_tracking_uri(settings, run_dir)
    if settings.tracking_uri is None:
        run_dir.parent.mkdir(parents=True, exist_ok=True)  # out_dir: the store sits beside runs
    try:
        logger = MLFlowLogger(
            experiment_name=settings.experiment_name,
            run_name=settings.run_name or run_dir.name,
            tracking_uri=uri,
            tags={"simclr.run_dir": str(run_dir.resolve())},
            run_id=recorded.get("run_id"),
        )
        if recorded.get("run_id"):
            logger.experiment  # noqa: B018 - looks the recorded run up now: one line if gone
    except MlflowException as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        key = f"logging.mlflow.tracking_uri={settings.tracking_uri!r}"
        raise ConfigError(f"{key}: MLflow cannot open {uri}: {detail}") from None
    return logger


class RecordRunIds(Callback):
    """Global rank 0 writes the W&B and MLflow runs it logs to in ``loggers.json`` as training
    starts, so that evaluation and ablation log their final metrics into the same runs."""

    def __init__(self, config: SimCLRConfig, run_dir: Path) -> None:
        self.config, self.run_dir = config, run_dir

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        from lightning.pytorch.loggers import MLFlowLogger, WandbLogger

        runs = {}
        for logger in trainer.loggers:
            if isinstance(logger, MLFlowLogger):
                uri = mlflow_tracking_uri(self.config.logging.mlflow, self.run_dir)
                runs["mlflow"] = {
                    "run_id": logger.run_id,
                    "experiment_id": logger.experiment_id,
                    "tracking_uri": uri,
                }
            elif isinstance(logger, WandbLogger):
                runs["wandb"] = {"id": logger.version, "project": logger.name}
        if runs:
            text = json.dumps(runs, indent=2) + "\n"
            atomic_write(self.run_dir / RUN_IDS_FILE, text.encode())


def finish_runs(loggers: list[Logger]) -> None:
    """End this process's W&B run: a later run in the same process (an ablation's next) would
    otherwise log into it."""
    from lightning.pytorch.loggers import WandbLogger

    if any(isinstance(logger, WandbLogger) for logger in loggers):
        import wandb

        wandb.finish()


def recorded_runs(run_dir: Path) -> dict:
    """The runs ``loggers.json`` names (empty when pretraining made none)."""
    path = run_dir / RUN_IDS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def log_final_metrics(
    config: SimCLRConfig, run_dir: Path, metrics: dict[str, float], step: int | None
) -> list[str]:
    """Log ``metrics`` (an evaluation's, after pretraining) at ``step`` to the loggers that the
    run's ``config`` names: a new version in ``csv/`` and ``tensorboard/``, the W&B and MLflow
    runs that ``loggers.json`` records. A logger that cannot be built here (its package is
    missing, its store lost the run) is left out with one line on stderr, not an error.
    Returns the names of the loggers written to."""
    recorded = recorded_runs(run_dir)
    written = []
    for name in config.trainer.loggers:
        try:
            logger = build_logger(name, config, run_dir, recorded=recorded)
        except ConfigError as error:
            print(f"metrics not logged to {name}: {error}", file=sys.stderr)
            continue
        logger.log_metrics(metrics, step)
        logger.finalize("success")
        finish_runs([logger])
        written.append(name)
    return written
