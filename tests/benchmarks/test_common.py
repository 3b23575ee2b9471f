"""benchmarks/common.py: the lightly environment's hand-off, timing, peak memory and output of
the benchmark scripts, each checked against a value worked out by hand or a fake clock."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import stat
import sys
import time
import types
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
MIB = 2**20


def load_common():
    spec = importlib.util.spec_from_file_location("benchmark_common", BENCHMARKS / "common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


common = load_common()


class FakeClock:
    """``perf_counter`` that moves only when ``advance`` is called: timings known exactly."""

    def __init__(self) -> None:
        self.now = 100.0

    def perf_counter(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(common, "time", types.SimpleNamespace(perf_counter=fake.perf_counter))
    return fake


# ----------------------------------------------------------------------------- lightly's side
def test_the_lightly_python_option_defaults_to_the_environment_make_lightly_env_makes() -> None:
    parser = argparse.ArgumentParser()
    common.add_lightly_python_argument(parser)
    default = BENCHMARKS / ".venv-lightly" / "bin" / "python"
    assert parser.parse_args([]).lightly_python == default == common.LIGHTLY_PYTHON
    assert parser.parse_args(["--lightly-python", "a/b"]).lightly_python == Path("a/b")


def test_only_an_executable_file_is_a_lightly_interpreter(tmp_path: Path, capsys) -> None:
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    assert common.lightly_python(python) == python
    assert capsys.readouterr().err == ""
    python.chmod(0o644)  # there but not executable
    for absent in (python, tmp_path / "missing", tmp_path):
        assert common.lightly_python(absent) is None
        assert capsys.readouterr().err == (
            f"no lightly environment at {absent} (make it with benchmarks/make_lightly_env.sh): "
            "the lightly variant is skipped\n"
        )


FAKE_VARIANTS = """\
import json, sys
script, task, spec_path, result_path = sys.argv[1:]
spec = json.loads(open(spec_path).read())
with open(spec["record"], "w") as record:
    json.dump({"argv": sys.argv[1:], "spec": spec}, record)
for line in spec["stderr"]:
    print(line, file=sys.stderr)
if spec["exit"]:
    sys.exit(spec["exit"])
with open(result_path, "w") as result:
    json.dump({"answer": 42, "environment": {"torch": spec["torch"]}}, result)
"""


@pytest.fixture
def fake_lightly_python(tmp_path: Path) -> Path:
    """An interpreter that runs a stand-in for lightly_variants.py: it records what it was
    given, writes the spec's stderr lines, exits with the spec's code or writes a result."""
    variants = tmp_path / "fake_variants.py"
    variants.write_text(FAKE_VARIANTS)
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{variants}" "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return python


def lightly_spec(tmp_path: Path, **values) -> dict:
    spec = {"record": str(tmp_path / "record.json"), "stderr": [], "exit": 0}
    return {**spec, "torch": torch.__version__, **values}


def test_run_lightly_hands_the_spec_to_lightly_variants_and_returns_its_result(
    tmp_path: Path, fake_lightly_python: Path, capsys
) -> None:
    spec = lightly_spec(tmp_path, images=tmp_path / "images.npy", stderr=["progress 1/1"])
    result = common.run_lightly(fake_lightly_python, "knn", spec)
    assert result == {"answer": 42, "environment": {"torch": torch.__version__}}
    record = json.loads((tmp_path / "record.json").read_text())
    script, task, spec_path, result_path = record["argv"]
    assert (script, task) == (str(BENCHMARKS / "lightly_variants.py"), "knn")
    assert record["spec"] == {**spec, "images": str(tmp_path / "images.npy")}  # a Path as text
    assert not Path(spec_path).parent.exists()  # the spec's folder is removed afterwards
    assert capsys.readouterr().err == "progress 1/1\n"  # passed through, no torch warning


def test_run_lightly_warns_in_one_line_when_the_torch_versions_differ(
    tmp_path: Path, fake_lightly_python: Path, capsys
) -> None:
    common.run_lightly(fake_lightly_python, "quality", lightly_spec(tmp_path, torch="1.0.0"))
    assert capsys.readouterr().err == (
        f"warning: lightly's environment runs torch 1.0.0, this one {torch.__version__}\n"
    )


@pytest.mark.parametrize(
    ("stderr", "last"), [(["step 1", "ValueError: bad spec", ""], "ValueError: bad spec"), ([], "")]
)
def test_a_failed_lightly_variant_ends_the_benchmark_with_its_last_line(
    tmp_path: Path, fake_lightly_python: Path, capsys, stderr: list[str], last: str
) -> None:
    spec = lightly_spec(tmp_path, stderr=stderr, exit=3)
    with pytest.raises(SystemExit) as error:
        common.run_lightly(fake_lightly_python, "throughput", spec)
    last = last or "no output"
    assert (
        str(error.value) == f"lightly variant 'throughput' failed ({fake_lightly_python}): {last}"
    )
    assert capsys.readouterr().err == "".join(f"{line}\n" for line in stderr)


def test_pil_images_hands_each_grayscale_image_to_the_transform() -> None:
    images = torch.randint(0, 256, (3, 1, 4, 5), dtype=torch.uint8)
    seen = []

    def transform(image):
        seen.append((image.mode, image.size))
        return np.asarray(image)

    dataset = common.PILImages(images, transform)
    assert len(dataset) == 3
    for index in range(3):
        np.testing.assert_array_equal(dataset[index], images[index, 0].numpy())
    assert seen == [("L", (5, 4))] * 3  # PIL sizes are (width, height)


def test_resolve_device_refuses_cuda_where_torch_sees_none(monkeypatch) -> None:
    assert common.resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match=r"^--device cuda: no CUDA device is visible to torch$"):
        common.resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert common.resolve_device("cuda") == torch.device("cuda")


def test_machine_describes_this_process_and_its_libraries(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # a package that is importable but has no version is recorded as None, as a missing one is
    monkeypatch.setitem(sys.modules, "faiss", types.ModuleType("faiss"))
    info = common.machine()
    assert info["cpu_cores"] == os.cpu_count() and info["gpu"] is None
    assert info["torch_threads"] == torch.get_num_threads()
    assert info["torch"] == torch.__version__ and info["torchvision"] == torchvision.__version__
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
    assert info["lightly"] is None and info["faiss"] is None  # not installed; no __version__
    stamp = datetime.fromisoformat(info["date"])
    assert stamp.tzinfo == timezone.utc and abs(datetime.now(timezone.utc) - stamp).days == 0
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        kib = next(line for line in meminfo.read_text().splitlines() if "MemTotal" in line)
        assert info["memory_gib"] == round(int(kib.split()[1]) * 1024 / 2**30, 1)


def test_median_of_odd_even_and_no_values() -> None:
    assert common.median([10.0, 1.0, 2.0]) == 2.0  # the middle value, not the mean
    assert common.median([4.0, 1.0, 3.0, 10.0]) == 3.5  # the mean of the two middle ones
    assert np.isnan(common.median([]))


@pytest.mark.parametrize(
    ("precision", "dtype"),
    [("bf16-mixed", torch.bfloat16), ("16-mixed", torch.float16), ("32-true", torch.float32)],
)
def test_autocast_follows_the_lightning_precision(precision: str, dtype: torch.dtype) -> None:
    with common.autocast(torch.device("cpu"), precision):
        assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == dtype


# ----------------------------------------------------------------------------- memory
def test_tree_pss_sums_the_process_and_its_children(tmp_path: Path, monkeypatch) -> None:
    """A fake /proc: this process and two children by PSS, one child only by RSS (no
    smaps_rollup) and one child already gone (counts nothing)."""
    pid = os.getpid()

    def write(relative: str, text: str) -> None:
        path = tmp_path / "proc" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    write(f"{pid}/smaps_rollup", "Rss:  9999 kB\nPss:  2048 kB\n")
    write(f"{pid}/status", "VmRSS:  9999 kB\n")  # PSS wins where there is one
    write(f"{pid}/task/{pid}/children", "101 102 ")
    write(f"{pid}/task/{pid + 1}/children", "103")  # a second thread's children
    write("101/smaps_rollup", "Pss:  1024 kB\n")
    write("102/status", "Name: worker\nVmRSS:\t  512 kB\n")
    monkeypatch.setattr(common, "Path", lambda text: tmp_path / str(text).lstrip("/"))
    assert sorted(common._children(pid)) == [101, 102, 103]
    assert common.tree_pss_mib() == (2048 + 1024 + 512 + 0) / 1024


def test_tree_pss_counts_memory_this_process_touches() -> None:
    before = common.tree_pss_mib()
    block = np.ones(64 * MIB // 8)  # 64 MiB, every page written
    grown = common.tree_pss_mib() - before
    del block
    assert 56 < grown < 72


def test_peak_memory_keeps_the_peak_of_a_block_freed_before_its_end() -> None:
    start = common.tree_pss_mib()
    with common.PeakMemory(torch.device("cpu"), interval=0.01) as memory:
        block = np.ones(64 * MIB // 8)
        deadline = time.monotonic() + 30
        while memory.host_mib < start + 56 and time.monotonic() < deadline:
            time.sleep(0.01)  # the sampling thread sees the 64 MiB
        del block
    assert memory.host_mib >= start + 56 and common.tree_pss_mib() < memory.host_mib - 40
    assert not memory._thread.is_alive()
    assert memory.as_dict() == {"peak_host_mib": round(memory.host_mib, 1), "peak_cuda_mib": None}


def test_timed_repeats_the_function_and_times_each_repeat(clock: FakeClock) -> None:
    durations = [0.5, 1.25, 2.0]
    calls = []

    def function() -> np.ndarray:
        clock.advance(durations[len(calls)])
        calls.append(None)
        return np.ones(64 * MIB // 8)  # the last one is alive at the end: 64 MiB above start

    result, times, peak = common.timed(function, torch.device("cpu"), repeats=3)
    assert len(calls) == 3 and result.shape == (64 * MIB // 8,)
    assert times == durations
    assert 56 < peak < 150  # above the starting point, not the whole process's memory


def test_timed_on_cuda_synchronizes_each_repeat_and_reports_cuda_memory(
    monkeypatch, clock: FakeClock
) -> None:
    """Without a GPU: torch.cuda's calls recorded, as a CUDA device would receive them."""
    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device: calls.append("sync"))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device: calls.append("reset"))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 3 * MIB)

    def function() -> int:
        calls.append("run")
        clock.advance(1.0)
        return 7

    result, times, peak = common.timed(function, torch.device("cuda"), repeats=2)
    assert (result, times, peak) == (7, [1.0, 1.0], 3.0)
    assert calls == ["reset", "sync", "run", "sync", "sync", "run", "sync"]
    common.synchronize(torch.device("cpu"))
    assert calls[-1] == "sync" and len(calls) == 7  # nothing to wait for on the CPU


class FakePipeline(common.Pipeline):
    """Step ``i`` lasts ``durations[i]`` on the fake clock and returns ``losses[i]``."""

    def __init__(self, clock: FakeClock, durations: list[float], losses: list[float]) -> None:
        self.clock, self.durations, self.losses = clock, durations, losses
        self.asked, self.closed = 0, 0

    def batches(self):
        while True:
            self.asked += 1
            yield self.asked - 1

    def step(self, batch: int) -> torch.Tensor:
        self.clock.advance(self.durations[batch])
        return torch.tensor(self.losses[batch])

    def close(self) -> None:
        self.closed += 1


def test_measure_times_the_steps_after_the_warmup(clock: FakeClock) -> None:
    durations, losses = [8.0, 4.0, 1.0, 3.0, 2.0], [5.0, 4.0, 3.0, 2.0, 1.0]
    pipeline = FakePipeline(clock, durations, losses)
    report = common.measure(pipeline, torch.device("cpu"), warmup=2, steps=3)
    assert report["step_seconds"] == [1.0, 3.0, 2.0]
    assert report["median_step_seconds"] == 2.0
    assert report["losses"] == losses  # the warmup's too
    assert report["finite"] is True and report["peak_cuda_mib"] is None
    assert report["peak_host_mib"] > 0
    assert (pipeline.asked, pipeline.closed) == (5, 1)


def test_measure_flags_a_non_finite_loss(clock: FakeClock) -> None:
    pipeline = FakePipeline(clock, [1.0, 1.0], [1.0, float("nan")])
    assert common.measure(pipeline, torch.device("cpu"), warmup=0, steps=2)["finite"] is False


def test_pipeline_optimize_takes_one_sgd_step_and_clears_the_gradients() -> None:
    pipeline = common.Pipeline()
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    pipeline.optimizer = torch.optim.SGD([weight], lr=0.1)
    x = torch.tensor([3.0, 5.0])
    loss = (weight * x).sum()  # d loss / d weight = x
    assert pipeline.optimize(loss) is loss
    assert torch.equal(weight.detach(), torch.tensor([1.0 - 0.3, -2.0 - 0.5]))
    assert weight.grad is None
    with pytest.raises(NotImplementedError):
        pipeline.step(None)


def test_stopwatch_gives_the_blocks_seconds_once_it_ends(clock: FakeClock) -> None:
    with common.stopwatch(torch.device("cpu")) as elapsed:
        clock.advance(2.5)
        assert np.isnan(elapsed())  # not known inside the block
    clock.advance(10.0)  # after the block: not counted
    assert elapsed() == 2.5


# ----------------------------------------------------------------------------- output
def test_print_table_formats_and_aligns_every_cell(capsys) -> None:
    common.print_table(
        ["method", "seconds", "count", "note"],
        [["a", 0.12345, 3, None], ["long name", 12345.6, 10, "x"], ["b", -250.0, 0, ""]],
        title="Results",
    )
    # floats below 100 (in size) with 3 decimals, larger ones whole with thousands separators,
    # None as "-"; the first column left-aligned, the others right-aligned
    assert capsys.readouterr().out == (
        "\nResults\n"
        "method     seconds  count  note\n"
        "---------  -------  -----  ----\n"
        "a            0.123      3     -\n"
        "long name   12,346     10     x\n"
        "b             -250      0      \n"  # "" is an empty cell
    )


def test_print_table_without_a_title_starts_with_the_headers(capsys) -> None:
    common.print_table(["k"], [[1.0]])
    assert capsys.readouterr().out == "k    \n-----\n1.000\n"


def test_write_json_makes_the_folder_and_writes_plain_values(tmp_path: Path, capsys) -> None:
    path = tmp_path / "results" / "deep" / "report.json"
    payload = {"where": tmp_path, "values": (1, 2.5), "nested": {"ok": True}}
    assert common.write_json(payload, str(path)) == path
    text = path.read_text()
    assert json.loads(text) == {"where": str(tmp_path), "values": [1, 2.5], "nested": {"ok": True}}
    assert text.endswith("}\n") and text.splitlines()[1].startswith('  "where"')  # indented by 2
    assert capsys.readouterr().out == f"\nwrote {path}\n"
    common.write_json({}, path, quiet=True)
    assert capsys.readouterr().out == "" and json.loads(path.read_text()) == {}
