"""Several processes, one run: the device settings checked up front, one run directory for all.

Lightning starts the processes of a multi-device run in one of three ways, and a run must work
under each (the SimCLR paper trains on many accelerators, section 2 and appendix B.1):

- ``strategy=ddp``: rank 0 runs the command, and when it reaches ``Trainer.fit`` it starts the
  command again for every other local rank; those copies inherit rank 0's environment;
- ``strategy=ddp_spawn``: rank 0's Trainer is pickled into spawned processes;
- an external launcher (``torchrun``, SLURM's ``srun``, or a command started on every node with
  ``NODE_RANK``/``MASTER_ADDR`` set) starts every process on its own.

Which process is global rank 0 is read from the launchers' variables before Lightning starts;
the run directory all of them share is :mod:`simclr.run.directory`.
"""

from __future__ import annotations

import os
from typing import Any

from simclr.config.schema import TrainerConfig
from simclr.errors import ConfigError, SimCLRError, require

RUN_NAME_ENV = "SIMCLR_RUN_NAME"  # a generated run name, handed to re-launched copies
SYNC_BATCHNORM_CHOICES = ("auto", True, False)


def is_global_rank_zero() -> bool:
    """Whether the launcher made this process global rank 0 (true when no launcher is involved).

    Read from the environment because the run directory is needed before Lightning starts.
    """
    if "RANK" in os.environ:  # torchrun
        return int(os.environ["RANK"]) == 0
    if _slurm_tasks() > 1:
        return int(os.environ.get("SLURM_PROCID", "0")) == 0
    # a copy started by Lightning's ddp launcher, or a node of a hand-started multi-node job
    return os.environ.get("NODE_RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0"


def _slurm_tasks() -> int:
    from lightning.fabric.plugins.environments import SLURMEnvironment

    return int(os.environ.get("SLURM_NTASKS", "1")) if SLURMEnvironment.detect() else 1


def launcher_variables_set() -> bool:
    """Whether torchrun, srun or a person set the variables that join processes into a job."""
    if "TORCHELASTIC_RUN_ID" in os.environ or _slurm_tasks() > 1:
        return True
    return "NODE_RANK" in os.environ or "RANK" in os.environ


def started_by_external_launcher() -> bool:
    """Every process was started on its own (torchrun, srun, a command per node), so none of
    them can hand a generated name to the others."""
    return RUN_NAME_ENV not in os.environ and launcher_variables_set()


def slurm_job() -> str | None:
    """The SLURM job (``ARRAY_TASK`` for an array) this process runs in, outside an interactive
    allocation; None outside SLURM. A requeued job keeps it."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job or os.environ.get("SLURM_JOB_NAME") in ("bash", "interactive"):
        return None
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    return f"{array}_{os.environ.get('SLURM_ARRAY_TASK_ID', '0')}" if array else job


def slurm_restarts() -> int:
    """How many times SLURM requeued this job (0: its first start)."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)


def job_id() -> str | None:
    """The id the external launcher gave this job, the same in every process (None: none)."""
    if _slurm_tasks() > 1 and os.environ.get("SLURM_JOB_ID"):
        return f"slurm-{os.environ['SLURM_JOB_ID']}"
    run_id = os.environ.get("TORCHELASTIC_RUN_ID", "none")
    return None if run_id in ("", "none") else f"torchrun-{run_id}"


# ----------------------------------------------------------------------------- devices


def requested_processes(trainer: TrainerConfig) -> int:
    """Processes the run will have: devices per node times nodes (1 for devices=auto on CPU)."""
    devices = trainer.devices
    if isinstance(devices, (list, tuple)):
        per_node = len(devices)
    elif isinstance(devices, str) and "," in devices:
        per_node = len([d for d in devices.split(",") if d.strip()])
    elif devices in ("auto", -1, "-1"):
        per_node = _gpu_count() if uses_gpu(trainer) else 1
    else:
        per_node = int(devices)
    return per_node * trainer.num_nodes


def uses_gpu(trainer: TrainerConfig) -> bool:
    if trainer.accelerator in ("gpu", "cuda"):
        return True
    return trainer.accelerator == "auto" and _gpu_count() > 0


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


def resolved_precision(trainer: TrainerConfig) -> str:
    """``trainer.precision``, with ``auto`` resolved: bf16-mixed where the accelerator computes
    bf16 natively (a GPU that supports it; a CPU with AVX512-BF16 or AMX, 2.2x the float32
    throughput on this project's 2-core machine, docs/performance.md), else 32-true. NT-Xent
    runs in float32 under either (simclr.loss)."""
    if trainer.precision != "auto":
        return trainer.precision
    import torch

    if uses_gpu(trainer):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "32-true"
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return "bf16-mixed" if native else "32-true"


def sync_batchnorm(trainer: TrainerConfig) -> bool:
    """Global BatchNorm (the paper's, section 3) where it runs: several GPU processes.

    torch's SyncBatchNorm runs only on GPUs; on one process it would be plain BatchNorm anyway.
    """
    if trainer.sync_batchnorm == "auto":
        return uses_gpu(trainer) and requested_processes(trainer) > 1
    return bool(trainer.sync_batchnorm) and requested_processes(trainer) > 1


def check_devices(trainer: TrainerConfig) -> None:
    """The trainer keys Lightning would reject mid-run, refused now with a one-line error."""
    from lightning.pytorch.accelerators import AcceleratorRegistry
    from lightning.pytorch.strategies import StrategyRegistry

    accelerators = ["auto", "gpu", *sorted(AcceleratorRegistry.available_accelerators())]
    accelerator = trainer.accelerator
    allowed = ", ".join(accelerators)
    require(accelerator in accelerators, "trainer.accelerator", accelerator, allowed)
    strategies = ["auto", *sorted(StrategyRegistry.available_strategies())]
    allowed = "auto or a strategy Lightning knows (ddp, ddp_spawn, fsdp, deepspeed, ...)"
    require(trainer.strategy in strategies, "trainer.strategy", trainer.strategy, allowed)
    nodes = trainer.num_nodes
    require(isinstance(nodes, int) and nodes >= 1, "trainer.num_nodes", nodes, "must be >= 1")
    _check_device_value(trainer.devices)
    gpus = _gpu_count()
    if accelerator in ("gpu", "cuda"):
        require(gpus > 0, "trainer.accelerator", accelerator, "no GPU is visible to torch here")
        per_node = requested_processes(trainer) // nodes
        require(
            per_node <= gpus,
            "trainer.devices",
            trainer.devices,
            f"asks for {per_node} GPUs but {gpus} are visible",
        )
    sync = trainer.sync_batchnorm
    choices = "auto, true or false"
    require(sync in SYNC_BATCHNORM_CHOICES, "trainer.sync_batchnorm", sync, choices)
    gpu_note = "true needs GPUs (torch's SyncBatchNorm runs only there): use auto or false"
    require(sync is not True or uses_gpu(trainer), "trainer.sync_batchnorm", sync, gpu_note)
    require(
        nodes == 1 or launcher_variables_set(),
        "trainer.num_nodes",
        nodes,
        "> 1 needs a launcher on every node (torchrun, srun, or NODE_RANK, MASTER_ADDR and "
        "MASTER_PORT set by hand); see docs/gpus.md",
    )


def _check_device_value(devices: Any) -> None:
    allowed = "auto, -1 (all), a count >= 1, or a list of device ids"
    if isinstance(devices, (list, tuple)):
        ok = len(devices) > 0 and all(isinstance(d, int) and d >= 0 for d in devices)
    elif isinstance(devices, str) and devices != "auto":
        parts = [part.strip() for part in devices.split(",") if part.strip()]
        ok = bool(parts) and all(part.lstrip("-").isdigit() for part in parts)
        ok = ok and (len(parts) > 1 or int(parts[0]) >= 1 or int(parts[0]) == -1)
    else:
        ok = devices == "auto" or (isinstance(devices, int) and (devices >= 1 or devices == -1))
    require(ok, "trainer.devices", devices, allowed)


# ----------------------------------------------------------------------------- refusals

# the settings Lightning reads where the Trainer is built, in the order its messages name them
TRAINER_SETTINGS = ("strategy", "devices", "accelerator", "precision", "num_nodes")


def refused_setting(error: Exception, trainer: TrainerConfig) -> ConfigError:
    """Lightning's (or torch's) refusal of a trainer setting as one line naming the setting: the
    first whose name the refusal mentions, else all of them."""
    detail = " ".join(str(error).split()) or type(error).__name__
    named = [key for key in TRAINER_SETTINGS if key in detail.lower()]
    if isinstance(error, ImportError):  # a strategy or accelerator whose package is missing
        named = named or ["strategy"]
    keys = named[:1] or list(TRAINER_SETTINGS)
    settings = " ".join(f"trainer.{key}={getattr(trainer, key)!r}" for key in keys)
    return ConfigError(f"{settings} is refused by Lightning: {detail[:300]}")


def is_lost_process(error: BaseException) -> bool:
    """Whether ``error`` is torch.distributed's: another process of the run has gone."""
    import torch.distributed

    if isinstance(error, torch.distributed.DistError):
        return True
    # gloo raises plain RuntimeErrors (``[.../gloo/transport/tcp/pair.cc:...] Connection ...``)
    return isinstance(error, RuntimeError) and "gloo" in str(error).lower()


def lost_process(rank: int, world_size: int, run_dir: object) -> SimCLRError:
    """The one line a surviving process ends with when another process of the run died."""
    died = f"rank {1 - rank}" if world_size == 2 else "another rank"
    return SimCLRError(
        f"{died} of this {world_size}-process run died (its connection closed), so rank {rank} "
        f"stops too; resume with: simclr pretrain --resume {run_dir}"
    )
