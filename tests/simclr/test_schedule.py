"""The warm-up + cosine schedule and what extending a resumed run does to it
(simclr/schedule.py), against values computed by hand."""

from __future__ import annotations

import io
import math
import shutil

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from simclr.run.preemption import TrainingInterrupted
from simclr.run.resume import resume_config
from simclr.run.train import pretrain
from simclr.schedule import Schedule, build_scheduler, extended, warmup_cosine
from tests.simclr.runs import CtrlCAtStep


@pytest.mark.parametrize(
    "step, factor",
    [
        (0, 0.1),  # first warm-up step: 1 / 10
        (4, 0.5),
        (9, 1.0),  # end of warm-up: the peak
        (10, 1.0),  # cosine starts at its peak
        (35, 0.5 * (1 + math.cos(math.pi / 4))),
        (60, 0.5),  # half way through the cosine
        (110, 0.0),  # the end
        (500, 0.0),  # and stays there
    ],
)
def test_warmup_cosine_by_hand(step: int, factor: float) -> None:
    assert warmup_cosine(10, 110)(step) == pytest.approx(factor, abs=1e-12)


def test_no_warmup_starts_at_the_peak() -> None:
    schedule = warmup_cosine(0, 100)
    assert schedule(0) == 1.0 and schedule(50) == pytest.approx(0.5)


def test_scheduler_sets_the_learning_rate_step_by_step() -> None:
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=2.0)
    scheduler = build_scheduler(optimizer, warmup_cosine(4, 12))
    seen = []
    for _ in range(12):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    expected = [2.0 * f for f in (0.25, 0.5, 0.75, 1.0)]
    expected += [2.0 * 0.5 * (1 + math.cos(math.pi * k / 8)) for k in range(8)]
    assert seen == pytest.approx(expected)


# ----------------------------------------------------------------------------- extending
# planned: warm-up 10, cosine to 0 at 110; at step 60 the multiplier is 0.5; new end 210
PLANNED, FRESH = warmup_cosine(10, 110), warmup_cosine(10, 210)


@pytest.mark.parametrize(
    "choice, step, factor",
    [
        ("continue", 60, 0.5),  # no jump: where it was
        ("continue", 135, 0.5 * 0.5),  # half way from 60 to 210: half of 0.5
        ("continue", 210, 0.0),
        ("constant", 60, 0.5),
        ("constant", 200, 0.5),
        ("restart", 60, 0.1),  # a fresh warm-up: 1 / 10
        ("restart", 69, 1.0),  # its end: the peak
        ("restart", 140, 0.5),  # half way through the cosine of 70..210
        ("replan", 60, 0.5 * (1 + math.cos(math.pi * 50 / 200))),  # as if planned for 210
        ("replan", 110, 0.5),
    ],
)
def test_extended_by_hand(choice: str, step: int, factor: float) -> None:
    assert extended(PLANNED, FRESH, 60, choice)(step) == pytest.approx(factor, abs=1e-12)


def test_extending_a_finished_run_continues_from_its_last_rate() -> None:
    last = PLANNED(109)
    assert 0 < last < 1e-3
    assert extended(PLANNED, FRESH, 110, "continue")(110) == pytest.approx(PLANNED(110))
    assert extended(PLANNED, FRESH, 110, "restart")(119) == 1.0


def test_unknown_choice_is_refused() -> None:
    with pytest.raises(ValueError, match="optimizer.extend='linear'.*continue, restart"):
        extended(PLANNED, FRESH, 60, "linear")


def test_the_plan_travels_in_the_scheduler_state_and_loads_weights_only() -> None:
    """LambdaLR saves a callable object's fields: a resumed run knows its planned end."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    state = build_scheduler(optimizer, warmup_cosine(3, 77)).state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    fresh = warmup_cosine(5, 500)
    build_scheduler(optimizer, fresh).load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh == Schedule(start=0, end=77, warmup=3)


# ----------------------------------------------------------------------------- a real resume


class LearningRates(Callback):
    """The encoder's learning rate at every optimizer step, by global step."""

    def __init__(self) -> None:
        self.by_step: dict[int, float] = {}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.by_step[trainer.global_step] = optimizer.param_groups[0]["lr"]


PEAK = 1.0 * 8 / 256  # base_lr 1 at batch 8, linear scaling
STOPPED = 7  # Ctrl-C at step 6: the step in progress ends, the run stops after step 7
BEFORE = 0.5 * (1 + math.cos(math.pi * (STOPPED - 4) / 12))  # warm-up 4, cosine to 0 at 16
# (the budget given on resume, {step: expected multiplier of PEAK}); 8 steps an epoch
EXPECTED = {
    "continue": (4, {7: BEFORE, 19: BEFORE * 0.5 * (1 + math.cos(math.pi * 12 / 25)), 31: None}),
    "constant": (4, {7: BEFORE, 31: BEFORE}),
    "restart": (4, {7: 1 / 4, 10: 1.0, 21: 0.5 * (1 + math.cos(math.pi * 10 / 21))}),
    "replan": (4, {7: 0.5 * (1 + math.cos(math.pi * 3 / 28)), 18: 0.5}),
    "unchanged": (2, {7: BEFORE, 10: 0.5 * (1 + math.cos(math.pi * 6 / 12))}),
}


@pytest.mark.slow
def test_extending_an_interrupted_run_gives_the_rate_each_choice_promises(
    synthetic, extra_callbacks, tmp_path, capsys
) -> None:
    config = synthetic.pretrain_config("trainer.max_epochs=2", "run.name=cut")
    extra_callbacks(CtrlCAtStep(6))
    with pytest.raises(TrainingInterrupted, match="stopped by SIGINT at step 7"):
        pretrain(config, quiet=True)
    cut = tmp_path / "cut"
    for choice, (epochs, expected) in EXPECTED.items():
        run_dir = tmp_path / choice
        shutil.copytree(cut, run_dir)
        rates = LearningRates()
        extra_callbacks(rates)
        extend = "replan" if choice == "unchanged" else choice  # any choice: nothing to extend
        overrides = [f"trainer.max_epochs={epochs}", f"optimizer.extend={extend}"]
        pretrain(resume_config(run_dir, overrides), resume_dir=run_dir, quiet=True)
        assert min(rates.by_step) == STOPPED and max(rates.by_step) == 8 * epochs - 1
        for step, factor in expected.items():
            if factor is None:  # the last step of a cosine: close to 0
                assert rates.by_step[step] < 0.01 * PEAK
            else:
                assert rates.by_step[step] == pytest.approx(PEAK * factor, rel=1e-6), (choice, step)
        said = capsys.readouterr().out
        if choice == "unchanged":
            assert "resumed at step 7 of 16: the schedule goes on" in said
        else:
            assert f"planned for 16 steps, now {8 * epochs}" in said
            assert f"optimizer.extend={choice}" in said
