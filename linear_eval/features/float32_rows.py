"""Cached representations stored in float16 on disk and read back as float32, a slice at a time.

The feature cache keeps h in half precision (half the disk and page cache of float32; a
representation's relative rounding error is at most 2^-11), while every protocol (kNN, the
linear probe, retrieval, embed) computes in float32 as before. :class:`Float32Rows` wraps the
memory-mapped array: indexing it converts only the rows asked for, and ``np.asarray`` the whole.
"""

from __future__ import annotations

import numpy as np

FLOAT32 = np.dtype(np.float32)


class Float32Rows:
    """A stored (N, D) array, memory-mapped in any float dtype, whose rows read as float32."""

    dtype = FLOAT32

    def __init__(self, stored: np.ndarray) -> None:
        self.stored = stored

    @property
    def shape(self) -> tuple[int, ...]:
        return self.stored.shape

    @property
    def ndim(self) -> int:
        return self.stored.ndim

    def __len__(self) -> int:
        return len(self.stored)

    def __getitem__(self, key) -> np.ndarray:
        return np.asarray(self.stored[key], dtype=FLOAT32)

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        dtype = np.dtype(dtype or FLOAT32)
        if copy is False and self.stored.dtype != dtype:
            raise ValueError(f"{self.stored.dtype} rows cannot be read as {dtype} without a copy")
        # np.array() asks for a copy and trusts it: a read-only memory map must not come back
        return np.array(self.stored, dtype=dtype) if copy else np.asarray(self.stored, dtype=dtype)

    def __repr__(self) -> str:
        return f"Float32Rows({self.shape}, stored as {self.stored.dtype})"
