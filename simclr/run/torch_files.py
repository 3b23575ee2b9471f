"""Reading files written by ``torch.save`` without running code from them.

A checkpoint is data: ``torch.load(weights_only=True)`` unpickles only tensors and plain values
(dicts, lists, strings, numbers), so a file that someone else made cannot run code when it is
read. Lightning checkpoints of this project hold nothing else (the config is saved as plain
containers). A file that needs more is refused, and so is one that is not a torch save.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from simclr.errors import ConfigError


def read_torch_file(path: str | Path, what: str = "--checkpoint") -> Any:
    """The content of ``path``, loaded with ``weights_only=True``; a :class:`ConfigError` naming
    ``what`` and the file when it is unsafe, truncated or not a torch save."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as error:
        if "Weights only load failed" in str(error):
            raise ConfigError(
                f"{what} {path}: refused: it holds Python objects besides tensors and plain "
                "values, and loading them could run code (torch.load weights_only=True)"
            ) from None
        raise ConfigError(f"{what} {path}: not a readable PyTorch file (UnpicklingError)") from None
    except Exception as error:  # noqa: BLE001 - a damaged file raises many types
        kind = type(error).__name__
        raise ConfigError(f"{what} {path}: not a readable PyTorch file ({kind})") from None
