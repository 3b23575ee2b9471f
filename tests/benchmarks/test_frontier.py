"""benchmarks/frontier.py: a run's eval.json read into one row of metrics per extractor and
few-label setting, and the step time of a candidate from two run lengths, checked by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.benchmarks.conftest import load_benchmark


def load_script():
    return load_benchmark("frontier")


def protocols(knn10: float, knn200: float, linear: float, few: float) -> dict:
    return {
        "knn": {"10": {"top1": knn10}, "200": {"top1": knn200}},
        "linear": {"top1": linear},
        "few_labels": {"1%": {"knn": {"200": {"top1": few - 0.1}}, "linear": {"top1": few}}},
    }


def test_a_run_gives_every_protocol_of_every_extractor_and_its_minutes(tmp_path: Path) -> None:
    script = load_script()
    results = {
        "pretrained": protocols(0.9, 0.8, 0.85, 0.7),
        "raw pixels": protocols(0.8, 0.7, 0.75, 0.6),
    }
    (tmp_path / "eval.json").write_text(json.dumps({"results": results}))
    (tmp_path / "summary.json").write_text(json.dumps({"seconds": 90.0, "global_step": 30}))
    metrics = script.run_metrics(tmp_path)
    assert metrics["pretrain_minutes"] == 1.5 and metrics["steps"] == 30
    assert metrics["pretrained/knn10"] == 0.9 and metrics["raw_pixels/linear"] == 0.75
    assert metrics["pretrained/linear_1%"] == 0.7
    assert metrics["raw_pixels/knn200_1%"] == pytest.approx(0.5)
    assert not any(key.startswith("random_init") for key in metrics)  # not evaluated: absent


def test_the_step_time_leaves_start_up_out(tmp_path: Path, monkeypatch) -> None:
    script = load_script()
    for steps, seconds in ((4, 10.0), (16, 34.0)):  # 10 s of start-up, then 2 s a step
        run = tmp_path / f"throughput-x-{steps}"
        run.mkdir()
        (run / "summary.json").write_text(json.dumps({"seconds": seconds, "global_step": steps}))
    monkeypatch.setattr(script, "simclr", lambda *a: pytest.fail("finished runs are read back"))
    assert script.step_seconds("x", [], tmp_path, "data") == pytest.approx(2.0)


def test_the_frontier_is_drawn_a_panel_per_protocol(tmp_path: Path) -> None:
    script = load_script()
    entry = {"minutes_alone": {"mean": 6.0}}
    for metric, _ in script.PLOTTED:
        entry[f"pretrained/{metric}"] = {"mean": 0.8}
        entry[f"raw_pixels/{metric}"] = {"mean": 0.75}
    path = script.plot({"default": entry, "r20w2": entry}, tmp_path / "frontier.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_candidate_is_a_valid_config() -> None:
    """A candidate that the config refuses would fail only after the others ran."""
    from simclr.config import load_config

    script = load_script()
    for overrides in (*script.CANDIDATES.values(), *script.COMPILED.values()):
        load_config(None, list(overrides))
    assert script.COMPILED["view20+compile"][-1] == "trainer.compile=true"


def test_step_times_are_ratios_to_the_reference_measured_in_the_same_run(
    tmp_path: Path, monkeypatch
) -> None:
    """Re-measured beside the default, a candidate keeps its ratio to the default's time now,
    in the units of the default's recorded time; a schedule-only candidate takes the default's."""
    script = load_script()
    (tmp_path / "step_seconds.json").write_text(json.dumps({"default": 1.2}))
    now = {"default": 2.0, "view20": 1.0}
    monkeypatch.setattr(script, "step_seconds", lambda name, *rest: now[name])
    script.main(
        ["--throughput", "--relative-to", "default", "--out-dir", str(tmp_path)]
        + ["--candidates", "view20", "warmup0.1"]
    )
    rates = json.loads((tmp_path / "step_seconds.json").read_text())
    assert rates == pytest.approx({"default": 1.2, "view20": 0.6, "warmup0.1": 1.2})


def test_a_compiled_candidate_fills_the_cache_before_the_timed_runs(
    tmp_path: Path, monkeypatch
) -> None:
    script = load_script()
    made = []

    def pretrain(*arguments: str) -> None:
        name = next(a for a in arguments if a.startswith("run.name=")).split("=")[1]
        made.append(name)
        steps = int(name.split("-")[2])
        run = tmp_path / name
        run.mkdir()
        seconds = 100.0 if name.endswith("cache") else 5.0 + 2.0 * steps
        (run / "summary.json").write_text(json.dumps({"seconds": seconds, "global_step": steps}))

    monkeypatch.setattr(script, "simclr", pretrain)
    rate = script.step_seconds("x", ["trainer.compile=true"], tmp_path, "data", (8, 48))
    assert made == ["throughput-x-8-cache", "throughput-x-8", "throughput-x-48"]
    assert rate == pytest.approx(2.0)
