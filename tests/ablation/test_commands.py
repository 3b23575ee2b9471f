"""Tests of ablation/commands.py: ``simclr ablate`` through the command root."""

from __future__ import annotations

import ablation.runner
from ablation.runner import SweepResult
from simclr.cli import main


def test_a_bad_key_is_one_line_and_exit_status_2(tmp_path, write_ablation, capsys):
    runs = [{"name": "ok", "overrides": []}, {"name": "typo", "overrides": ["loss.tempreture=1"]}]
    path = write_ablation(tmp_path / "data", runs=runs)
    assert main(["ablate", "--config", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "loss.tempreture" in error
    assert error.startswith("simclr ablate: error: ")
    assert not (tmp_path / "sweeps" / "tiny").exists()


def test_the_report_is_written_and_a_failed_run_gives_exit_status_1(
    tmp_path, write_ablation, monkeypatch, capsys
):
    path = write_ablation(tmp_path / "data", include_base=False, grid={"loss.temperature": [0.1]})
    out = tmp_path / "sweeps" / "renamed"
    rows = [
        {"run": "loss.temperature=0.1", "overrides": "", "status": "ok", "knn_top1": "0.5"},
        {"run": "loss.temperature=0.5", "overrides": "", "status": "failed", "error": "x"},
    ]
    swept = []

    def fake_sweep(config):
        swept.append(config)
        out.mkdir(parents=True)
        failed = ["loss.temperature=0.5"] if len(swept) == 1 else []
        return SweepResult(out, rows[: 2 if failed else 1], ["loss.temperature=0.1"], [], failed)

    monkeypatch.setattr(ablation.runner, "run_sweep", fake_sweep)
    assert main(["ablate", "--config", str(path), "name=renamed"]) == 1
    assert swept[0].name == "renamed"  # the overrides change the ablation file's keys
    printed = capsys.readouterr().out
    assert printed.startswith("# Ablation: renamed")
    assert f"results: {out / 'results.csv'}, {out / 'results.md'}, {out / 'results.png'}" in printed
    assert (out / "results.md").is_file() and (out / "results.png").is_file()

    out.rename(tmp_path / "first")
    assert main(["ablate", "--config", str(path), "name=renamed"]) == 0  # no run failed


def test_a_name_with_dot_dot_is_one_line_and_writes_nothing_outside(
    tmp_path, write_ablation, capsys
):
    path = write_ablation(tmp_path / "data", name="../../escaped-ablation", runs=[{"name": "a"}])
    before = sorted(tmp_path.rglob("*"))
    assert main(["ablate", "--config", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("simclr ablate: error: name='../../escaped-ablation' is invalid")
    assert error.count("\n") == 1
    assert (
        sorted(tmp_path.rglob("*")) == before
        and not (tmp_path.parent / "escaped-ablation").exists()
    )
