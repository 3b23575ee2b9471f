"""Shared helpers of the benchmark scripts: machine description, timing, peak memory, output.

Benchmarks are scripts, not tests: each measures every variant in one process so that its
ratios compare like with like, prints a table and writes ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
RESULTS_DIR = BENCHMARKS_DIR / "results"
DATA_ROOT = REPO_ROOT / "data"  # git-ignored; simclr.data extracts the system Fashion-MNIST here


def lightly_available() -> bool:
    try:
        import lightly  # noqa: F401
    except ImportError:
        return False
    return True


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
