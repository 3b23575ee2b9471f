"""Pickles that may hold only numpy arrays and plain values: CIFAR's official batches.

CIFAR-10/100 ship as Python pickles, and ``pickle.load`` runs whatever a file asks it to. This
unpickler resolves only the few globals that rebuilding a numpy array needs (and the codec
that Python 2 pickles use for bytes); anything else is refused, so a batch file that someone
replaced cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class UnsafePickle(pickle.UnpicklingError):
    """The pickle names a global outside :data:`ALLOWED_GLOBALS`."""


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickle(f"it asks for {module}.{name}, which could run code")
        return super().find_class(module, name)


def load_plain_pickle(path: str | Path) -> Any:
    """The content of a pickle of arrays and plain values (latin-1 for Python 2 strings)."""
    with open(path, "rb") as handle:
        return _PlainUnpickler(handle, encoding="latin1").load()
