"""Every command and Python snippet that README.md and docs/ show runs, page by page, as a reader
following the page would run them: in a folder of its own, in the page's order, on tiny data
(tests/docs/sandbox.py says how small). A console transcript's ``$ command`` whose shown output
holds a ``simclr X: error: ...`` line must fail with exactly that line; every other command must
succeed.

The commands that cannot run here are listed in NOT_RUN, each with why; those are parsed by the
real parser and their configs resolved and checked as on the machine they are meant for, from
the clone's root.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.pages import ROOT, Step, documentation_pages, normalised, page_name, page_steps
from tests.docs.sandbox import (
    SNIPPET_NAMES,
    budgeted,
    lay_out,
    make_runs,
    run_simclr,
    use_tiny_datasets,
)

# Commands shown but not run here, and why. Matched against a shown command, or against the
# whole line it is part of (`a && b`). Each is still parsed and resolved (resolve_not_run).
NOT_RUN = {
    "./setup.sh": "installs packages (pip, apt); CI runs it first",
    "python3 -m ruff check . && python3 -m ruff format --check . && python3 -m mkdocs build "
    "--strict && python3 -m pytest -q": "the checks themselves: .ci/run runs exactly this line",
    "pip install simclr-0.1.0-py3-none-any.whl": "installs; tests/test_packaging.py builds it",
    'pip install -e ".[dev,bench]"': "installs",
    "pip install wandb": "installs",
    "pip install mlflow": "installs (mlflow-skinny, in the dev extra, runs the MLflow commands)",
    'simclr pretrain "trainer.loggers=[csv,wandb]" logging.wandb.project=fmnist '
    "logging.wandb.entity=my-lab": "needs wandb and a W&B account",
    "mlflow ui --backend-store-uri sqlite:///runs/mlflow.db": "starts a web server",
    "simclr index --checkpoint runs/default && simclr serve runs/default": "starts a web server "
    "(tests/linear_eval/retrieval/test_serve_*.py start it and talk to it)",
    "tensorboard --logdir runs/default/embeddings/fashion_mnist-test/projector": "starts a web "
    "server (tests/linear_eval/features/test_projector.py reads the files through it)",
    'simclr pretrain "trainer.loggers=[mlflow]" '
    "logging.mlflow.tracking_uri=http://mlflow.my-lab:5000": "needs an MLflow server",
    "simclr pretrain --config cifar10 trainer.devices=4 trainer.strategy=ddp": "4 GPUs "
    "(tests/end_to_end/test_distributed.py runs ddp on 2 CPU processes)",
    "simclr pretrain --config cifar10 trainer.devices=4 trainer.strategy=ddp_spawn": "4 GPUs",
    "torchrun --nnodes 2 --nproc-per-node 4 --node-rank 0 --master-addr HOST0 --master-port 29500 "
    "-m simclr.cli pretrain --config imagenet trainer.num_nodes=2 trainer.devices=4 "
    "data.path=/data/imagenet run.name=imagenet-2x4": "2 nodes of 4 GPUs and ImageNet",
    "sbatch docs/slurm.sbatch": "a SLURM cluster",
    "simclr finetune --checkpoint runs/my-run finetune.devices=4": "4 processes",
    "benchmarks/make_lightly_env.sh": "downloads lightly into a virtual environment",
    "python benchmarks/knn.py": "a benchmark of minutes, with lightly's environment",
    # the measured ablation study: 25 runs; the README's sweep and the ablations page's first
    # command run here, each run of these is checked before any would start
    **{
        f"simclr ablate --config configs/ablations/{name}.yaml": "25 runs in all"
        for name in ("augmentations", "temperature", "head", "color_strength", "batch_size")
    },
    "simclr ablate --config configs/ablations/residual.yaml": "25 runs in all",
}
NOT_RUN = {normalised(command): why for command, why in NOT_RUN.items()}

PAGES = [page for page in documentation_pages() if page_steps(page)]


def not_run(step: Step) -> bool:
    return normalised(step.text) in NOT_RUN or step.shown in NOT_RUN


@pytest.fixture(scope="session")
def prebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose runs/ holds the runs the pages name, pretrained once on tiny data."""
    folder = tmp_path_factory.mktemp("docs_sandbox")
    with pytest.MonkeyPatch.context() as patch:
        use_tiny_datasets(patch)
        make_runs(folder)
    return folder


def run_step(step: Step) -> None:
    """One step in the current folder; fails the test with where it is shown and what it said."""
    if step.code is not None:
        names = {"__name__": "__main__", **{n: make() for n, make in SNIPPET_NAMES.items()}}
        exec(compile(step.code, step.where, "exec"), names)
        return
    if step.argv[0] != "simclr":
        pytest.fail(f"{step.where}: `{step.text}` is neither simclr nor listed in NOT_RUN")
    argv, target = budgeted(step.argv)
    outcome = run_simclr(argv)
    said = f"{step.where}: `{step.text}` (run as simclr {shlex.join(argv)}) exited {outcome.code}"
    said += f"\n--- stderr ---\n{outcome.stderr[-4000:]}"
    if step.expected_error is not None:
        assert outcome.code != 0, said
        assert step.expected_error in outcome.stderr.splitlines(), said
        return
    assert outcome.code == 0, said
    if target is not None:
        target.write_text(outcome.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=page_name)
def test_every_command_of_the_page_runs(
    page: Path, prebuilt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_tiny_datasets(monkeypatch)
    for variable in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "SLURM_JOB_ID", "SLURM_NTASKS"):
        monkeypatch.delenv(variable, raising=False)
    lay_out(prebuilt, tmp_path, page.read_text())
    monkeypatch.chdir(tmp_path)
    for step in page_steps(page):
        if not not_run(step):
            run_step(step)


# ---------------------------------------------------------------- the commands not run here
def resolve_simclr(words: list[str]) -> None:
    """``simclr WORDS`` parsed by the real parser and its config resolved with every check a
    command runs before any work (the device settings included)."""
    from simclr.cli import build_parser
    from simclr.config import load_config
    from simclr.run.launch import check_devices

    args = build_parser().parse_args(words)
    if args.command == "pretrain":
        check_devices(load_config(args.config, args.overrides).trainer)
    elif args.command == "finetune":
        from linear_eval.config import load_eval_config

        load_eval_config(load_config(None, []), args.config, args.overrides)
    elif args.command == "ablate":
        from ablation.config import check_all_runs, load_ablation

        check_all_runs(load_ablation(args.config, args.overrides), Path("runs"))
    elif args.command not in ("index", "serve"):  # these: parsed; their checks need the run
        raise AssertionError(f"no resolution for simclr {args.command}")


def parse_benchmark(script: str, arguments: list[str]) -> None:
    """``python benchmarks/SCRIPT ARGUMENTS`` parsed by the script's own parser, not run."""
    name = f"benchmark_{Path(script).stem}"
    spec = importlib.util.spec_from_file_location(name, ROOT / script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
        del sys.modules[name]

    class Parsed(Exception):
        pass

    def parse_only(parser, args=None, namespace=None):
        raise Parsed(original(parser, args, namespace))

    import argparse

    original = argparse.ArgumentParser.parse_args
    argparse.ArgumentParser.parse_args = parse_only
    try:
        module.main(arguments)
    except Parsed:
        return
    finally:
        argparse.ArgumentParser.parse_args = original
    raise AssertionError(f"{script} ran without parsing its arguments")


def check_shell_script(path: Path) -> None:
    assert path.is_file(), f"{path} does not exist"
    completed = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def pyproject_version_and_extras() -> tuple[str, set[str]]:
    text = (ROOT / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', text, re.M)[1]
    section = text.split("[project.optional-dependencies]")[1].split("\n[")[0]
    return version, set(re.findall(r"^(\w+) = \[", section, re.M))


def resolve_not_run(argv: list[str], shown: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What can be checked of a command not run here, as on the machine it is meant for: one
    with 8 GPUs (torch is told so) and, under torchrun or srun, a launcher's variables."""
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    if argv[0] in ("torchrun", "sbatch"):
        monkeypatch.setenv("NODE_RANK", "0")
    version, extras = pyproject_version_and_extras()
    if argv[0] == "simclr":
        resolve_simclr(argv[1:])
    elif argv[0] == "torchrun":
        module = argv.index("-m")
        assert argv[module + 1] == "simclr.cli", argv
        resolve_simclr(argv[module + 2 :])
    elif argv[0] == "sbatch":
        check_shell_script(ROOT / argv[1])
        lines = (ROOT / argv[1]).read_text().replace("\\\n", " ").splitlines()
        (srun,) = [line for line in lines if line.startswith("srun ")]
        monkeypatch.setenv("SLURM_NNODES", "2")  # what the script's #SBATCH lines ask for
        monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "4")
        words = shlex.split(os.path.expandvars(srun))
        resolve_simclr(words[words.index("simclr") + 1 :])
    elif argv[0] in ("python", "python3") and argv[1].startswith("benchmarks/"):
        parse_benchmark(argv[1], argv[2:])
    elif argv[:2] == ["pip", "install"]:
        package = argv[-1]
        if package.endswith(".whl"):
            assert package.startswith(f"simclr-{version}-"), package
        elif package.startswith(".["):
            assert set(package[2:-1].split(",")) <= extras, package
    elif argv[0].endswith(".sh"):
        check_shell_script(ROOT / argv[0])
    elif shown.startswith("python3 -m ruff"):
        assert shown in (ROOT / ".ci" / "run").read_text().splitlines(), "not .ci/run's"
    elif argv[0] == "mlflow":
        assert argv[1] == "ui", argv  # a server: nothing to resolve beyond its name
    elif argv[0] == "tensorboard":
        assert argv[1] == "--logdir", argv  # a server, as mlflow's
    else:
        raise AssertionError(f"NOT_RUN has no resolution for {shown}")


NOT_RUN_STEPS = [step for page in PAGES for step in page_steps(page) if not_run(step)]


@pytest.mark.parametrize("step", NOT_RUN_STEPS, ids=lambda step: f"{step.where} {step.text}")
def test_a_command_not_run_parses_and_resolves(step: Step, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # where these are meant to run: a clone
    resolve_not_run(step.argv, step.shown, monkeypatch)


def test_every_entry_of_not_run_is_shown_somewhere() -> None:
    shown = {normalised(step.text) for step in NOT_RUN_STEPS} | {s.shown for s in NOT_RUN_STEPS}
    assert set(NOT_RUN) - shown == set()
