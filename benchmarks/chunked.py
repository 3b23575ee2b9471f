"""Peak memory and time per image of one SimCLR training step against the global batch, in chunks
(``trainer.chunk_size``, gradient caching: simclr/chunked.py) and in one pass.

Each configuration runs in a fresh process, so that one's allocations cannot hide another's:
the default recipe's f and g (ResNet-18, pooled stem, 1-channel 28 px, bf16-mixed,
channels_last, LARS), a batch of random uint8 images, then one step as the module takes it
(the two views, in chunks when chunked; f, g, NT-Xent, the backward, LARS). A warm-up step,
then ``--steps`` timed ones; the peak is the process's memory (PSS, sampled every 20 ms)
above what it held before the first step, or CUDA's peak allocation on a GPU. The one-pass step
runs at a batch only when the peaks of the smaller batches, extrapolated linearly, leave half
the machine's memory free.

    python benchmarks/chunked.py                      # results/chunked_cpu.json
    python benchmarks/chunked.py --batches 256 1024 4096 --chunk 256 --steps 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    RESULTS_DIR,
    _memory_gib,
    autocast,
    machine,
    median,
    print_table,
    resolve_device,
    timed,
    write_json,
)


def one_configuration(batch: int, chunk: int | None, steps: int, device_name: str) -> dict:
    """One step's peak memory and seconds (warm-up, then ``steps`` timed) in this process."""
    from torch import nn

    from simclr.chunked import nt_xent_in_chunks
    from simclr.config import load_config
    from simclr.loss import nt_xent_loss
    from simclr.module import SimCLR
    from simclr.optim import build_optimizer, scaled_learning_rate

    device = resolve_device(device_name)
    torch.manual_seed(0)
    config = load_config(None, [f"data.batch_size={batch}", "trainer.precision=bf16-mixed"])
    module = SimCLR.from_config(config, num_classes=0).to(device).train()
    lr = scaled_learning_rate(config.optimizer.base_lr, batch, config.optimizer.lr_scaling)
    optimizer = build_optimizer(nn.ModuleList([module.encoder, module.head]), config.optimizer, lr)
    size = config.data.image_size
    images = torch.randint(0, 256, (batch, 1, size, size), dtype=torch.uint8, device=device)

    def forward(views: torch.Tensor) -> torch.Tensor:
        return module.head(module.encoder(views))

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, "bf16-mixed"):
            # as the module makes them: in chunks, one draw for the batch (simclr.augment)
            views = module.views(images, chunk_size=chunk)
            view1, view2 = (module._layout(view) for view in views)
            if chunk is None:
                z = forward(torch.cat([view1, view2]))
                loss, _ = nt_xent_loss(z[:batch], z[batch:], config.loss.temperature)
                loss.backward()
            else:
                loss = nt_xent_in_chunks(
                    forward, view1, view2, chunk, config.loss.temperature, buffers_of=module
                ).loss
        optimizer.step()
        return float(loss)

    _, warmup, warmup_peak = timed(step, device, 1)
    loss, times, peak = timed(step, device, steps)
    return {
        "batch": batch,
        "chunk": chunk,
        "peak_mib": round(max(peak, warmup_peak), 1),
        "seconds": times,
        "warmup_seconds": warmup,
        "ms_per_image": round(1000 * median(times) / batch, 3),
        "loss": loss,
    }


def measure(batch: int, chunk: int | None, args: argparse.Namespace) -> dict:
    """One configuration in a fresh interpreter."""
    command = [sys.executable, __file__, "--one", str(batch), str(chunk or 0)]
    command += ["--steps", str(args.steps), "--device", args.device]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"batch {batch}, chunk {chunk}: failed\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fits(one_pass: list[dict], batch: int, limit_mib: float) -> bool:
    """Whether the one-pass peak at ``batch``, extrapolated from the measured ones (linearly in
    the batch), stays under ``limit_mib``."""
    if len(one_pass) < 2:
        return True
    (b0, m0), (b1, m1) = [(r["batch"], r["peak_mib"]) for r in one_pass[-2:]]
    return m1 + (m1 - m0) / (b1 - b0) * (batch - b1) < limit_mib


def run(args: argparse.Namespace) -> dict:
    limit = (args.memory_limit_gib or (_memory_gib() or 16) / 2) * 1024
    chunked, one_pass, skipped = [], [], []
    for batch in args.batches:  # side by side, batch by batch
        chunked.append(measure(batch, args.chunk, args))
        if fits(one_pass, batch, limit):
            one_pass.append(measure(batch, None, args))
        else:
            skipped.append(batch)
    rows = []
    for result in chunked:
        same = next((r for r in one_pass if r["batch"] == result["batch"]), None)
        rows.append(
            [
                result["batch"],
                result["peak_mib"],
                same["peak_mib"] if same else None,
                result["ms_per_image"],
                same["ms_per_image"] if same else None,
                round(result["ms_per_image"] / same["ms_per_image"], 3) if same else None,
            ]
        )
    print_table(
        ["global batch", "chunked MiB", "one pass MiB", "chunked ms/img", "one pass ms/img", "x"],
        rows,
        title=f"one training step, chunks of {args.chunk} ({args.device})",
    )
    flat = chunked[-1]["peak_mib"] / chunked[0]["peak_mib"]
    print(
        f"peak memory in chunks, batch {args.batches[-1]} / batch {args.batches[0]}: {flat:.2f}x"
        + (f"; one pass not run at {skipped} (would not fit)" if skipped else "")
    )
    return {
        "benchmark": "chunked",
        "machine": machine(),
        "arguments": {k: v for k, v in vars(args).items() if k != "one"},
        "chunked": chunked,
        "one_pass": one_pass,
        "one_pass_skipped": skipped,
        "peak_ratio_largest_to_smallest": round(flat, 3),
        "time_ratios": {str(r[0]): r[5] for r in rows if r[5] is not None},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--chunk", type=int, default=256, help="images per chunk")
    parser.add_argument("--steps", type=int, default=2, help="timed steps after the warm-up")
    parser.add_argument("--memory-limit-gib", type=float, default=None)
    parser.add_argument("--one", nargs=2, type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help="JSON path (results/chunked_<device>.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.one is not None:  # a configuration's own process
        batch, chunk = args.one
        print(json.dumps(one_configuration(batch, chunk or None, args.steps, args.device)))
        return
    result = run(args)
    write_json(result, args.out or RESULTS_DIR / f"chunked_{args.device}.json")


if __name__ == "__main__":
    main()
