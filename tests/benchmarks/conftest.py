"""Fixtures of the benchmark smoke tests: each script runs one tiny iteration, writes its JSON.

Benchmarks are not tests; these only check that they still run against the current package.
Without lightly's environment (benchmarks/make_lightly_env.sh; absent in CI) each script skips
its lightly variant by itself; where it exists, the lightly variant runs through it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def has_lightly() -> bool:
    """Whether the scripts' default lightly environment exists."""
    return (BENCHMARKS / ".venv-lightly" / "bin" / "python").is_file()


@pytest.fixture
def run_script() -> Callable[..., dict]:
    """``run_script(name, *args, out=PATH)``: run ``benchmarks/NAME`` and return its JSON;
    ``stderr=[]`` collects the lines it wrote to stderr."""

    def run(name: str, *args: str, out: Path, stderr: list[str] | None = None) -> dict:
        command = [sys.executable, str(BENCHMARKS / name), *args, "--out", str(out)]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
        if stderr is not None:
            stderr += completed.stderr.splitlines()
        return json.loads(out.read_text())

    return run


def load_benchmark(name: str):
    """The module ``benchmarks/NAME.py``, imported as a script is (its folder on the path)."""
    import importlib.util

    script = BENCHMARKS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", script)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module
