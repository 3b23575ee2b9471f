"""Device settings and the shared run directory of several processes (simclr/launch.py)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
import torch

from simclr import launch
from simclr.cli import main
from simclr.config import ConfigError, RunConfig, load_config
from simclr.launch import (
    OWNER_FILE,
    RUN_NAME_ENV,
    check_devices,
    claim,
    requested_processes,
    run_directory,
    sync_batchnorm,
)

LAUNCHER_VARIABLES = (
    "RANK",
    "LOCAL_RANK",
    "NODE_RANK",
    "WORLD_SIZE",
    "SLURM_NTASKS",
    "SLURM_PROCID",
    "SLURM_JOB_ID",
    "SLURM_JOB_NAME",
    "TORCHELASTIC_RUN_ID",
    RUN_NAME_ENV,
)


@pytest.fixture(autouse=True)
def no_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a process that no launcher started."""
    for variable in LAUNCHER_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def trainer(*overrides: str):
    return load_config(None, list(overrides)).trainer


# ----------------------------------------------------------------------------- devices

BAD_DEVICE_SETTINGS = [
    (["trainer.devices=0"], "trainer.devices"),
    (["trainer.devices=abc"], "trainer.devices"),
    (["trainer.devices=-2"], "trainer.devices"),
    (["trainer.devices=[]"], "trainer.devices"),
    (["trainer.num_nodes=0"], "trainer.num_nodes"),
    (["trainer.num_nodes=2"], "trainer.num_nodes"),  # no launcher set up the other node
    (["trainer.accelerator=foo"], "trainer.accelerator"),
    (["trainer.strategy=foo"], "trainer.strategy"),
    (["trainer.sync_batchnorm=maybe"], "trainer.sync_batchnorm"),
    (["trainer.accelerator=cpu", "trainer.sync_batchnorm=true"], "trainer.sync_batchnorm"),
    (["trainer.last_checkpoint_every_n_steps=0"], "trainer.last_checkpoint_every_n_steps"),
]
if not torch.cuda.is_available():
    BAD_DEVICE_SETTINGS.append((["trainer.accelerator=gpu"], "trainer.accelerator"))


@pytest.mark.parametrize("overrides, key", BAD_DEVICE_SETTINGS)
def test_bad_device_settings_fail_in_one_line_before_any_work(
    tmp_path: Path, capsys, overrides: list[str], key: str
) -> None:
    argv = ["pretrain", f"run.out_dir={tmp_path / 'runs'}", "run.name=bad", *overrides]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("simclr pretrain: error: ") and err.count("\n") == 1
    assert f"{key}=" in err or f"'{key}'" in err
    assert not (tmp_path / "runs").exists()


def test_more_gpus_than_present_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launch, "_gpu_count", lambda: 2)
    check_devices(trainer("trainer.accelerator=gpu", "trainer.devices=2"))
    with pytest.raises(ConfigError, match="trainer.devices=4 .*4 GPUs but 2 are visible"):
        check_devices(trainer("trainer.accelerator=gpu", "trainer.devices=4"))


@pytest.mark.parametrize(
    "overrides, processes",
    [
        (["trainer.devices=1"], 1),
        (["trainer.devices=3"], 3),
        (["trainer.devices=[0,1]"], 2),
        (["trainer.devices='0,1,2'"], 3),
        (["trainer.devices=2", "trainer.num_nodes=4"], 8),
        (["trainer.accelerator=cpu", "trainer.devices=auto"], 1),
    ],
)
def test_requested_processes(overrides: list[str], processes: int) -> None:
    assert requested_processes(trainer(*overrides)) == processes


def test_sync_batchnorm_auto_is_on_only_for_several_gpu_processes(monkeypatch) -> None:
    monkeypatch.setattr(launch, "_gpu_count", lambda: 2)
    assert sync_batchnorm(trainer("trainer.accelerator=gpu", "trainer.devices=2"))
    assert sync_batchnorm(trainer("trainer.devices=auto"))  # auto finds the 2 GPUs
    assert not sync_batchnorm(trainer("trainer.accelerator=gpu", "trainer.devices=1"))
    assert not sync_batchnorm(trainer("trainer.accelerator=cpu", "trainer.devices=2"))
    off = trainer("trainer.accelerator=gpu", "trainer.devices=2", "trainer.sync_batchnorm=false")
    assert not sync_batchnorm(off)
    monkeypatch.setattr(launch, "_gpu_count", lambda: 0)
    assert not sync_batchnorm(trainer("trainer.devices=2"))  # auto accelerator: the CPU


# ----------------------------------------------------------------------------- run directory


def test_rank_zero_claims_a_new_run_directory_once(tmp_path: Path) -> None:
    run = RunConfig(out_dir=str(tmp_path), name="one")
    first = run_directory(run)
    assert first.writer and first.path == tmp_path / "one"
    assert not first.path.exists()  # nothing is written before the claim
    first.claim()
    assert (first.path / OWNER_FILE).is_file()
    with pytest.raises(ConfigError, match="already holds a run"):
        run_directory(run).claim()


def _claim_together(path: str, barrier, results) -> None:
    barrier.wait()
    try:
        claim(Path(path))
        results.put("claimed")
    except ConfigError:
        results.put("refused")


def test_of_two_jobs_started_together_exactly_one_owns_the_directory(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(2), context.Queue()
    jobs = [
        context.Process(target=_claim_together, args=(str(tmp_path / "race"), barrier, results))
        for _ in range(2)
    ]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=30)
    assert sorted(results.get(timeout=5) for _ in jobs) == ["claimed", "refused"]


def test_a_copy_started_by_rank_zero_adopts_its_generated_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a timestamp a second later in each process that asks for one
    monkeypatch.setattr(launch, "_generated_name", iter(["t0", "t1"]).__next__)
    run = RunConfig(out_dir=str(tmp_path), name=None)
    rank_zero = run_directory(run)
    rank_zero.claim()
    assert rank_zero.writer and (rank_zero.path / OWNER_FILE).is_file()
    # what Lightning's ddp launcher gives the copy of the command it starts for local rank 1
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("NODE_RANK", "0")
    copy = run_directory(run)
    assert copy.path == rank_zero.path and not copy.writer


def test_a_second_run_in_the_same_process_gets_a_new_generated_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launch, "_generated_name", iter(["first", "second"]).__next__)
    run = RunConfig(out_dir=str(tmp_path), name=None)
    assert run_directory(run).path.name == "first"
    assert run_directory(run).path.name == "second"


def test_other_ranks_neither_claim_nor_refuse(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    monkeypatch.setenv("RANK", "1")
    other = run_directory(RunConfig(out_dir=str(tmp_path), name="shared"))
    other.claim()
    assert not other.writer and not other.path.exists()


@pytest.mark.parametrize(
    "environment, name",
    [
        ({"TORCHELASTIC_RUN_ID": "job7", "RANK": "1"}, "torchrun-job7"),
        ({"SLURM_NTASKS": "4", "SLURM_PROCID": "2", "SLURM_JOB_ID": "991"}, "slurm-991"),
    ],
)
def test_processes_of_an_external_launcher_share_the_job_id_as_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environment: dict, name: str
) -> None:
    monkeypatch.setenv("SLURM_JOB_NAME", "simclr")  # Lightning ignores interactive jobs
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert run_directory(RunConfig(out_dir=str(tmp_path), name=None)).path == tmp_path / name


def test_torchrun_without_a_run_name_or_id_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ConfigError, match="set run.name=NAME"):
        run_directory(RunConfig(out_dir=str(tmp_path), name=None))
    assert not any(tmp_path.iterdir())
