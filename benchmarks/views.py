"""The two views of one step, old against new: aten ops and milliseconds per call.

For 28 px grey and 32, 96 and 224 px RGB images (batch 256, the default augment section) it
counts the aten ops one ``SimCLRViews`` call dispatches (torch.profiler, every aten event,
nested ones included) and times it, for ``pipeline=modules`` (Kornia's modules one after the
other, the former default) and ``pipeline=fused`` (the default); on a GPU also the fused views
replayed as CUDA graphs (``capture=cuda_graph``). Then the fused path's stages one by one
(draw, crop + flip, jitter, grayscale + blur + normalise): the views' per-op profile. Ratios
are of medians measured in one run, the pipelines alternating.

    python benchmarks/views.py                       # results/views_cpu.json
    python benchmarks/views.py --device cuda         # results/views_cuda.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine, median, print_table, resolve_device, stopwatch, write_json

from simclr.augment import SimCLRViews
from simclr.views import ops as view_ops

SETTINGS = ((28, 1), (32, 3), (96, 3), (224, 3))  # (image size, channels)
OP_TARGET = 400  # issue 24: at most this many aten ops per call, at every size


def aten_ops(call) -> int:
    """The aten events one call dispatches, nested ones included."""
    call()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        call()
    return sum(1 for event in prof.events() if event.name.startswith("aten::"))


def timed(calls: dict, device: torch.device, repeats: int) -> dict[str, float]:
    """Median milliseconds of each call, the calls alternating, after 2 untimed rounds."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for round_ in range(repeats + 2):
        for name, call in calls.items():
            with stopwatch(device) as elapsed:
                call()
            if round_ >= 2:
                times[name].append(elapsed() * 1000)
    return {name: median(values) for name, values in times.items()}


def stages(views: SimCLRViews, images: torch.Tensor) -> dict:
    """The fused path's stages as calls on fixed inputs: the per-op profile."""
    unit = views.resized(images)
    p = views.draw(unit)
    geometry = views.geometry(unit, p)
    constants = (views.luma, views.hue_offsets)
    return {
        "to float": lambda: views.resized(images),
        "draw parameters": lambda: views.draw(unit),
        "crop + flip": lambda: views.geometry(unit, p),
        "colour jitter": lambda: view_ops.jitter(geometry, p, constants),
        "grayscale + blur + normalise": lambda: views.finish(geometry, p),
    }


def measure(size: int, channels: int, batch: int, device, repeats: int) -> dict:
    images = torch.randint(0, 256, (batch, channels, size, size), dtype=torch.uint8).to(device)
    pipelines = {
        "modules": SimCLRViews(size, channels, pipeline="modules", capture="none"),
        "fused": SimCLRViews(size, channels, capture="none"),
    }
    if device.type == "cuda":
        pipelines["fused + cuda_graph"] = SimCLRViews(size, channels, capture="cuda_graph")
    pipelines = {name: views.to(device) for name, views in pipelines.items()}
    calls = {name: (lambda views=views: views(images)) for name, views in pipelines.items()}
    ms = timed(calls, device, repeats)
    row = {
        "image_size": size,
        "channels": channels,
        "images": batch,
        "aten_ops": {name: aten_ops(calls[name]) for name in ("modules", "fused")},
        "ms": ms,
        "stages_ms": timed(stages(pipelines["fused"], images), device, repeats),
    }
    row["ops_ratio"] = row["aten_ops"]["modules"] / row["aten_ops"]["fused"]
    row["speedup"] = {name: ms["modules"] / value for name, value in ms.items()}
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[s for s, _ in SETTINGS])
    parser.add_argument("--out", default=None, help="JSON path (results/views_<device>.json)")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    rows = [
        measure(size, channels, args.batch_size, device, args.repeats)
        for size, channels in SETTINGS
        if size in args.sizes
    ]
    names = list(rows[0]["ms"]) if rows else []
    print_table(
        ["size", "ch", "ops modules", "ops fused", "ops ratio"]
        + [f"ms {n}" for n in names]
        + [f"x {n}" for n in names[1:]],
        [
            [r["image_size"], r["channels"], r["aten_ops"]["modules"], r["aten_ops"]["fused"]]
            + [f"{r['ops_ratio']:.1f}"]
            + [f"{r['ms'][n]:.2f}" for n in names]
            + [f"{r['speedup'][n]:.2f}" for n in names[1:]]
            for r in rows
        ],
        title=f"two views of {args.batch_size} images, {device.type}, median of {args.repeats}",
    )
    for r in rows:
        stages_ms = ", ".join(f"{k} {v:.2f}" for k, v in r["stages_ms"].items())
        print(f"fused stages at {r['image_size']} px (ms): {stages_ms}")
    report = {
        "benchmark": "views",
        "machine": machine(),
        "device": device.type,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "op_target": OP_TARGET,
        "results": rows,
    }
    write_json(report, Path(args.out or RESULTS_DIR / f"views_{device.type}.json"))


if __name__ == "__main__":
    main()
