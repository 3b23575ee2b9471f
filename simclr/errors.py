"""The errors a person running simclr is shown: each message is one line naming the bad value.

The command line prints any :class:`SimCLRError` as ``simclr COMMAND: error: MESSAGE`` and exits
with status 2, without a traceback (a run stopped by a signal, :mod:`simclr.run.preemption`, exits
with 128 + the signal number); every other exception is a bug and keeps its traceback.

The checks of single values below raise them: every section of every schema (pretraining,
evaluation, ablation) states its checks with these, so that all read ``key=value is invalid:
what is allowed``. They live here, below both ``simclr.config`` and ``simclr.data``, so that
each section's dataclass can sit beside the package it configures.
"""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass
from typing import Any


class SimCLRError(Exception):
    """An error caused by the input or the run, not by the code; its message is one line: a
    value it quotes (a key, a file name) cannot break it, as non-printable characters show
    escaped."""

    def __str__(self) -> str:
        return printable(super().__str__())


def printable(text: str) -> str:
    """``text`` with every non-printable character (a terminal escape, a newline) escaped as
    ``repr`` would, so a file name can never drive the terminal or split a line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ConfigError(SimCLRError, ValueError):
    """A configuration value is unknown or invalid; the message names the key."""


class DataError(SimCLRError, ValueError):
    """A dataset or image cannot be read as configured; the message names what is wrong."""


def require(condition: bool, key: str, value: Any, allowed: str) -> None:
    """Raise a one-line ConfigError ``key=value is invalid: allowed`` unless ``condition``."""
    if not condition:
        raise ConfigError(f"{key}={value!r} is invalid: {allowed}")


def check_probability(key: str, value: float) -> None:
    require(0.0 <= value <= 1.0, key, value, "must be a probability in [0, 1]")


def check_choice(key: str, value: Any, choices: Any) -> None:
    require(value in choices, key, value, f"allowed: {', '.join(map(str, choices))}")


def check_range(key: str, value: list[float], low: float, high: float, low_open: bool) -> None:
    """``value`` is ``[min, max]`` with ``min <= max`` inside (low, high] or [low, high]."""
    ok = len(value) == 2 and value[0] <= value[1]
    ok = ok and (value[0] > low if low_open else value[0] >= low) and value[1] <= high
    bracket = "(" if low_open else "["
    require(ok, key, value, f"must be [min, max] with min <= max inside {bracket}{low}, {high}]")


def check_subset(key: str, value: float | None) -> None:
    """null, a fraction in (0, 1] or a whole count > 1 of a split's images."""
    if value is None:
        return
    fraction = 0 < value <= 1
    count = value > 1 and float(value).is_integer()
    require(fraction or count, key, value, "must be a fraction in (0, 1] or a whole count > 1")


def check_seed(key: str, value: int) -> None:
    """A seed numpy's and Lightning's generators take: a whole number in [0, 2**32 - 1]."""
    require(0 <= value <= 2**32 - 1, key, value, "must be a whole number in [0, 4294967295]")


def check_workers(key: str, value: int | None) -> None:
    """DataLoader workers: null (auto) or a count >= 0."""
    require(value is None or value >= 0, key, value, "must be null or >= 0")


def check_finite(section: Any, prefix: str = "") -> None:
    """Every number of a config section, lists and subsections included, is finite: an inf or
    nan learning rate, temperature or probability passes every comparison meant to catch it."""
    for item in fields(section):
        key, value = f"{prefix}{item.name}", getattr(section, item.name)
        if is_dataclass(value):
            check_finite(value, f"{key}.")
            continue
        for number in value if isinstance(value, list) else [value]:
            finite = not isinstance(number, float) or math.isfinite(number)
            require(finite, key, value, "must be a finite number")
