"""Tests of linear_eval/progress.py: a line per finished step of a long evaluation phase with the
time left, printed by the probes while they fit, and nothing when asked to be quiet."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from linear_eval.config import LinearConfig
from linear_eval.features.encoders import load_encoder
from linear_eval.progress import Progress, duration
from linear_eval.protocols.evaluate import evaluate_extractor
from linear_eval.protocols.linear import linear_probe

pytestmark = pytest.mark.usefixtures("single_thread")


def test_durations_read_as_the_training_lines_clock() -> None:
    assert [duration(s) for s in (0.4, 42, 185, 3725)] == ["0:00", "0:42", "3:05", "1:02:05"]


def test_each_step_says_the_time_so_far_and_the_time_left_by_its_weight(capsys) -> None:
    now = [100.0]
    progress = Progress("pretrained", clock=lambda: now[0])
    progress.begin("linear probe", [9, 9, 10], "3 fits")
    now[0] += 18.0  # the first fit: 9 units of work in 18 s
    progress.step("weight decay 0: held-out top-1 88.00 %")
    now[0] += 18.0
    progress.step("weight decay 0.001: held-out top-1 87.00 %")
    now[0] += 20.0
    progress.step("final fit")
    assert capsys.readouterr().err.splitlines() == [
        "pretrained: linear probe: 3 fits",
        "pretrained: linear probe: weight decay 0: held-out top-1 88.00 % [1/3, 0:18; about 0:38 "
        "left]",  # 2 s per unit, 19 units left
        "pretrained: linear probe: weight decay 0.001: held-out top-1 87.00 % [2/3, 0:36; about "
        "0:20 left]",
        "pretrained: linear probe: final fit [3/3, 0:56]",
    ]


def test_a_quiet_progress_prints_nothing(capsys) -> None:
    progress = Progress("pretrained", enabled=False)
    progress.begin("linear probe", [1, 1], "2 fits")
    progress.step("a fit")
    progress.say("a note")
    assert capsys.readouterr() == ("", "")


STEP = re.compile(r"^probe: linear probe: (.+) \[(\d)/(\d), 0:\d\d(; about 0:\d\d left)?\]$")


def test_the_probe_prints_a_line_per_fit_with_its_eta(capsys) -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(200) % 4
    features = (rng.normal(size=(200, 8)) + labels[:, None]).astype(np.float32)
    config = LinearConfig(epochs=2, batch_size=64, weight_decays=[0.0, 1e-4, 1e-3])
    linear_probe(features, labels, features, labels, config, progress=Progress("probe"))
    first, *steps = capsys.readouterr().err.splitlines()
    assert first == (
        "probe: linear probe: 4 fits of 2 epochs (3 weight decays on 180 images, 20 held out; "
        "then the final one on 200)"
    )
    parsed = [STEP.match(line) for line in steps]
    assert all(parsed), steps
    assert [m.group(1).split(":")[0] for m in parsed[:3]] == [
        "weight decay 0",
        "weight decay 0.0001",
        "weight decay 0.001",
    ]
    assert all("held-out top-1" in m.group(1) for m in parsed[:3])
    assert parsed[3].group(1).startswith("final fit, weight decay ") and "test top-1" in steps[3]
    assert [m.group(2) + "/" + m.group(3) for m in parsed] == ["1/4", "2/4", "3/4", "4/4"]
    assert all(m.group(4) for m in parsed[:3]) and parsed[3].group(4) is None  # no ETA when done


@pytest.mark.parametrize("quiet", [False, True])
def test_simclr_evaluation_prints_its_phases_unless_quiet(
    run_dir: Path, synthetic, capsys, quiet: bool
) -> None:
    loaded = load_encoder(run_dir)
    overrides = ["few_labels.fractions=[]"] + ([] if quiet else ["features.progress_bar=true"])
    config = synthetic.eval_config(loaded.pretrain_config, *overrides, "linear.augment=true")
    cache = run_dir / "features"
    evaluate_extractor(loaded.extractor, config, "all", cache, augmented=True)
    evaluate_extractor(loaded.extractor, config, "all", cache, augmented=True)  # all cached
    err = capsys.readouterr().err.splitlines()
    bars = "pretrained: synthetic_eval/"  # the feature extraction's progress bars
    lines = [line for line in err if line.startswith("pretrained") and not line.startswith(bars)]
    if quiet:
        assert not [line for line in err if line.startswith("pretrained")]
        return
    phases = [line.split(": ")[1] for line in lines]
    assert phases == [
        "kNN",  # first run: what each phase does, then a line per fit or epoch
        *["linear probe"] * 4,  # its plan, two weight decays, the final fit
        *["linear probe crop+flip"] * 2,  # its plan, one epoch
        "kNN",  # second run: every result read back
        "linear probe",
        "linear probe crop+flip",
    ]
    assert lines[1].endswith("(2 weight decays on 58 images, 6 held out; then the final one on 64)")
    assert "[3/3, " in lines[4] and "test top-1" in lines[4]
    assert all("cached result of an earlier run" in line for line in lines[-3:])
