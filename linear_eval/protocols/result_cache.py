"""The results of the protocols (kNN, linear probes) cached beside the features they came from.

A result is a JSON file ``<cache dir>/results/<key>.json``, the key the sha256 of the protocol,
the train and test features (their cache keys and the sha256 of every array, so recomputed
features that differ give a new key) and every setting that changes the result (the probe's
config, the seed, the k list, the temperature...). A second ``simclr eval`` with the same
settings reads the results instead of refitting; any change recomputes. Written atomically
(:func:`simclr.run.atomic.atomic_write`): a result is whole or absent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from linear_eval.features.cache import Features
from simclr.run.atomic import atomic_write

RESULTS_FOLDER = "results"
RESULTS_VERSION = 1  # bumped when a protocol changes what it computes


def result_key(protocol: str, train: Features, test: Features, settings: dict) -> str:
    """sha256 of ``protocol``, the features of ``train`` and ``test`` and ``settings``."""
    content = {
        "version": RESULTS_VERSION,
        "protocol": protocol,
        "train": _identity(train),
        "test": _identity(test),
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _identity(features: Features) -> dict:
    return {"key": features.meta.get("key"), "arrays": features.meta.get("arrays")}


def result_path(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / RESULTS_FOLDER / f"{key}.json"


def read_result(cache_dir: str | Path, key: str) -> dict | None:
    """The result stored under ``key``, or None (absent or unreadable: then it is recomputed)."""
    try:
        stored = json.loads(result_path(cache_dir, key).read_text())
        return stored["result"] if stored["key"] == key else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_result(cache_dir: str | Path, key: str, protocol: str, result: dict) -> Path:
    path = result_path(cache_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = {"key": key, "protocol": protocol, "result": result}
    atomic_write(path, (json.dumps(stored, indent=1) + "\n").encode())
    return path


def cached_result(
    cache_dir: str | Path,
    protocol: str,
    train: Features,
    test: Features,
    settings: dict,
    compute: Callable[[], dict],
) -> tuple[dict, bool]:
    """The stored result of ``protocol`` on these features and settings, or ``compute()``'s,
    stored; and whether it came from the cache."""
    key = result_key(protocol, train, test, settings)
    stored = read_result(cache_dir, key)
    if stored is not None:
        return stored, True
    result = compute()
    write_result(cache_dir, key, protocol, result)
    return result, False
