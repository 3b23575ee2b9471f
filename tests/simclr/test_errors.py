"""simclr/errors.py: the error classes the command line turns into one line and exit status 2,
and the checks of single config values, each refusal one line ``key=value is invalid: what is
allowed``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from simclr.cli import main
from simclr.errors import (
    ConfigError,
    DataError,
    SimCLRError,
    check_choice,
    check_finite,
    check_probability,
    check_range,
    check_subset,
    check_workers,
    require,
)


def test_config_and_data_errors_are_simclr_errors_and_value_errors() -> None:
    for error in (ConfigError, DataError):
        assert issubclass(error, SimCLRError) and issubclass(error, ValueError)
    assert not issubclass(SimCLRError, ValueError)  # only the two kinds of bad value are


def test_the_command_line_prints_a_simclr_error_as_one_line_and_exits_2(capsys) -> None:
    assert main(["pretrain", "loss.temperature=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("simclr pretrain: error:")
    assert "loss.temperature" in err[0] and "Traceback" not in err[0]


def test_require_names_the_key_the_value_and_what_is_allowed() -> None:
    require(True, "a.b", 3, "never shown")
    with pytest.raises(ConfigError) as error:
        require(False, "a.b", "x", "must be y")
    assert str(error.value) == "a.b='x' is invalid: must be y"


@pytest.mark.parametrize(
    "value, ok", [(0.0, True), (1.0, True), (0.3, True), (-0.01, False), (1.01, False)]
)
def test_check_probability(value: float, ok: bool) -> None:
    if ok:
        check_probability("p", value)
    else:
        with pytest.raises(ConfigError, match=f"^p={value} is invalid: must be a probability"):
            check_probability("p", value)


def test_check_choice_lists_the_choices() -> None:
    check_choice("name", "b", ("a", "b"))
    with pytest.raises(ConfigError, match=r"^name='c' is invalid: allowed: a, b$"):
        check_choice("name", "c", ("a", "b"))


@pytest.mark.parametrize(
    "value, low_open, ok",
    [
        ([0.5, 1.0], True, True),
        ([1.0, 1.0], True, True),
        ([0.0, 1.0], True, False),  # the open end
        ([0.0, 1.0], False, True),  # the closed one
        ([0.5, 1.5], False, False),
        ([0.9, 0.1], False, False),
        ([0.5], False, False),
        ([0.1, 0.2, 0.3], False, False),
    ],
)
def test_check_range(value: list, low_open: bool, ok: bool) -> None:
    if ok:
        check_range("r", value, 0.0, 1.0, low_open)
        return
    bracket = r"\(" if low_open else r"\["
    with pytest.raises(ConfigError, match=f"inside {bracket}0.0, 1.0]$"):
        check_range("r", value, 0.0, 1.0, low_open)


@pytest.mark.parametrize(
    "value, ok",
    [(None, True), (0.5, True), (1.0, True), (2.0, True), (1000, True)]
    + [(0.0, False), (-1.0, False), (2.5, False), (1.5, False)],
)
def test_check_subset(value, ok: bool) -> None:
    if ok:
        check_subset("s", value)
    else:
        with pytest.raises(ConfigError, match="fraction in \\(0, 1\\] or a whole count > 1"):
            check_subset("s", value)


def test_check_workers() -> None:
    check_workers("w", None)
    check_workers("w", 0)
    with pytest.raises(ConfigError, match="^w=-1 is invalid: must be null or >= 0$"):
        check_workers("w", -1)


@dataclass
class Inner:
    scale: list[float] = field(default_factory=lambda: [0.5, 1.0])
    name: str = "x"


@dataclass
class Outer:
    rate: float = 0.1
    count: int = 3
    inner: Inner = field(default_factory=Inner)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_check_finite_finds_a_non_finite_number_in_subsections_and_lists(bad: float) -> None:
    check_finite(Outer())
    with pytest.raises(ConfigError, match="^top.rate=.* must be a finite number$"):
        check_finite(Outer(rate=bad), "top.")
    with pytest.raises(ConfigError, match=r"^inner\.scale=\[0\.5, .*\] is invalid"):
        check_finite(Outer(inner=Inner(scale=[0.5, bad])))


def test_a_quoted_value_cannot_break_the_line_or_drive_the_terminal(capsys) -> None:
    """Found by the property tests: an unknown key holding a newline split the error's line."""
    error = ConfigError("unknown config key 'a\nb\x1b[2J'")
    assert str(error) == "unknown config key 'a\\nb\\x1b[2J'"
    assert main(["pretrain", "a\nb\x1bc=1"]) == 2
    err = capsys.readouterr().err
    assert err == "simclr pretrain: error: unknown config key 'a\\nb\\x1bc'\n"
