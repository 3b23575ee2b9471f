"""Tests of linear_eval/finetune_config.py: the finetune section's defaults (SimCLR appendix
B.5) and its checks, on the section alone and through the whole evaluation config."""

from __future__ import annotations

import pytest

from linear_eval.config import EvalConfig, load_eval_config
from linear_eval.finetune_config import FinetuneConfig
from simclr.errors import ConfigError


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("finetune.label_fraction=0", "finetune.label_fraction"),
        ("finetune.label_fraction=-0.5", "finetune.label_fraction"),
        ("finetune.label_fraction=1.01", "finetune.label_fraction"),
        ("finetune.labels_per_class=0", "finetune.labels_per_class"),
        ("finetune.schedule=step", "finetune.schedule"),
        ("finetune.baselines=[supervised]", "finetune.baselines"),
        ("finetune.sweep_fractions=[0.1,2.0]", "finetune.sweep_fractions"),
    ],
)
def test_invalid_values_fail_with_the_key_named(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        load_eval_config(None, None, [override])
    assert "\n" not in str(error.value)


def test_the_section_checks_its_own_values() -> None:
    section = FinetuneConfig(crop_scale=[0.5, 0.1])
    with pytest.raises(ConfigError, match="finetune.crop_scale"):
        section.check()
    with pytest.raises(ConfigError, match="finetune.crop_scale"):  # and the whole config
        EvalConfig(finetune=section).check()
    FinetuneConfig().check()  # the defaults pass


def test_a_label_fraction_and_labels_per_class_together_are_one_line() -> None:
    overrides = ["finetune.label_fraction=0.1", "finetune.labels_per_class=5"]
    with pytest.raises(ConfigError, match="finetune.labels_per_class=5.*label_fraction") as error:
        load_eval_config(None, None, overrides)
    assert "\n" not in str(error.value)


def test_fine_tuning_defaults_follow_appendix_b5() -> None:
    settings = load_eval_config().finetune
    assert settings.fraction == 0.01 and settings.labels_per_class is None
    assert (settings.momentum, settings.weight_decay, settings.base_lr) == (0.9, 0.0, 0.05)
    assert load_eval_config(None, None, ["finetune.labels_per_class=3"]).finetune.fraction is None
