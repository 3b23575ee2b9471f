"""``simclr embed``: frozen representations with what each row is, for use in other tools.

Writes ``embeddings.npy`` (N, D) float32, ``labels.npy`` (N,) int64 (-1: unlabelled), either
``indices.npy`` (row -> index in the dataset split) or ``paths.txt`` (row -> image file),
``meta.json`` (encoder fingerprint, dataset, split, preprocessing) and, for at most
``embed.csv_max_rows`` rows, ``embeddings.csv`` with one row per image.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from linear_eval.features.cache import Features
from linear_eval.features.gallery import gallery_features, gallery_name
from simclr.run.paths import check_folder_to_read, check_folder_to_write, printable

CHUNK = 65_536


def export_embeddings(features: Features, directory: str | Path, csv_max_rows: int) -> list[Path]:
    """Write the files above to ``directory``; returns their paths."""
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
    (directory / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    written.append(directory / "meta.json")
    if len(features) <= csv_max_rows:
        written.append(_write_csv(features, directory / "embeddings.csv", paths))
    return written


def embed_gallery(args: argparse.Namespace) -> Path:
    """Export the frozen features of the gallery of ``args`` (``checkpoint``, ``config``,
    ``overrides``, ``split``, ``folder``, ``out``: the options of ``simclr embed``) to ``--out``
    (default: RUN/embeddings/NAME); the directory. The paths are checked first, the free space
    for the float32 embeddings once their shape is known."""
    if args.folder:
        check_folder_to_read("--folder", args.folder)
    if args.out:
        check_folder_to_write("--out", args.out)
    loaded, config, features = gallery_features(args, "embeddings")
    directory = Path(args.out or loaded.run_dir / "embeddings" / gallery_name(config, features))
    shape = features.representation.shape
    check_folder_to_write("--out", directory, need_bytes=shape[0] * (shape[1] * 4 + 16))
    written = export_embeddings(features, directory, config.embed.csv_max_rows)
    print(f"wrote {shape[0]:,} x {shape[1]} features to {printable(str(directory))}")
    print("  " + ", ".join(p.name for p in written))
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
