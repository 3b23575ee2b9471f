"""Retrieval at scale: each faiss index type's build time, memory, query latency and recall
against the exact neighbours, across its main knob, on galleries of 60,000 to 1,000,000 rows.

Galleries. ``--features TRAIN.npy --queries TEST.npy`` (or feature-cache folders of
``simclr eval``, each holding ``features.npy``) uses real representations: the gallery's first
rows are the real training features, and a gallery larger than them is filled with jittered
copies of real rows (a real row plus Gaussian noise whose norm is the median distance of a real
row to its nearest real neighbour, renormalised), so the larger galleries keep the real
features' cluster structure and local density; the queries are real held-out features (the
test split), never in the gallery. Without ``--features`` the rows are a Gaussian mixture with
``--classes`` clusters (``benchmarks/knn.py``'s generator). Every row is L2-normalised and the
similarity is the inner product (the cosine), as in ``simclr index``.

Index types (faiss index_factory strings, inner-product metric): ``Flat`` (exact), ``IVF``
with ``nlist`` = 4 sqrt(N) k-means cells (Jegou et al. 2011) storing vectors whole
(``IVF,Flat``), as 8-bit scalars (``IVF,SQ8``) or as product codes of 64 bytes (``IVF,PQ64``),
and the graph index ``HNSW32`` (Malkov and Yashunin 2018). The knobs: ``nprobe`` (cells
searched) for IVF, ``efSearch`` (candidate list) for HNSW.

Measured per index and knob: recall@1 (the exact nearest neighbour is the first hit) and
recall@10 (the share of the exact 10 nearest found among the 10 returned) over ``--queries``
held-out queries; latency of one query (median of ``--single`` one-row searches) and of a batch
of 1,000 (per query); build time (train + add), size on disk and the growth of the process's
memory while the index is held. Speed-ups are against the exact index of the same size in the
same run.

Usage:
    python benchmarks/retrieval.py --features RUN/features/<train key> \\
        --queries RUN/features/<test key> --sizes 60000 100000 1000000
    python benchmarks/retrieval.py --sizes 100000 --types flat ivf_flat   # synthetic, quick
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
from common import RESULTS_DIR, machine, median, print_table, tree_pss_mib, write_json

from linear_eval.config import RetrievalConfig
from linear_eval.features.vectors import normalized
from linear_eval.retrieval.calibrate import calibrate
from linear_eval.retrieval.index import IVF_TRAINING_POINTS_PER_CELL, set_knob

NPROBES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
EF_SEARCH = (16, 32, 64, 128, 256, 512)
TYPES = {
    "flat": "Flat",
    "ivf_flat": "IVF{nlist},Flat",
    "ivf_sq8": "IVF{nlist},SQ8",
    "ivf_pq": "IVF{nlist},PQ64",
    "hnsw": "HNSW32",
}
PROJECT_KINDS = {"ivf_flat": "ivf", "ivf_sq8": "ivf_sq8", "hnsw": "hnsw"}  # simclr index's


def load_rows(path: str) -> np.ndarray:
    """Rows of a ``.npy`` file, or of ``features.npy`` in a feature-cache folder."""
    file = Path(path)
    file = file / "features.npy" if file.is_dir() else file
    return normalized(np.load(file, mmap_mode="r"))


def jitter_scale(base: np.ndarray, sample: int, seed: int) -> float:
    """Median Euclidean distance from a base row to its nearest other base row."""
    rows = np.random.default_rng(seed).choice(len(base), min(sample, len(base)), replace=False)
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    similarity, _ = index.search(base[rows], 2)  # the first hit is the row itself
    return float(np.median(np.sqrt(np.maximum(0.0, 2 - 2 * similarity[:, 1]))))


def gallery_of(base: np.ndarray, size: int, scale: float, seed: int) -> np.ndarray:
    """The base rows, then jittered copies of random base rows up to ``size`` rows."""
    if size <= len(base):
        return np.ascontiguousarray(base[:size])
    generator = np.random.default_rng(seed)
    gallery = np.empty((size, base.shape[1]), np.float32)
    gallery[: len(base)] = base
    sigma = scale / np.sqrt(base.shape[1])  # noise of norm about ``scale``
    for begin in range(len(base), size, 100_000):
        end = min(size, begin + 100_000)
        sources = generator.integers(0, len(base), end - begin)
        noise = generator.standard_normal((end - begin, base.shape[1]), dtype=np.float32)
        gallery[begin:end] = normalized(base[sources] + sigma * noise)
    return gallery


def build(kind: str, gallery: np.ndarray, seed: int) -> tuple[faiss.Index, dict]:
    """The index of ``kind`` over ``gallery``, with its build time and memory."""
    size, dim = gallery.shape
    nlist = max(1, round(4 * np.sqrt(size)))
    gc.collect()
    before = tree_pss_mib()
    start = time.perf_counter()
    index = faiss.index_factory(dim, TYPES[kind].format(nlist=nlist), faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        sample = min(size, nlist * IVF_TRAINING_POINTS_PER_CELL)  # as simclr index
        rows = np.sort(np.random.default_rng(seed).choice(size, sample, replace=False))
        faiss.extract_index_ivf(index).cp.seed = seed
        index.train(gallery[rows])
    trained = time.perf_counter()
    for begin in range(0, size, 100_000):
        index.add(gallery[begin : begin + 100_000])
    seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "index.faiss"
        faiss.write_index(index, str(path))
        disk = path.stat().st_size
    about = {
        "factory": TYPES[kind].format(nlist=nlist),
        "nlist": nlist if "ivf" in kind else None,
        "build_s": round(seconds, 2),
        "train_s": round(trained - start, 2),
        "disk_mib": round(disk / 2**20, 1),
        "ram_mib": round(tree_pss_mib() - before, 1),
    }
    return index, about


def recall(found: np.ndarray, exact: np.ndarray) -> tuple[float, float]:
    """recall@1 (the exact nearest is first) and recall@10 (the exact 10 among the 10 found)."""
    at1 = float(np.mean(found[:, 0] == exact[:, 0]))
    at10 = np.mean([len(np.intersect1d(f, e)) / 10 for f, e in zip(found, exact)])
    return at1, float(at10)


def latency(index: faiss.Index, queries: np.ndarray, single: int) -> tuple[float, float]:
    """(ms of one query: the median of ``single`` one-row searches, ms per query in a batch)."""
    times = []
    for row in queries[:single]:
        start = time.perf_counter()
        index.search(row[None], 10)
        times.append(time.perf_counter() - start)
    batch = queries[:1000]
    start = time.perf_counter()
    index.search(batch, 10)
    per_query = (time.perf_counter() - start) / len(batch)
    return 1000 * median(times), 1000 * per_query


def calibration(index, kind: str, gallery, queries, exact, args) -> dict | None:
    """What ``simclr index`` would set: the knob linear_eval.retrieval.calibrate.calibrate picks for
    ``--target`` from 1,000 gallery rows held out, and the recall@10 of the real held-out
    queries at that knob (does the calibration predict the recall users get?)."""
    if kind not in PROJECT_KINDS:
        return None
    settings = RetrievalConfig(target_recall=args.target, calibration_queries=1000)
    start = time.perf_counter()
    reaching, predicted, _ = calibrate(index, PROJECT_KINDS[kind], gallery, settings, args.seed)
    seconds = time.perf_counter() - start
    result = {"reaching": reaching, "predicted_recall_at_10": round(predicted, 4)}
    for name, value in (
        ("at_reaching", reaching),
        ("chosen", reaching * settings.calibration_margin),
    ):
        value = set_knob(index, PROJECT_KINDS[kind], value)
        _, found = index.search(queries, 10)
        result[name] = {"value": value, "query_recall_at_10": round(recall(found, exact)[1], 4)}
    return {**result, "margin": settings.calibration_margin, "seconds": round(seconds, 2)}


def knobs(kind: str, nlist: int | None) -> list[int | None]:
    if kind.startswith("ivf"):
        return [n for n in NPROBES if n <= nlist]
    return list(EF_SEARCH) if kind == "hnsw" else [None]


def measure_size(
    size: int, base: np.ndarray, queries: np.ndarray, scale: float, args: argparse.Namespace
) -> list[dict]:
    gallery = gallery_of(base, size, scale, args.seed)
    rows, exact, flat_batch_ms, flat_single_ms = [], None, None, None
    for kind in ["flat", *[t for t in args.types if t != "flat"]]:
        if kind in args.max_size and size > args.max_size[kind]:
            print(f"{kind} skipped at {size:,} rows (--max-size)", flush=True)
            continue
        index, about = build(kind, gallery, args.seed)
        calibrated = calibration(index, kind, gallery, queries, exact, args)
        for knob in knobs(kind, about["nlist"]):
            set_knob(index, kind, knob)
            _, found = index.search(queries, 10)
            if kind == "flat":
                exact = found
            at1, at10 = recall(found, exact)
            single_ms, batch_ms = latency(index, queries, args.single)
            if kind == "flat":
                flat_single_ms, flat_batch_ms = single_ms, batch_ms
            row = {
                "size": size,
                "type": kind,
                **about,
                "knob": {"ivf": "nprobe", "hns": "efSearch"}.get(kind[:3]),
                "value": knob,
                "recall_at_1": round(at1, 4),
                "recall_at_10": round(at10, 4),
                "single_ms": round(single_ms, 3),
                "batch_ms_per_query": round(batch_ms, 4),
                "speedup_single": round(flat_single_ms / single_ms, 2),
                "speedup_batch": round(flat_batch_ms / batch_ms, 2),
                "calibrated": calibrated,
            }
            rows.append(row)
            print(
                f"{size:>9,} {kind:9} {row['knob'] or '':8} {knob or '':>4} "
                f"R@1 {at1:.3f} R@10 {at10:.3f} one {single_ms:7.2f} ms "
                f"batch {batch_ms:7.3f} ms/q  x{row['speedup_batch']:.1f}",
                flush=True,
            )
        del index
    return rows


def anonymous_mib() -> float:
    """This process's anonymous resident memory (RssAnon): what it allocated, not the pages of
    memory-mapped files, which the kernel can drop and read again."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _sample_peak(peak: list[float], stop) -> None:
    while not stop.wait(0.05):
        peak[0] = max(peak[0], anonymous_mib())


def streaming_peak(rows: int, base: np.ndarray, scale: float, args) -> list[dict]:
    """Index a memory-mapped feature file of ``rows`` rows as ``simclr index`` does (IVF trained
    on a sample, vectors added chunk by chunk) and sample the peak anonymous memory: bounded by
    the index, not by the features."""
    import threading

    from linear_eval.retrieval.index import make_index

    results = []
    with tempfile.TemporaryDirectory(dir=args.scratch) as directory:
        path = Path(directory) / "features.npy"
        target = np.lib.format.open_memmap(path, "w+", np.float32, (rows, base.shape[1]))
        for begin in range(0, rows, 100_000):  # written in chunks, as extraction does
            end = min(rows, begin + 100_000)
            target[begin:end] = gallery_of(base, end - begin + len(base), scale, begin)[len(base) :]
        target.flush()
        del target
        gallery = np.load(path, mmap_mode="r")
        for kind in [PROJECT_KINDS[t] for t in args.types if t in ("ivf_flat", "ivf_sq8")]:
            gc.collect()
            start, peak, stop = anonymous_mib(), [0.0], threading.Event()

            sampler = threading.Thread(target=_sample_peak, args=(peak, stop), daemon=True)
            sampler.start()
            began = time.perf_counter()
            index = make_index(kind, gallery, RetrievalConfig(), args.seed)
            seconds = time.perf_counter() - began
            stop.set()
            sampler.join()
            peak[0] = max(peak[0], anonymous_mib())
            with tempfile.TemporaryDirectory() as index_dir:
                faiss.write_index(index, str(Path(index_dir) / "i.faiss"))
                index_mib = (Path(index_dir) / "i.faiss").stat().st_size / 2**20
            result = {
                "rows": rows,
                "type": kind,
                "features_mib": round(path.stat().st_size / 2**20, 1),
                "index_mib": round(index_mib, 1),
                "peak_anonymous_growth_mib": round(peak[0] - start, 1),
                "build_s": round(seconds, 1),
            }
            print(
                f"streamed {rows:,} rows into {kind}: features {result['features_mib']} MiB on "
                f"disk, index {result['index_mib']} MiB, peak memory growth "
                f"{result['peak_anonymous_growth_mib']} MiB, {seconds:.0f} s",
                flush=True,
            )
            results.append(result)
            del index
    return results


def best_under_target(rows: list[dict], target: float) -> list[dict]:
    """Per size and type, the fastest knob (batch) whose recall@10 reaches ``target``."""
    best: dict[tuple, dict] = {}
    for row in rows:
        if row["recall_at_10"] < target:
            continue
        key = (row["size"], row["type"])
        if key not in best or row["batch_ms_per_query"] < best[key]["batch_ms_per_query"]:
            best[key] = row
    return list(best.values())


def plot(rows: list[dict], size: int, path: Path) -> None:
    from linear_eval.figure import new_figure

    figure, axis = new_figure(figsize=(6.4, 4.2))
    for kind in TYPES:
        points = [(r["batch_ms_per_query"], r["recall_at_10"]) for r in rows if r["type"] == kind]
        if points:
            axis.plot(*zip(*points), marker="o", label=kind)
    axis.set_xscale("log")
    axis.axhline(0.95, color="grey", linestyle=":", linewidth=1)
    axis.set_xlabel("ms per query (batches of 1,000)")
    axis.set_ylabel("recall@10 against the exact index")
    axis.set_title(f"{size:,} gallery rows")
    axis.grid(alpha=0.3)
    axis.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", help="real gallery rows: a .npy or a feature-cache folder")
    parser.add_argument("--queries", help="real held-out queries (with --features)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--types", nargs="+", choices=sorted(TYPES), default=list(TYPES))
    parser.add_argument(
        "--max-size",
        nargs="*",
        default=[],
        metavar="TYPE=ROWS",
        help="skip a type above this gallery size, e.g. hnsw=100000",
    )
    parser.add_argument("--num-queries", type=int, default=1000)
    parser.add_argument("--single", type=int, default=200, help="one-row searches timed")
    parser.add_argument("--dim", type=int, default=512, help="synthetic rows' dimension")
    parser.add_argument("--classes", type=int, default=10, help="synthetic clusters")
    parser.add_argument("--target", type=float, default=0.95, help="recall@10 to reach")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS_DIR / "retrieval_cpu.json"))
    parser.add_argument("--plot", help="recall-latency figure of the largest size")
    parser.add_argument(
        "--streaming",
        type=int,
        metavar="ROWS",
        help="only index a memory-mapped file of ROWS rows and report the peak memory",
    )
    parser.add_argument("--scratch", help="folder for --streaming's feature file (default: tmp)")
    args = parser.parse_args(argv)
    if (args.features is None) != (args.queries is None):
        parser.error("--features and --queries go together")
    if min(args.sizes) < 1 or args.num_queries < 1:
        parser.error("--sizes and --num-queries must be >= 1")
    try:
        args.max_size = {k: int(v) for k, v in (item.split("=") for item in args.max_size)}
    except ValueError:
        parser.error(f"--max-size {args.max_size}: expected TYPE=ROWS")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.features:
        base, held_out = load_rows(args.features), load_rows(args.queries)
        source = f"real features {args.features} (+ jittered copies), queries {args.queries}"
    else:
        sys.path.insert(0, str(Path(__file__).parent))
        from knn import synthetic_features

        count = min(max(args.sizes), 100_000)
        base, _, held_out, _ = synthetic_features(
            count, args.num_queries, args.dim, args.classes, 1.0, args.seed
        )
        base, held_out = normalized(base), normalized(held_out)
        source = f"Gaussian mixture, {args.classes} clusters, {args.dim}-d (+ jittered copies)"
    queries = np.ascontiguousarray(held_out[: args.num_queries])
    scale = jitter_scale(base, 2000, args.seed)
    print(f"{source}; jitter norm {scale:.4f}; {faiss.omp_get_max_threads()} threads", flush=True)
    if args.streaming:
        results = streaming_peak(args.streaming, base, scale, args)
        payload = {"machine": machine(), "source": source, "streaming": results}
        payload["command"] = " ".join(
            ["python", "benchmarks/retrieval.py", *(argv or sys.argv[1:])]
        )
        write_json(payload, args.out)
        return 0
    rows = []
    for size in args.sizes:
        rows += measure_size(size, base, queries, scale, args)
        write_json({"partial": True, "rows": rows}, args.out, quiet=True)  # kept if cut short
    chosen = best_under_target(rows, args.target)
    print_table(
        [
            "rows",
            "type",
            "knob",
            "R@1",
            "R@10",
            "one query ms",
            "batch ms/q",
            "x exact",
            "build s",
            "disk MiB",
            "RAM MiB",
        ],
        [
            [
                f"{r['size']:,}",
                r["type"],
                f"{r['knob'] or ''} {r['value'] or ''}".strip(),
                f"{r['recall_at_1']:.3f}",
                f"{r['recall_at_10']:.3f}",
                f"{r['single_ms']:.2f}",
                f"{r['batch_ms_per_query']:.3f}",
                f"{r['speedup_batch']:.1f}",
                r["build_s"],
                r["disk_mib"],
                r["ram_mib"],
            ]
            for r in sorted(chosen, key=lambda r: (r["size"], r["batch_ms_per_query"]))
        ],
        f"fastest setting of each index with recall@10 >= {args.target}",
    )
    payload = {
        "machine": machine(),
        "command": " ".join(["python", "benchmarks/retrieval.py", *(argv or sys.argv[1:])]),
        "source": source,
        "jitter_norm": scale,
        "queries": len(queries),
        "target_recall_at_10": args.target,
        "rows": rows,
        "best": chosen,
    }
    write_json(payload, args.out)
    if args.plot:
        plot([r for r in rows if r["size"] == max(args.sizes)], max(args.sizes), Path(args.plot))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
