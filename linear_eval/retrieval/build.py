"""The index over a gallery's features, with the metadata needed to check and explain a query:
the encoder's fingerprint, the feature dimension, the preprocessing, what each row is (a dataset
index or an image path) and, for an approximate index, its calibrated knob and recall."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import faiss
from omegaconf import OmegaConf

from linear_eval.config import EvalConfig
from linear_eval.features.cache import Features
from linear_eval.features.encoders import FeatureExtractor
from linear_eval.retrieval.calibrate import calibrate
from linear_eval.retrieval.index import (
    FACTORIES,
    GalleryIndex,
    index_type_for,
    make_index,
    nlist_for,
    set_knob,
)


def build_index(
    features: Features,
    extractor: FeatureExtractor,
    config: EvalConfig,
    checkpoint: str | Path,
    exact: bool = False,
) -> GalleryIndex:
    """The index over ``features`` with the metadata needed to check and explain a query: its
    type (``exact`` forces the flat index), and for an approximate one its knob, calibrated
    for ``retrieval.target_recall`` unless set, with the recall@10 measured for it."""
    settings = config.retrieval
    gallery = features.representation
    kind = "flat" if exact else index_type_for(len(features), settings, gallery.shape[1])
    index = make_index(kind, gallery, settings, config.seed)
    knob = settings.ef_search if kind == "hnsw" else settings.nprobe
    calibration = None
    if kind != "flat":
        if knob is None:  # the fewest reaching the target on gallery rows, times the margin
            reaching, recall, count = calibrate(index, kind, gallery, settings, config.seed)
            knob = set_knob(index, kind, reaching * settings.calibration_margin)
        else:  # set by hand: its recall measured the same way
            measure = dataclasses.replace(settings, target_recall=0.0)
            knob, recall, count = calibrate(index, kind, gallery, measure, config.seed, [knob])
            reaching = None
        calibration = {
            "recall_at_10": round(recall, 4),  # of the gallery rows held out, at ``reaching``
            "reaching": reaching,
            "margin": settings.calibration_margin if reaching is not None else None,
            "target": settings.target_recall,
            "queries": count,
        }
    meta = {
        "encoder_fingerprint": extractor.fingerprint,
        "encoder": extractor.description,
        "feature_dim": int(gallery.shape[1]),
        "checkpoint": str(Path(checkpoint).resolve()),
        "data": OmegaConf.to_container(OmegaConf.structured(config.data)),
        "split": features.meta["split"],
        "subset": features.meta["subset"],
        "seed": config.seed,
        "preprocessing": features.meta["preprocessing"],
        "index_type": kind,
        "factory": FACTORIES[kind].format(
            nlist=nlist_for(len(features), settings.nlist), m=settings.hnsw_m
        ),
        "nlist": int(faiss.extract_index_ivf(index).nlist) if kind.startswith("ivf") else 0,
        "nprobe": int(knob) if kind.startswith("ivf") else 0,
        "ef_search": int(knob) if kind == "hnsw" else 0,
        "calibration": calibration,
        "count": len(features),
        "classes": features.classes,
        "labels": features.labels.tolist(),
        "paths": features.paths,
        "indices": None if features.paths is not None else features.indices.tolist(),
    }
    return GalleryIndex(index, meta)


def describe(meta: dict) -> str:
    """One line on what an index is and the recall to expect: for ``simclr index``."""
    kind, count = meta["index_type"], meta["count"]
    if kind == "flat":
        return f"exact index (flat, {count:,} vectors): every query scans the whole gallery"
    names = {"ivf": "IVF-Flat", "ivf_sq8": "IVF-SQ8", "hnsw": "HNSW"}
    if kind == "hnsw":
        knob, name = meta["ef_search"], "efSearch"
        where = f"{count:,} vectors"
    else:
        knob, name = meta["nprobe"], "nprobe"
        where = f"{count:,} vectors in {meta['nlist']:,} cells"
    line = f"{names[kind]} index ({where}), {name} {knob}"
    calibration = meta.get("calibration") or {}
    held_out = f"{calibration.get('queries', 0):,} gallery images held out"
    if calibration.get("reaching") is not None:
        line += (
            f": {name} {calibration['reaching']} reached recall@10 "
            f"{calibration['recall_at_10']:.3f} of exact on {held_out} (target "
            f"{calibration['target']:g}), x{calibration['margin']} for queries from outside "
            "the gallery"
        )
    elif calibration:
        line += f": recall@10 {calibration['recall_at_10']:.3f} of exact on {held_out}"
    return line + "; --exact for the exact index"
