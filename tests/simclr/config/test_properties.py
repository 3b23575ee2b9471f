"""Property-based tests of the config schemas (pretraining's, evaluation's): whatever value of
whatever type lands on whatever key, loading gives a checked config or one ``ConfigError`` line
that names the key, never another exception.

Values are drawn to be hostile: wrong types, out of range, non-finite, empty, huge, unicode and
control characters, OmegaConf interpolations and YAML syntax. The example budget is fixed by the
``ci`` Hypothesis profile (``tests/conftest.py``), so a run is reproducible and fast.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from linear_eval.config import EvalConfig, load_eval_config
from simclr.config import ConfigError, SimCLRConfig, load_config


def leaf_keys(schema: type, prefix: str = "") -> list[str]:
    """Every key of a dataclass schema that holds a value (``optimizer.base_lr``, ...)."""
    keys = []
    for item in dataclasses.fields(schema):
        default = (
            item.default_factory()
            if item.default_factory is not dataclasses.MISSING
            else item.default
        )
        if dataclasses.is_dataclass(default):
            keys += leaf_keys(type(default), f"{prefix}{item.name}.")
        else:
            keys.append(f"{prefix}{item.name}")
    return keys


PRETRAIN_KEYS = leaf_keys(SimCLRConfig)
EVAL_KEYS = leaf_keys(EvalConfig)

HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "null",
        "~",
        "[]",
        "{}",
        "[1,",
        "{a: 1}",
        "${oc.env:SIMCLR_UNSET_VARIABLE}",
        "${no.such.key}",
        "${data.name}",
        "\x1b[31mred",
        "a\x00b",
        "é✓🙂",
        "../../etc",
        "/",
        "1e309",
        "-1e309",
        "nan",
        ".inf",
        "-.inf",
        "0x10",
        "1_000",
        "True",
        "yes",
    ]
)


def rendered(value: Any) -> str:
    """The text after ``key=`` that a person would type for ``value``."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, list):
        return "[" + ",".join(rendered(item) for item in value) + "]"
    if value is None:
        return "null"
    return str(value)


SCALARS = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 10**9]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    HOSTILE_TEXT,
    st.text(max_size=12),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=4))


def assert_loads_or_names(load, override: str, key: str) -> None:
    """``load([override])`` gives a config, or one ConfigError line naming the key's section."""
    try:
        load([override])
    except ConfigError as error:
        message = str(error)
        assert "\n" not in message and message.strip(), repr(message)
        assert key.split(".")[0] in message, (override, message)


@given(key=st.sampled_from(PRETRAIN_KEYS), value=VALUES)
def test_any_value_on_any_pretraining_key_loads_or_is_one_line(key: str, value: Any) -> None:
    assert_loads_or_names(
        lambda overrides: load_config(None, overrides), f"{key}={rendered(value)}", key
    )


@given(key=st.sampled_from(EVAL_KEYS), value=VALUES)
def test_any_value_on_any_evaluation_key_loads_or_is_one_line(key: str, value: Any) -> None:
    load = lambda overrides: load_eval_config(None, None, overrides)  # noqa: E731
    assert_loads_or_names(load, f"{key}={rendered(value)}", key)


@given(
    override=st.one_of(
        st.text(max_size=30),
        st.builds(lambda k, v: f"{k}={v}", st.text(max_size=12), st.text(max_size=12)),
    )
)
def test_any_text_as_an_override_loads_or_is_one_line(override: str) -> None:
    try:
        load_config(None, [override])
    except ConfigError as error:
        assert "\n" not in str(error) and str(error).strip()


@given(key=st.sampled_from(PRETRAIN_KEYS), value=VALUES)
def test_a_loaded_config_passes_its_own_checks_and_round_trips(key: str, value: Any) -> None:
    """What loads is what a run saves in config.yaml and reads back: the same config."""
    try:
        config = load_config(None, [f"{key}={rendered(value)}"])
    except ConfigError:
        return
    config.check()
    from omegaconf import OmegaConf

    from simclr.config.load import as_config

    container = OmegaConf.to_container(OmegaConf.structured(config))
    assert as_config(container) == config
