"""``simclr index``: the index over a gallery's frozen features built and saved, or the new
images of an image folder appended to a saved index; what was written said in a line or two."""

from __future__ import annotations

import argparse
from pathlib import Path

from linear_eval.config import EvalConfig
from linear_eval.features.cache import Features
from linear_eval.features.gallery import gallery_features, gallery_name
from linear_eval.retrieval.build import build_index, describe
from linear_eval.retrieval.index import hnsw_bytes_per_vector, index_type_for
from linear_eval.retrieval.store import append_to_index, load_index, save_index
from simclr.errors import ConfigError
from simclr.run.paths import check_folder_to_read, check_folder_to_write, printable


def index_gallery(args: argparse.Namespace) -> Path:
    """Build the index over the gallery of ``args`` (``checkpoint``, ``config``, ``overrides``,
    ``split``, ``folder``, ``out``, ``exact``: the options of ``simclr index``) and save it in
    ``--out`` (default: RUN/index/NAME); its directory. The paths are checked first."""
    if args.folder:
        check_folder_to_read("--folder", args.folder)
    if args.out:
        check_folder_to_write("--out", args.out)
    loaded, config, features = gallery_features(args, "index")
    directory = Path(args.out or loaded.run_dir / "index" / gallery_name(config, features))
    check_folder_to_write("--out", directory, need_bytes=index_bytes(features, config, args.exact))
    gallery = build_index(features, loaded.extractor, config, loaded.source, exact=args.exact)
    save_index(gallery, directory)
    meta = gallery.meta
    print(
        f"indexed {meta['count']:,} images of {config.data.name}/{meta['split']} "
        f"({meta['feature_dim']}-d, {meta['index_type']} index) in {printable(str(directory))}"
    )
    print(describe(meta))
    return directory


def index_bytes(features: Features, config: EvalConfig, exact: bool) -> int:
    """About what the saved index takes (before building it): its vectors (8-bit under IVF-SQ8,
    float32 otherwise, with HNSW's links), and the labels beside them; checked as free space."""
    count, dim = features.representation.shape
    kind = "flat" if exact else index_type_for(count, config.retrieval, dim)
    per_vector = {"ivf_sq8": dim + 8, "hnsw": hnsw_bytes_per_vector(dim, config.retrieval.hnsw_m)}
    # with a tenth to spare: HNSW's upper layers vary (1,000,000 x 512: 0.5% over the estimate)
    return int(count * (per_vector.get(kind, 4 * dim + 8) + 8) * 1.1) + 2**16


def append_folder(args: argparse.Namespace) -> int:
    """Add the images of ``args.folder`` that the index ``args.append`` does not hold yet and
    save it again; the count added. A missing or damaged index stops it before any work."""
    if not args.folder:
        raise ConfigError("--append INDEX takes the images to add from --folder DIR")
    check_folder_to_read("--folder", args.folder)
    check_folder_to_write("--append", check_folder_to_read("--append", args.append))
    gallery = load_index(args.append)  # a damaged index stops here
    loaded, config, features = gallery_features(args)
    added = append_to_index(gallery, features, loaded.extractor)
    save_index(gallery, args.append)
    print(
        f"added {added:,} of {len(features):,} images of {printable(args.folder)} to "
        f"{printable(args.append)} "
        f"({gallery.meta['count']:,} images; {len(features) - added:,} were already in it)"
    )
    return added
