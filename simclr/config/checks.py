"""Checks of single config values: they moved to :mod:`simclr.errors`, below ``simclr.config`` and
``simclr.data``; kept here until every importer reads them from there."""

from simclr.errors import (  # noqa: F401
    check_choice,
    check_finite,
    check_probability,
    check_range,
    check_subset,
    check_workers,
    require,
)
