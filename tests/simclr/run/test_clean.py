"""Tests of simclr/run/clean.py: ``simclr clean`` removes a run directory's caches with their sizes,
never what the run produced, and refuses a directory that is not a run's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simclr.errors import ConfigError
from simclr.run.clean import clean_run, human_size, report_lines

KEY = "c" * 64
# path -> bytes of a run directory as pretrain, eval, index and a resumed run leave it
PRODUCED = {
    "config.yaml": 120,
    "encoder.pt": 4000,
    "encoder.yaml": 75,
    "summary.json": 300,
    "eval.json": 700,
    "owner.json": 60,
    "checkpoints/last.ckpt": 9000,
    "index/fashion_mnist-train/index.faiss": 512,
    "csv/version_0/metrics.csv": 90,
}
CACHES = {
    f"features/{KEY}/features.npy": 2048,
    f"features/{KEY}/meta.json": 100,
    f"features/{'d' * 64}/features.npy": 1024,
    "features/results/abc.json": 50,
    "stale/eval.json": 700,
    "stale/index/fashion_mnist-train/index.faiss": 512,
}
EPOCHS = {"checkpoints/epoch000.ckpt": 8000, "checkpoints/epoch001.ckpt": 8000}


def _files(run: Path) -> dict[str, int]:
    return {
        path.relative_to(run).as_posix(): path.lstat().st_size
        for path in run.rglob("*")
        if path.is_file() or path.is_symlink()
    }


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    for name, size in {**PRODUCED, **CACHES, **EPOCHS}.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_bytes(b"x" * size)
    return run


def test_the_caches_go_with_their_sizes_and_what_the_run_produced_stays(run: Path) -> None:
    cleaning = clean_run(run)
    removed = {entry.path.relative_to(run).as_posix(): entry.size for entry in cleaning.removed}
    assert removed == {
        f"features/{'d' * 64}": 1024,
        f"features/{KEY}": 2148,
        "features/results": 50,
        "stale/eval.json": 700,
        "stale/index": 512,
    }
    assert cleaning.freed == 4434
    assert _files(run) == {**PRODUCED, **EPOCHS}  # the run's own files and its checkpoints
    lines = report_lines(cleaning)
    assert lines[0] == f"removed features/{KEY} (2.1 KiB)"
    assert "kept 2 per-epoch checkpoints (15.6 KiB): --checkpoints removes them" in lines
    assert lines[-1] == f"freed 4.3 KiB (5 entries) in {run}"
    assert report_lines(clean_run(run))[-1] == f"nothing to remove in {run}"


def test_checkpoints_asks_for_the_per_epoch_ones_and_last_ckpt_stays(run: Path) -> None:
    cleaning = clean_run(run, checkpoints=True)
    assert cleaning.freed == 4434 + 16000 and not cleaning.checkpoints_kept
    assert _files(run) == PRODUCED


def test_best_ckpt_stays_with_checkpoints_unless_best_asks_for_it(run: Path) -> None:
    (run / "checkpoints" / "best.ckpt").write_bytes(b"x" * 5000)
    cleaning = clean_run(run, checkpoints=True)
    assert _files(run) == {**PRODUCED, "checkpoints/best.ckpt": 5000}
    assert cleaning.best_kept is not None and cleaning.best_kept.size == 5000
    assert (
        "kept checkpoints/best.ckpt (4.9 KiB), the checkpoint of the best probe accuracy: "
        "--best removes it"
    ) in report_lines(cleaning)
    cleaning = clean_run(run, checkpoints=True, best=True)
    assert [entry.size for entry in cleaning.removed] == [5000] and cleaning.best_kept is None
    assert _files(run) == PRODUCED


def test_a_dry_run_says_what_would_go_and_removes_nothing(run: Path) -> None:
    before = _files(run)
    cleaning = clean_run(run, checkpoints=True, dry_run=True)
    assert _files(run) == before
    lines = report_lines(cleaning)
    assert all(line.startswith("would remove ") for line in lines[:-1])
    assert "would remove checkpoints/epoch000.ckpt (7.8 KiB)" in lines
    assert lines[-1] == f"would free 20.0 KiB (7 entries) in {run}; nothing was removed (--dry-run)"
    assert clean_run(run, checkpoints=True).freed == cleaning.freed


def test_a_link_goes_as_a_link_and_a_cache_being_written_stays(run: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "shared-cache"
    elsewhere.mkdir()
    (elsewhere / "features.npy").write_bytes(b"x" * 5000)
    (run / "features" / "shared").symlink_to(elsewhere)
    writing = run / "features" / f"{'e' * 64}.partial-{os.getpid()}"  # this process: running
    writing.mkdir()
    (writing / "features.npy").write_bytes(b"x" * 300)
    cleaning = clean_run(run)
    assert not (run / "features" / "shared").exists() and (elsewhere / "features.npy").is_file()
    assert writing.is_dir() and [e.path for e in cleaning.in_use] == [writing]
    assert f"left features/{writing.name} (300 B): a running process writes it" in (
        report_lines(cleaning)
    )


def test_a_linked_cache_folder_is_not_followed(run: Path, tmp_path: Path) -> None:
    (run / "features").rename(tmp_path / "features-elsewhere")
    (run / "features").symlink_to(tmp_path / "features-elsewhere")
    clean_run(run)
    assert (tmp_path / "features-elsewhere" / "results" / "abc.json").is_file()


@pytest.mark.parametrize("what", ["no config.yaml", "missing", "a file"])
def test_a_path_that_is_not_a_run_directory_is_refused_in_one_line(
    tmp_path: Path, what: str
) -> None:
    path = tmp_path / "somewhere"
    if what == "no config.yaml":
        (path / "features" / KEY).mkdir(parents=True)
    elif what == "a file":
        path.write_text("x")
    with pytest.raises(ConfigError, match=f"RUN {path} is not a") as error:
        clean_run(path)
    assert "\n" not in str(error.value)
    if what == "no config.yaml":
        assert "no config.yaml" in str(error.value) and (path / "features" / KEY).is_dir()


def test_sizes_read_in_binary_units() -> None:
    assert [human_size(n) for n in (0, 1023, 1536, 487 * 2**20, 3 * 2**30)] == [
        "0 B",
        "1023 B",
        "1.5 KiB",
        "487.0 MiB",
        "3.0 GiB",
    ]
