"""``simclr embed``: frozen representations with what each row is, for use in other tools.

Writes ``embeddings.npy`` (N, D) float32, ``labels.npy`` (N,) int64 (-1: unlabelled), either
``indices.npy`` (row -> index in the dataset split) or ``paths.txt`` (row -> image file),
``meta.json`` (encoder fingerprint, dataset, split, preprocessing) and, for at most
``embed.csv_max_rows`` rows, ``embeddings.csv`` with one row per image. With ``--projector``,
also the files of TensorBoard's embedding projector in ``projector/``
(:mod:`linear_eval.features.projector`), their sample stated in ``meta.json``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from linear_eval.config import EvalConfig
from linear_eval.features.cache import Features
from linear_eval.features.encoders import LoadedEncoder
from linear_eval.features.gallery import gallery_features, gallery_name
from linear_eval.features.projector import (
    FOLDER,
    export_projector,
    projector_bytes,
    sample_rows,
    summary_line,
)
from simclr.run.paths import check_folder_to_write, printable

CHUNK = 65_536


def export_embeddings(
    features: Features, directory: str | Path, csv_max_rows: int, projector: dict | None = None
) -> list[Path]:
    """Write the files above to ``directory``; returns their paths. ``projector`` (what
    :func:`linear_eval.features.projector.export_projector` returns) goes into ``meta.json``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    target = np.lib.format.open_memmap(
        directory / "embeddings.npy", "w+", np.float32, features.representation.shape
    )
    for begin in range(0, len(features), CHUNK):  # streamed: the source is memory-mapped
        target[begin : begin + CHUNK] = features.representation[begin : begin + CHUNK]
    target.flush()
    del target
    written.append(directory / "embeddings.npy")
    np.save(directory / "labels.npy", features.labels)
    written.append(directory / "labels.npy")
    paths = features.paths
    if paths is None:
        np.save(directory / "indices.npy", features.indices)
        written.append(directory / "indices.npy")
    else:
        (directory / "paths.txt").write_text("".join(f"{p}\n" for p in paths))
        written.append(directory / "paths.txt")
    meta = {k: v for k, v in features.meta.items() if k != "files"}
    if projector is not None:
        meta["projector"] = projector
    (directory / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    written.append(directory / "meta.json")
    if len(features) <= csv_max_rows:
        written.append(_write_csv(features, directory / "embeddings.csv", paths))
    return written


def embed_gallery(
    loaded: LoadedEncoder,
    config: EvalConfig,
    split: str | None = None,
    out: str | Path | None = None,
    projector_points: int = 0,
) -> Path:
    """Export the frozen features of the gallery (``split`` of ``config.data``, see
    :func:`linear_eval.features.gallery.gallery_features`) to ``out`` (default:
    RUN/embeddings/NAME), with the projector's files for at most ``projector_points`` images
    (0: none); the directory. The folder written is checked before the features are extracted,
    its free space once their shape is known."""
    if out is None:
        check_folder_to_write("--out", loaded.run_dir / "embeddings")
    features = gallery_features(loaded, config, split)
    directory = Path(out or loaded.run_dir / "embeddings" / gallery_name(config, features))
    shape = features.representation.shape
    need = shape[0] * (shape[1] * 4 + 16)
    sample = sample_rows(shape[0], projector_points, config.seed) if projector_points else None
    if sample is not None:
        channels = int(features.meta["preprocessing"]["channels"])
        image_side = int(features.meta["preprocessing"]["image_size"])
        need += projector_bytes(len(sample.rows), shape[1], image_side, channels)
        check_folder_to_write("--out", directory / FOLDER)
    check_folder_to_write("--out", directory, need_bytes=need)
    record = None
    if sample is not None:
        record = export_projector(features, config, directory / FOLDER, sample)
    written = export_embeddings(features, directory, config.embed.csv_max_rows, record)
    print(f"wrote {shape[0]:,} x {shape[1]} features to {printable(str(directory))}")
    print("  " + ", ".join(p.name for p in written))
    if record is not None:
        print(summary_line(record, directory / FOLDER))
    return directory


def _write_csv(features: Features, path: Path, paths: list[str] | None) -> Path:
    dim = features.representation.shape[1]
    classes = features.classes
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        item = "path" if paths is not None else "index"
        writer.writerow([item, "label", "class", *(f"h{i}" for i in range(dim))])
        for row in range(len(features)):
            label = int(features.labels[row])
            name = classes[label] if 0 <= label < len(classes) else ""
            key = paths[row] if paths is not None else int(features.indices[row])
            values = (f"{v:.6g}" for v in features.representation[row].tolist())
            writer.writerow([key, label, name, *values])
    return path
