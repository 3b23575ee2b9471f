"""Shared helpers of the benchmark scripts: machine description, timing, peak memory, output,
and the lightly environment that runs their lightly variants.

Benchmarks are scripts, not tests: each measures every variant in one invocation so that its
ratios compare like with like, prints a table and writes ``benchmarks/results/<name>.json``.
lightly cannot share the project's environment (see ``make_lightly_env.sh``): a script's
lightly variant runs in ``lightly_variants.py`` under lightly's own interpreter, on the data and
settings the script hands it. This file imports neither the project nor lightly, so both sides
use it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
RESULTS_DIR = BENCHMARKS_DIR / "results"
DATA_ROOT = REPO_ROOT / "data"  # git-ignored; simclr.data extracts the system Fashion-MNIST here
LIGHTLY_PYTHON = BENCHMARKS_DIR / ".venv-lightly" / "bin" / "python"  # make_lightly_env.sh


# ----------------------------------------------------------------------------- lightly's side
def add_lightly_python_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lightly-python",
        type=Path,
        default=LIGHTLY_PYTHON,
        help="interpreter of the environment with lightly that runs the lightly variant "
        "(default: the one benchmarks/make_lightly_env.sh makes); skipped when absent",
    )


def lightly_python(path: Path) -> Path | None:
    """``path`` when it is an interpreter; otherwise None, having said in one line why the
    lightly variant is skipped."""
    if path.is_file() and os.access(path, os.X_OK):
        return path
    print(
        f"no lightly environment at {path} (make it with benchmarks/make_lightly_env.sh): "
        "the lightly variant is skipped",
        file=sys.stderr,
    )
    return None


def run_lightly(python: Path, task: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``lightly_variants.py TASK`` under ``python`` with ``spec`` and return its result.

    Its output goes to this process's; a failure ends the benchmark with its last line.
    """
    with tempfile.TemporaryDirectory(prefix=f"lightly-{task}-") as folder:
        spec_path, result_path = Path(folder) / "spec.json", Path(folder) / "result.json"
        spec_path.write_text(json.dumps(spec, default=str))
        command = [str(python), str(BENCHMARKS_DIR / "lightly_variants.py"), task]
        completed = subprocess.run(
            [*command, str(spec_path), str(result_path)], stderr=subprocess.PIPE, text=True
        )
        sys.stderr.write(completed.stderr)
        if completed.returncode != 0:
            last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            raise SystemExit(f"lightly variant {task!r} failed ({python}): {last}")
        result = json.loads(result_path.read_text())
    theirs = result["environment"]["torch"]
    if theirs != torch.__version__:
        print(
            f"warning: lightly's environment runs torch {theirs}, this one {torch.__version__}",
            file=sys.stderr,
        )
    return result


class PILImages(Dataset):
    """Grayscale images as torchvision datasets deliver them, a PIL image per index, passed
    through ``transform`` in the DataLoader worker: the pipeline of lightly and solo-learn."""

    def __init__(self, images: torch.Tensor, transform: Callable) -> None:
        self.images, self.transform = images.numpy(), transform  # uint8 (N, 1, H, W)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Any:
        return self.transform(Image.fromarray(self.images[index, 0], mode="L"))


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible to torch")
    return torch.device(name)


def machine() -> dict[str, Any]:
    """Where the figures come from: CPU model and cores, GPU, library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": _memory_gib(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    for package in ("torchvision", "kornia", "faiss", "lightly"):
        try:
            info[package] = __import__(package).__version__
        except (ImportError, AttributeError):
            info[package] = None
    return info


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, precision: str):
    """The autocast context of a Lightning precision string ("32-true", "bf16-mixed")."""
    if precision == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "16-mixed":
        return torch.autocast(device.type, dtype=torch.float16)
    return nullcontext()


# ----------------------------------------------------------------------------- memory
def _proc_kib(pid: int, field: str, file: str = "status") -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    pids: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
    except OSError:
        pass
    return pids


def tree_pss_mib() -> float:
    """Proportional set size of this process and its children (DataLoader workers), in MiB.

    PSS splits pages shared between the main process and forked workers among them, so the sum
    counts the dataset that workers inherit once rather than once per worker.
    """
    pids = [os.getpid(), *_children(os.getpid())]
    kib = sum(_proc_kib(pid, "Pss:", "smaps_rollup") or _proc_kib(pid, "VmRSS:") for pid in pids)
    return kib / 1024


class PeakMemory:
    """Peak host memory of the process tree (PSS sampled every ``interval`` s) and peak CUDA
    memory (``torch.cuda.max_memory_allocated``) over a ``with`` block."""

    def __init__(self, device: torch.device, interval: float = 0.1) -> None:
        self.device, self.interval = device, interval
        self.host_mib = 0.0
        self.cuda_mib: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.host_mib = max(self.host_mib, tree_pss_mib())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.host_mib = max(self.host_mib, tree_pss_mib())
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.device.type == "cuda":
            self.cuda_mib = torch.cuda.max_memory_allocated(self.device) / 2**20

    def as_dict(self) -> dict[str, float | None]:
        cuda = None if self.cuda_mib is None else round(self.cuda_mib, 1)
        return {"peak_host_mib": round(self.host_mib, 1), "peak_cuda_mib": cuda}


def timed(
    function: Callable[[], Any], device: torch.device, repeats: int
) -> tuple[Any, list[float], float]:
    """(last result, seconds of each repeat, peak memory above the starting point in MiB)."""
    gc.collect()
    start_mib = tree_pss_mib()
    times = []
    with PeakMemory(device, interval=0.02) as memory:
        for _ in range(repeats):
            synchronize(device)
            start = time.perf_counter()
            result = function()
            synchronize(device)
            times.append(time.perf_counter() - start)
    peak = memory.cuda_mib if memory.cuda_mib is not None else memory.host_mib - start_mib
    return result, times, peak


class Pipeline:
    """A model and its batches for one SimCLR step: ``batches()`` yields what ``step(batch)``
    consumes; ``step`` returns the loss after the optimizer step."""

    optimizer: torch.optim.Optimizer

    def batches(self) -> Iterator[Any]:
        raise NotImplementedError

    def step(self, batch: Any) -> torch.Tensor:
        raise NotImplementedError

    def optimize(self, loss: torch.Tensor) -> torch.Tensor:
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss

    def close(self) -> None:
        """Stop DataLoader workers."""


def measure(pipeline: Pipeline, device: torch.device, warmup: int, steps: int) -> dict:
    """Median seconds per step over ``steps`` timed steps after ``warmup`` untimed ones; each
    step is timed from asking the loader for a batch to the end of the optimizer step."""
    times: list[float] = []
    losses: list[float] = []
    with PeakMemory(device) as memory:
        batches = pipeline.batches()
        for index in range(warmup + steps):
            synchronize(device)
            start = time.perf_counter()
            loss = pipeline.step(next(batches))
            synchronize(device)
            if index >= warmup:
                times.append(time.perf_counter() - start)
            losses.append(float(loss.detach()))
        del batches
        pipeline.close()
        gc.collect()
    return {
        "step_seconds": times,
        "median_step_seconds": median(times),
        "losses": losses,
        "finite": bool(np.isfinite(losses).all()),
        **memory.as_dict(),
    }


@contextmanager
def stopwatch(device: torch.device) -> Iterator[Callable[[], float]]:
    """``with stopwatch(device) as elapsed: ...``; ``elapsed()`` is the block's seconds."""
    synchronize(device)
    start = time.perf_counter()
    result = [float("nan")]
    yield lambda: result[0]
    synchronize(device)
    result[0] = time.perf_counter() - start


# ----------------------------------------------------------------------------- output
def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
        return "-" if value is None else str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(
            "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths)))
        )


def write_json(payload: dict[str, Any], path: str | Path, quiet: bool = False) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    if not quiet:
        print(f"\nwrote {path}")
    return path
