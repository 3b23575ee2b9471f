"""A resumed run that replaces the encoder sets the former encoder's results aside
(simclr/run/derived.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simclr.run.derived import set_aside_derived_outputs
from simclr.run.resume import resume_config
from simclr.run.train import pretrain


def test_nothing_derived_nothing_moved(tmp_path: Path) -> None:
    (tmp_path / "encoder.pt").write_bytes(b"weights")
    assert set_aside_derived_outputs(tmp_path) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["encoder.pt"]


def test_a_step_seen_twice_gets_a_second_folder(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"global_step": 8}))
    for text in ("first", "second"):
        (tmp_path / "eval.json").write_text(text)
        set_aside_derived_outputs(tmp_path)
    assert (tmp_path / "stale" / "step8" / "eval.json").read_text() == "first"
    assert (tmp_path / "stale" / "step8-1" / "eval.json").read_text() == "second"


@pytest.mark.slow
def test_a_resumed_run_moves_the_former_encoders_results_aside(synthetic, capsys) -> None:
    config = synthetic.pretrain_config("trainer.max_epochs=1", "run.name=run")
    run_dir = Path(pretrain(config, quiet=True).run_dir)
    (run_dir / "eval.json").write_text('{"encoder_fingerprint": "former"}')
    (run_dir / "index" / "test").mkdir(parents=True)
    (run_dir / "index" / "test" / "index.json").write_text("{}")
    features = run_dir / "features" / "0123abcd"
    features.mkdir(parents=True)

    pretrain(resume_config(run_dir, ["trainer.max_epochs=2"]), resume_dir=run_dir)
    stale = run_dir / "stale" / "step8"  # 8 steps an epoch: the former encoder's step
    assert json.loads((stale / "eval.json").read_text()) == {"encoder_fingerprint": "former"}
    assert (stale / "index" / "test" / "index.json").is_file()
    assert not (run_dir / "eval.json").exists() and not (run_dir / "index").exists()
    assert features.is_dir()  # keyed by the encoder's fingerprint: never served stale
    assert f"the former encoder's results moved to {stale}" in capsys.readouterr().out


@pytest.mark.parametrize("step", ["../../../outside", "/tmp/x", True, 1.5, None])
def test_a_recorded_step_that_is_not_a_number_never_becomes_a_path(tmp_path, step) -> None:
    run = tmp_path / "a" / "b" / "run"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"global_step": step}))
    (run / "eval.json").write_text("former")
    assert set_aside_derived_outputs(run) == run / "stale" / "stepunknown"
    assert (run / "stale" / "stepunknown" / "eval.json").read_text() == "former"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
