"""``simclr index``: the index over a gallery's frozen features built and saved, or the new
images of an image folder appended to a saved index; what was written said in a line or two."""

from __future__ import annotations

from pathlib import Path

from linear_eval.config import EvalConfig
from linear_eval.features.cache import Features
from linear_eval.features.encoders import LoadedEncoder
from linear_eval.features.gallery import gallery_features, gallery_name
from linear_eval.retrieval.build import build_index, describe
from linear_eval.retrieval.index import GalleryIndex, hnsw_bytes_per_vector, index_type_for
from linear_eval.retrieval.store import append_to_index, save_index
from simclr.run.paths import check_folder_to_write, printable


def index_gallery(
    loaded: LoadedEncoder,
    config: EvalConfig,
    split: str | None = None,
    out: str | Path | None = None,
    exact: bool = False,
) -> Path:
    """Build the index over the gallery (``split`` of ``config.data``, see
    :func:`linear_eval.features.gallery.gallery_features`) with ``loaded``'s features, the exact
    one with ``exact``, and save it in ``out`` (default: RUN/index/NAME); its directory. The
    folder written is checked before the features are extracted, its free space after."""
    if out is None:
        check_folder_to_write("--out", loaded.run_dir / "index")
    features = gallery_features(loaded, config, split)
    directory = Path(out or loaded.run_dir / "index" / gallery_name(config, features))
    check_folder_to_write("--out", directory, need_bytes=index_bytes(features, config, exact))
    gallery = build_index(features, loaded.extractor, config, loaded.source, exact=exact)
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


def append_folder(
    gallery: GalleryIndex, directory: str | Path, loaded: LoadedEncoder, config: EvalConfig
) -> int:
    """Add the images of the folder ``config.data`` reads that the index ``gallery`` (saved in
    ``directory``) does not hold yet, and save it again; the count added."""
    features = gallery_features(loaded, config)
    added = append_to_index(gallery, features, loaded.extractor)
    save_index(gallery, directory)
    folder, directory = printable(str(config.data.path)), printable(str(directory))
    print(
        f"added {added:,} of {len(features):,} images of {folder} to {directory} "
        f"({gallery.meta['count']:,} images; {len(features) - added:,} were already in it)"
    )
    return added
