"""One run directory for every process of a run, claimed once (simclr/run/directory.py)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from simclr.config import ConfigError, RunConfig
from simclr.run import directory as run_directory_module
from simclr.run.directory import OWNER_FILE, claim, run_directory

pytestmark = pytest.mark.usefixtures("no_launcher")


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
    monkeypatch.setattr(run_directory_module, "_generated_name", iter(["t0", "t1"]).__next__)
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
    monkeypatch.setattr(run_directory_module, "_generated_name", iter(["first", "second"]).__next__)
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
