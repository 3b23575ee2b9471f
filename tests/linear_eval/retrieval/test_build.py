"""Tests of linear_eval/retrieval/build.py: an approximate index built with its calibrated knob,
kept when saved and loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from linear_eval.retrieval.build import build_index
from linear_eval.retrieval.query import retrieve
from linear_eval.retrieval.store import load_index, save_index

pytestmark = pytest.mark.usefixtures("single_thread")


def test_a_saved_index_keeps_its_type_and_calibrated_knob(
    gallery_of_test_split, synthetic, tmp_path: Path
) -> None:
    loaded, features, _ = gallery_of_test_split
    for kind in ("ivf_sq8", "hnsw"):
        overrides = [f"retrieval.index_type={kind}", "retrieval.nlist=8"]
        config = synthetic.eval_config(loaded.pretrain_config, *overrides)
        gallery = build_index(features, loaded.extractor, config, loaded.source)
        assert gallery.meta["calibration"]["recall_at_10"] >= 0.95
        save_index(gallery, tmp_path / kind)
        restored = load_index(tmp_path / kind)
        knob = "nprobe" if kind == "ivf_sq8" else "ef_search"
        assert restored.meta[knob] == gallery.meta[knob] > 0
        if kind == "hnsw":  # the fewest reaching the target, doubled (calibration_margin)
            assert restored.meta[knob] == 2 * restored.meta["calibration"]["reaching"]
        queries = np.asarray(features.representation[:5])
        assert retrieve(restored, queries, 4) == retrieve(gallery, queries, 4)
