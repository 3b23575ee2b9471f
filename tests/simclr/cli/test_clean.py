"""Tests of simclr/cli/clean.py: ``simclr clean RUN`` through the command root, without a
subprocess."""

from __future__ import annotations

from pathlib import Path

from simclr.cli import main


def _run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "features" / ("a" * 64)).mkdir(parents=True)
    (run / "features" / ("a" * 64) / "features.npy").write_bytes(b"x" * 3000)
    (run / "checkpoints").mkdir()
    for name, size in (("config.yaml", 10), ("encoder.pt", 20), ("checkpoints/last.ckpt", 30)):
        (run / name).write_bytes(b"x" * size)
    (run / "checkpoints" / "epoch000.ckpt").write_bytes(b"x" * 40)
    return run


def test_clean_prints_each_removal_and_the_total(tmp_path: Path, capsys) -> None:
    run = _run(tmp_path)
    assert main(["clean", str(run), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"would remove features/{'a' * 64} (2.9 KiB)",
        "kept 1 per-epoch checkpoint (40 B): --checkpoints removes it",
        f"would free 2.9 KiB (1 entry) in {run}; nothing was removed (--dry-run)",
    ]
    assert (run / "features" / ("a" * 64) / "features.npy").is_file()
    assert main(["clean", str(run), "--checkpoints"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"removed features/{'a' * 64} (2.9 KiB)",
        "removed checkpoints/epoch000.ckpt (40 B)",
        f"freed 3.0 KiB (2 entries) in {run}",
    ]
    assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()) == [
        "checkpoints/last.ckpt",
        "config.yaml",
        "encoder.pt",
    ]


def test_clean_refuses_a_directory_that_is_not_a_run_in_one_line(tmp_path: Path, capsys) -> None:
    assert main(["clean", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"simclr clean: error: RUN {tmp_path} is not a run directory (no config.yaml in it): "
        "give a directory that simclr pretrain wrote\n"
    )
    assert captured.out == ""


def test_clean_keeps_best_ckpt_unless_best_is_given(tmp_path: Path, capsys) -> None:
    run = _run(tmp_path)
    (run / "checkpoints" / "best.ckpt").write_bytes(b"x" * 50)
    assert main(["clean", str(run), "--checkpoints"]) == 0
    out = capsys.readouterr().out
    assert "kept checkpoints/best.ckpt (50 B), the checkpoint of the best probe accuracy: " in out
    assert "--best removes it" in out and (run / "checkpoints" / "best.ckpt").is_file()
    assert main(["clean", str(run), "--checkpoints", "--best"]) == 0
    assert "removed checkpoints/best.ckpt (50 B)" in capsys.readouterr().out
    assert not (run / "checkpoints" / "best.ckpt").exists()
