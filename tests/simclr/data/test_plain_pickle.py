"""Pickles that may hold only numpy arrays and plain values (simclr/data/plain_pickle.py)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from simclr.data.plain_pickle import UnsafePickle, load_plain_pickle


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_arrays_and_plain_values_load(tmp_path: Path, protocol: int) -> None:
    value = {
        "data": np.arange(12, dtype=np.uint8).reshape(3, 4),
        "labels": [1, 2, 3],
        "name": "batch 1",
        "scale": 0.5,
    }
    (tmp_path / "batch").write_bytes(pickle.dumps(value, protocol=protocol))
    loaded = load_plain_pickle(tmp_path / "batch")
    assert np.array_equal(loaded["data"], value["data"]) and loaded["data"].dtype == np.uint8
    assert {k: v for k, v in loaded.items() if k != "data"} == {
        "labels": [1, 2, 3],
        "name": "batch 1",
        "scale": 0.5,
    }


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "batch").write_bytes(pickle.dumps({"data": Payload()}))
    with pytest.raises(UnsafePickle, match=r"it asks for posix\.system, which could run code"):
        load_plain_pickle(tmp_path / "batch")
    assert not marker.exists()
