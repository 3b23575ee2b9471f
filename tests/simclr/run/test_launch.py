"""Device settings checked up front and the launchers' variables (simclr/run/launch.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from simclr.cli import main
from simclr.config import ConfigError, load_config
from simclr.run import launch
from simclr.run.launch import check_devices, requested_processes, resolved_precision, sync_batchnorm

pytestmark = pytest.mark.usefixtures("no_launcher")


def trainer(*overrides: str):
    return load_config(None, list(overrides)).trainer


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


@pytest.mark.parametrize(
    ("bf16", "amx", "expected"),
    [(True, False, "bf16-mixed"), (False, True, "bf16-mixed"), (False, False, "32-true")],
)
def test_precision_auto_is_bf16_mixed_where_the_cpu_computes_bf16(
    monkeypatch, bf16: bool, amx: bool, expected: str
) -> None:
    monkeypatch.setattr(launch, "_gpu_count", lambda: 0)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert resolved_precision(trainer("trainer.precision=auto")) == expected
    assert resolved_precision(trainer("trainer.precision=16-mixed")) == "16-mixed"  # as set


@pytest.mark.parametrize(("supported", "expected"), [(True, "bf16-mixed"), (False, "32-true")])
def test_precision_auto_on_a_gpu_asks_it_for_bf16(monkeypatch, supported: bool, expected: str):
    monkeypatch.setattr(launch, "_gpu_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: supported)
    assert resolved_precision(trainer("trainer.precision=auto")) == expected


def test_an_unknown_precision_is_one_line() -> None:
    with pytest.raises(ConfigError, match="trainer.precision") as error:
        trainer("trainer.precision=fp8")
    assert "auto" in str(error.value) and "\n" not in str(error.value)


# ----------------------------------------------------------------------------- launchers


@pytest.mark.parametrize(
    "environment, rank_zero, job",
    [
        ({}, True, None),
        ({"LOCAL_RANK": "1", "NODE_RANK": "0"}, False, None),  # a copy by Lightning's ddp
        ({"NODE_RANK": "1"}, False, None),  # a second node started by hand
        ({"RANK": "0", "TORCHELASTIC_RUN_ID": "7"}, True, "torchrun-7"),
        ({"RANK": "2", "LOCAL_RANK": "0", "TORCHELASTIC_RUN_ID": "7"}, False, "torchrun-7"),
        ({"RANK": "1", "TORCHELASTIC_RUN_ID": "none"}, False, None),
        ({"SLURM_NTASKS": "4", "SLURM_PROCID": "0", "SLURM_JOB_ID": "5"}, True, "slurm-5"),
        ({"SLURM_NTASKS": "4", "SLURM_PROCID": "3", "SLURM_JOB_ID": "5"}, False, "slurm-5"),
    ],
)
def test_global_rank_zero_and_job_id_from_each_launcher(
    monkeypatch: pytest.MonkeyPatch, environment: dict, rank_zero: bool, job: str | None
) -> None:
    if "SLURM_NTASKS" in environment:
        monkeypatch.setenv("SLURM_JOB_NAME", "simclr")  # Lightning ignores interactive jobs
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert launch.is_global_rank_zero() is rank_zero
    assert launch.job_id() == job
    external = bool({"RANK", "NODE_RANK", "SLURM_NTASKS"} & set(environment))
    assert launch.started_by_external_launcher() is external
    monkeypatch.setenv(launch.RUN_NAME_ENV, "handed-down")  # rank 0 of this job named the run
    assert not launch.started_by_external_launcher()
