"""The errors a person running simclr is shown: each message is one line naming the bad value.

The command line prints any :class:`SimCLRError` as ``simclr COMMAND: error: MESSAGE`` and exits
with status 2, without a traceback (a run stopped by a signal, :mod:`simclr.run.preemption`, exits
with 128 + the signal number); every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class SimCLRError(Exception):
    """An error caused by the input or the run, not by the code; its message is one line."""


class ConfigError(SimCLRError, ValueError):
    """A configuration value is unknown or invalid; the message names the key."""


class DataError(SimCLRError, ValueError):
    """A dataset or image cannot be read as configured; the message names what is wrong."""
