"""``simclr serve`` at scale: page load and query latency of the web page over a 1,000,000-row
HNSW index, beside the index's own search time, on this machine.

The gallery. ``--features`` (a feature-cache folder of ``simclr eval`` over Fashion-MNIST's
training split, from ``--run``'s encoder) gives the first 60,000 rows; the rest up to ``--size``
are jittered copies of them (``benchmarks/retrieval.py``'s generator: a real row plus noise of
the median nearest-neighbour distance), so the index keeps the real features' structure. Row r
shows training image r mod 60,000. The index is built, calibrated and saved as ``simclr index``
does (``build_index`` with ``retrieval.index_type=hnsw``), then served as ``simclr serve`` does
(``prepare``) on 127.0.0.1, in a thread of this process, and asked over HTTP.

Measured over ``--queries`` gallery rows (seeded), each its median and p95:
- the query page (``/search?row=R``: the row's image read and encoded, the index searched, the
  HTML written), and the same with its k thumbnails fetched as a browser loads them;
- the JSON answer (``/api/search``);
- the gallery page holding the row (``/?page=P``, 60 thumbnails' links) and one thumbnail;
- beside them, the encoder's forward of one image and faiss's search of one vector at the
  calibrated efSearch: what the page adds is the difference.
Startup (the index read and its sha256 checked, the encoder loaded) is timed once.

Usage:
    python benchmarks/serve.py --run RUN --features RUN/features/<train key> --data-root DIR
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine, print_table, write_json  # noqa: E402
from retrieval import gallery_of, jitter_scale, load_rows  # noqa: E402

from linear_eval.config import load_eval_config  # noqa: E402
from linear_eval.features.cache import Features  # noqa: E402
from linear_eval.features.encoders import load_encoder  # noqa: E402
from linear_eval.features.vectors import search  # noqa: E402
from linear_eval.retrieval.build import build_index, describe  # noqa: E402
from linear_eval.retrieval.query import query_features  # noqa: E402
from linear_eval.retrieval.serve import prepare  # noqa: E402
from linear_eval.retrieval.site import GALLERY_PER_PAGE  # noqa: E402
from linear_eval.retrieval.store import save_index  # noqa: E402


def percentiles(seconds: list[float]) -> dict[str, float]:
    values = np.asarray(seconds) * 1000
    return {
        "median_ms": round(float(np.median(values)), 2),
        "p95_ms": round(float(np.percentile(values, 95)), 2),
    }


def timed_get(url: str) -> tuple[float, bytes]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        body = response.read()
    return time.perf_counter() - start, body


def build_gallery(args: argparse.Namespace, root: Path) -> Path:
    """The index of ``--size`` rows saved in ROOT/index/hnsw, as ``simclr index`` saves one."""
    loaded = load_encoder(args.run)
    cache = Path(args.features)
    base = load_rows(str(cache))
    meta = json.loads((cache / "meta.json").read_text())
    scale = jitter_scale(base, 2000, args.seed)
    start = time.perf_counter()
    rows = gallery_of(base, args.size, scale, args.seed)
    labels = np.load(cache / "labels.npy")
    indices = np.arange(args.size) % len(base)
    features = Features(rows, labels[indices], indices, meta, cache, True)
    overrides = [f"data.root={args.data_root}", "retrieval.index_type=hnsw", "data.download=false"]
    config = load_eval_config(loaded.pretrain_config, None, overrides)
    gallery = build_index(features, loaded.extractor, config, loaded.source)
    print(f"built in {time.perf_counter() - start:.0f} s: {describe(gallery.meta)}", flush=True)
    return save_index(gallery, root / "run" / "index" / "hnsw")


def measure(args: argparse.Namespace, index_dir: Path) -> dict:
    start = time.perf_counter()
    site, server = prepare(index_dir, args.run, host="127.0.0.1", port=0, top_k=args.k)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    startup = time.perf_counter() - start
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    served = next(iter(site.site.indexes.values()))
    rows = np.random.default_rng(args.seed).choice(served.count, args.queries + 3, replace=False)
    found: dict[str, list[float]] = {key: [] for key in ("page", "page_and_thumbnails", "json")}
    found.update(gallery_page=[], thumbnail=[], encode=[], faiss_search=[])
    for position, row in enumerate(rows.tolist()):
        warm = position < 3  # the first requests load the split and warm the caches
        seconds, html = timed_get(f"{url}/search?row={row}&k={args.k}")
        images = re.findall(r'src="(/image/[^"]+)"', html.decode())
        fetched = sum(timed_get(url + image.replace("&amp;", "&"))[0] for image in images)
        json_seconds, _ = timed_get(f"{url}/api/search?row={row}&k={args.k}")
        home, _ = timed_get(f"{url}/?page={1 + row // GALLERY_PER_PAGE}")  # the row's page
        thumbnail, _ = timed_get(f"{url}/image/{served.name}/{row}")
        image = served.image(row)
        begin = time.perf_counter()
        vector = query_features(served.loaded.extractor, [image], served.preprocessing)
        encode = time.perf_counter() - begin
        begin = time.perf_counter()
        search(served.gallery.index, vector, args.k)
        faiss_seconds = time.perf_counter() - begin
        if warm:
            continue
        found["page"].append(seconds)
        found["page_and_thumbnails"].append(seconds + fetched)
        found["json"].append(json_seconds)
        found["gallery_page"].append(home)
        found["thumbnail"].append(thumbnail)
        found["encode"].append(encode)
        found["faiss_search"].append(faiss_seconds)
    server.shutdown()
    server.server_close()
    return {
        "startup_s": round(startup, 2),
        "index": describe(served.gallery.meta),
        "rows": served.count,
        "k": args.k,
        "queries": args.queries,
        "latency": {key: percentiles(values) for key, values in found.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="the run whose encoder queries the index")
    parser.add_argument("--features", required=True, help="its feature cache of the train split")
    parser.add_argument("--data-root", required=True, help="where Fashion-MNIST is read from")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", help="where the index is written (default: a temporary folder)")
    parser.add_argument("--out", default=str(RESULTS_DIR / "serve_cpu.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        index_dir = build_gallery(args, Path(work))
        result = measure(args, index_dir)
    rows = [[key, v["median_ms"], v["p95_ms"]] for key, v in result["latency"].items()]
    title = f"{result['index']}; startup {result['startup_s']} s"
    print_table(["measure", "median ms", "p95 ms"], rows, title)
    write_json({"machine": machine(), "command": " ".join(sys.argv), **result}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
