"""benchmarks/serve.py: ``simclr serve`` over an HNSW index, timed over HTTP beside the encoder
and faiss alone, on a tiny gallery of a feature cache the test writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simclr.config import load_config
from tests.conftest import write_run

MEASURES = ("page", "page_and_thumbnails", "json", "gallery_page", "thumbnail", "encode")


@pytest.mark.slow
def test_the_page_and_the_index_are_timed_over_http(
    tmp_path: Path, run_script, fashion_mnist_root: Path
) -> None:
    settings = [f"data.root={fashion_mnist_root}", "data.download=false", f"run.out_dir={tmp_path}"]
    run = write_run(load_config(None, settings), tmp_path / "run", num_classes=10)
    cache = tmp_path / "cache"  # 600 rows standing for training images 0..599
    cache.mkdir()
    generator = np.random.default_rng(0)
    np.save(cache / "features.npy", generator.standard_normal((600, 512)).astype(np.float32))
    np.save(cache / "labels.npy", np.arange(600) % 10)
    preprocessing = {"image_size": 28, "channels": 1, "mean": [0.286], "std": [0.353]}
    meta = {"split": "train", "subset": None, "classes": [f"c{i}" for i in range(10)]}
    meta["preprocessing"] = {**preprocessing, "normalize": True}
    (cache / "meta.json").write_text(json.dumps(meta))
    arguments = [
        "--run",
        str(run),
        "--features",
        str(cache),
        "--data-root",
        str(fashion_mnist_root),
    ]
    arguments += ["--size", "1000", "--queries", "3", "--work", str(tmp_path)]
    report = run_script("serve.py", *arguments, out=tmp_path / "serve.json")
    assert report["rows"] == 1000 and report["index"].startswith("HNSW index (1,000 vectors)")
    latency = report["latency"]
    for measure in (*MEASURES, "faiss_search"):
        assert 0 < latency[measure]["median_ms"] <= latency[measure]["p95_ms"]
    # each page's time with its thumbnails is its time alone plus theirs
    assert latency["page_and_thumbnails"]["median_ms"] > latency["page"]["median_ms"]
    assert report["startup_s"] > 0 and not list(tmp_path.glob("tmp*"))  # the index removed
