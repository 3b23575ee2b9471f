"""Pretraining under several processes (2 CPU processes over gloo, the code path NCCL takes on
GPUs): one process against two, and each launcher Lightning supports (simclr/run/train.py,
simclr/run/launch.py)."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

from simclr.config import SimCLRConfig, load_config
from simclr.data.datamodule import SimCLRDataModule
from simclr.module import SimCLR
from simclr.run.launch import RUN_NAME_ENV
from simclr.run.summary import RunOutputs
from simclr.run.train import build_trainer, pretrain

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*(num_workers|does not have many workers).*"),
    pytest.mark.filterwarnings("ignore:.*(checkpoint|mid-epoch|restart|GPU|ddp_spawn).*"),
]

ROOT = Path(__file__).resolve().parents[2]
IMAGES = 16  # one global batch: every image takes part in the one step compared


def tiny(tmp_path: Path, data_root: Path, *overrides: str) -> list[str]:
    return [
        f"data.root={data_root}",
        "data.download=false",
        f"data.subset={IMAGES}",
        "data.val_subset=16",
        "data.num_workers=0",
        "trainer.accelerator=cpu",
        "trainer.progress_bar=false",
        "trainer.log_every_n_steps=1",
        "trainer.max_epochs=3",  # the former default: tests set max_steps within it
        f"run.out_dir={tmp_path}",
        *overrides,
    ]


# ----------------------------------------------------------------------------- 1 vs 2 processes


class FixedViews(SimCLR):
    """SimCLR whose two views are fixed functions of the image (the image and its mirror), so
    that the views of an image are the same on whichever rank it lands. On CPU its BatchNorm
    layers use their (identical, initial) running statistics: per-device batch statistics
    differ from the global batch's by design, and torch's SyncBatchNorm needs GPUs; on GPUs
    BatchNorm trains, synchronised (``trainer.sync_batchnorm=auto``)."""

    def on_after_batch_transfer(self, batch, dataloader_idx):
        images, labels = batch
        if not self.trainer.training:
            return super().on_after_batch_transfer(batch, dataloader_idx)
        view1 = self.views.normalize(images)
        view2 = self.views.normalize(images.flip(-1))
        return self._layout(view1), self._layout(view2), labels

    def on_train_batch_start(self, batch, batch_index):
        if self.device.type == "cpu":
            for layer in self.modules():
                if isinstance(layer, nn.modules.batchnorm._BatchNorm):
                    layer.eval()


class FixedManyViews(FixedViews):
    """FixedViews with five views: the image, its mirror, its upside-down twin, and two small
    views (the image and its mirror at 7 px): more than two views and multi-crop's passes."""

    def on_after_batch_transfer(self, batch, dataloader_idx):
        images, labels = batch
        if not self.trainer.training:
            return super().on_after_batch_transfer(batch, dataloader_idx)
        small = nn.functional.interpolate(images.float(), size=(7, 7), mode="area").byte()
        made = (images, images.flip(-1), images.flip(-2), small, small.flip(-1))
        return (*(self._layout(self.views.normalize(view)) for view in made), labels)


def one_step(
    tmp_path: Path,
    data_root: Path,
    devices: int,
    per_device_batch: int,
    accelerator: str,
    chunk_size: int | None = None,
    *overrides: str,
    module_class: type[SimCLR] = FixedViews,
) -> dict:
    """The weights before and after one optimizer step over all IMAGES, and the logged loss."""
    config = load_config(
        None,
        tiny(
            tmp_path,
            data_root,
            f"data.batch_size={per_device_batch}",
            f"trainer.accelerator={accelerator}",
            f"trainer.devices={devices}",
            f"trainer.strategy={'ddp_spawn' if devices > 1 else 'auto'}",
            "trainer.max_steps=1",
            "trainer.precision=32-true",  # bf16 rounds differently per batch split
            "trainer.limit_val_batches=0",
            "head.batch_norm=false",
            # plain SGD at a large step, so that the update dwarfs float32 rounding
            "optimizer.name=sgd",
            "optimizer.base_lr=0.5",
            "optimizer.lr_scaling=linear",
            "optimizer.weight_decay=0",
            f"trainer.chunk_size={chunk_size or 'null'}",
            f"run.name={accelerator}{devices}-{chunk_size}",
            *overrides,
        ),
    )
    L.seed_everything(0, workers=True, verbose=False)
    datamodule = SimCLRDataModule(config.data, seed=0)
    module = module_class.from_config(config, num_classes=datamodule.num_classes)
    before = {k: v.detach().clone() for k, v in module.state_dict().items()}
    run_dir = tmp_path / config.run.name
    trainer = build_trainer(config, run_dir, RunOutputs(run_dir, 0, quiet=True))
    trainer.fit(module, datamodule=datamodule)
    return {
        "before": before,
        "after": {k: v.detach().clone() for k, v in module.state_dict().items()},
        "loss": float(trainer.callback_metrics["train/loss"]),
        "accuracy": float(trainer.callback_metrics["train/contrastive_acc"]),
    }


@pytest.mark.parametrize(
    "accelerator",
    [
        "cpu",
        pytest.param(
            "gpu",
            marks=pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs"),
        ),
    ],
)
@pytest.mark.parametrize("chunk_size", [None, 3])  # 3: chunks of 3, 3 and 2 on each rank
def test_two_processes_take_the_same_step_as_one_with_the_global_batch(
    tmp_path: Path, fashion_mnist_root: Path, accelerator: str, chunk_size: int | None
) -> None:
    """Two processes (each in chunks, DDP's gradient averaged once after the last) against
    one process with the whole global batch in one pass."""
    one = one_step(tmp_path, fashion_mnist_root, 1, IMAGES, accelerator)
    two = one_step(tmp_path, fashion_mnist_root, 2, IMAGES // 2, accelerator, chunk_size)
    assert_same_step(one, two)


def test_two_processes_train_a_small_resnet_as_one(tmp_path: Path, fashion_mnist_root: Path):
    """The ResNet paper's ResNet-20 (width 2, option B) in chunks on 2 gloo ranks, as one."""
    small = ["encoder.name=cifar_resnet20", "encoder.width=2", "encoder.shortcut=B"]
    one = one_step(tmp_path, fashion_mnist_root, 1, IMAGES, "cpu", None, *small)
    two = one_step(tmp_path, fashion_mnist_root, 2, IMAGES // 2, "cpu", 3, *small)
    assert one["before"]["encoder.backbone.layer2.0.shortcut.0.weight"].shape == (64, 32, 1, 1)
    assert_same_step(one, two)


def test_two_processes_contrast_many_views_and_small_views_as_one(
    tmp_path: Path, fashion_mnist_root: Path
):
    """Three views and two small views of every image on 2 gloo ranks, as one process."""
    many = ["augment.views=3", "augment.small_views.count=2", "augment.small_views.size=7"]
    one = one_step(
        tmp_path, fashion_mnist_root, 1, IMAGES, "cpu", None, *many, module_class=FixedManyViews
    )
    two = one_step(
        tmp_path,
        fashion_mnist_root,
        2,
        IMAGES // 2,
        "cpu",
        None,
        *many,
        module_class=FixedManyViews,
    )
    assert_same_step(one, two)


def assert_same_step(one: dict, two: dict) -> None:
    for key, tensor in one["before"].items():  # the same start
        assert torch.equal(tensor, two["before"][key]), key
    # the loss over 2N - 2 negatives of the global batch, not N - 2 of each rank's half
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-5)
    assert two["accuracy"] == pytest.approx(one["accuracy"], abs=1e-6)
    # the same update, so the same learning rate: scaled by the global batch N, not the local
    moved = 0
    for key, before in one["before"].items():
        if not before.is_floating_point():
            continue
        update_one = one["after"][key] - before
        update_two = two["after"][key] - before
        scale = float(update_one.abs().max())
        torch.testing.assert_close(update_two, update_one, rtol=1e-3, atol=1e-4 * scale + 1e-9)
        moved += scale > 1e-4
    assert moved > 20  # the step really changed the encoder, head and probe


# ----------------------------------------------------------------------------- launchers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_command(arguments: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        arguments,
        cwd=ROOT,
        env=launcher_environment(),
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


def run_together(commands: list[tuple[list[str], dict]], logs: Path) -> list[tuple[int, str]]:
    """Start every (argv, env) at once, as a launcher on each node would; (exit code, output)
    of each. Output goes to files: a process blocked on a full pipe would stall the others."""
    logs.mkdir(exist_ok=True)
    processes, files = [], []
    for index, (argv, env) in enumerate(commands):
        handle = open(logs / f"process{index}.log", "w+")  # noqa: SIM115 - closed below
        files.append(handle)
        processes.append(
            subprocess.Popen(argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
        )
    try:
        for process in processes:
            process.wait(timeout=400)
    finally:
        for process in processes:
            process.kill()
    results = []
    for process, handle in zip(processes, files):
        handle.seek(0)
        results.append((process.returncode, handle.read()))
        handle.close()
    return results


def launcher_environment(**variables: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != RUN_NAME_ENV}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", **variables)
    return env


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def checkpoint_step(run_dir: Path) -> int:
    """The step of the run's last.ckpt; -1 while there is none (or it is being written)."""
    try:
        checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    except (OSError, RuntimeError, EOFError):
        return -1
    return int(checkpoint["global_step"])


def assert_a_finished_run(run_dir: Path, steps: int) -> None:
    assert read_summary(run_dir)["global_step"] == steps
    assert checkpoint_step(run_dir) == steps
    from linear_eval.features.encoders import load_encoder

    encoder = load_encoder(run_dir / "encoder.pt").encoder
    with torch.no_grad():
        assert encoder.eval()(torch.rand(2, 1, 28, 28)).shape == (2, 512)


def test_ddp_command_makes_one_run_and_resumes_it(tmp_path: Path, fashion_mnist_root: Path):
    command = [sys.executable, "-m", "simclr.cli", "pretrain"]
    launch = ["trainer.devices=2", "trainer.strategy=ddp"]
    first = run_command(
        [
            *command,
            *tiny(tmp_path, fashion_mnist_root, "data.subset=64", "data.batch_size=8"),
            *launch,
            "trainer.max_steps=3",
            "trainer.last_checkpoint_every_n_steps=2",
            "run.name=ddp2",
        ]
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert [p.name for p in tmp_path.iterdir()] == ["ddp2"]
    assert "2 process(es)" in first.stdout
    assert "global batch N = 16 (30 negatives per view)" in first.stdout
    assert "learning rate 0.0625" in first.stdout  # base_lr 1.0 x 16 / 256
    assert first.stdout.count("SimCLR pretraining finished") == 1  # rank 0 alone reports
    run_dir = tmp_path / "ddp2"
    assert_a_finished_run(run_dir, 3)  # the final step, not the last multiple of 2

    resumed = run_command([*command, "--resume", str(run_dir), *launch, "trainer.max_steps=5"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_a_finished_run(run_dir, 5)
    with open(run_dir / "csv" / "version_1" / "metrics.csv") as log:
        steps = [int(row["step"]) for row in csv.DictReader(log) if row.get("train/loss")]
    assert len(steps) == 2 and min(steps) >= 2  # steps 4 and 5, not a restart from 0
    assert [p.name for p in tmp_path.iterdir()] == ["ddp2"]

    again = run_command(
        [
            *command,
            *tiny(tmp_path, fashion_mnist_root, "data.batch_size=8"),
            *launch,
            "run.name=ddp2",
        ]
    )
    assert again.returncode == 2
    assert again.stderr.count("already holds a run") == 1  # rank 0 refused, none was started


@pytest.mark.parametrize("killed", [1, 0])
def test_a_killed_rank_ends_the_other_in_one_line_and_the_run_resumes(
    killed: int, tmp_path: Path, fashion_mnist_root: Path
):
    """SIGKILL one process of a running 2-process ddp run (Lightning's launcher: rank 0 is the
    command, rank 1 its child): the survivor ends with one line naming the dead rank and the
    resume command, not gloo's traceback, and the run then resumes."""
    import signal
    import time

    command = [sys.executable, "-m", "simclr.cli", "pretrain"]
    launch = ["trainer.devices=2", "trainer.strategy=ddp"]
    settings = tiny(tmp_path, fashion_mnist_root, "data.subset=512", "data.batch_size=8")
    budget = ["trainer.max_steps=400", "trainer.last_checkpoint_every_n_steps=2", "run.name=r"]
    rank0 = subprocess.Popen(
        [*command, *settings, *launch, *budget],
        cwd=ROOT,
        env=launcher_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    run_dir = tmp_path / "r"
    deadline = time.monotonic() + 300
    while checkpoint_step(run_dir) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    children = Path(f"/proc/{rank0.pid}/task/{rank0.pid}/children").read_text().split()
    assert len(children) == 1 and checkpoint_step(run_dir) >= 2
    os.kill(rank0.pid if killed == 0 else int(children[0]), signal.SIGKILL)
    _, stderr = rank0.communicate(timeout=120)  # until the survivor closes the pipe too
    survivor = 1 - killed
    lines = [line for line in stderr.splitlines() if "died" in line]
    assert lines == [
        f"simclr pretrain: error: rank {killed} of this 2-process run died (its connection "
        f"closed), so rank {survivor} stops too; resume with: simclr pretrain --resume {run_dir}"
    ], stderr[-3000:]
    assert "Traceback" not in stderr

    resumed = run_command([*command, "--resume", str(run_dir), *launch, "trainer.max_steps=6"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert read_summary(run_dir)["global_step"] == 6


def test_ddp_spawn_run_reports_and_checkpoints_the_final_step(
    tmp_path: Path, fashion_mnist_root: Path
) -> None:
    overrides = tiny(tmp_path, fashion_mnist_root, "data.subset=64", "data.batch_size=8")
    config: SimCLRConfig = load_config(
        None,
        [
            *overrides,
            "trainer.devices=2",
            "trainer.strategy=ddp_spawn",
            "trainer.max_steps=3",
            "trainer.last_checkpoint_every_n_steps=2",
        ],
    )
    summary = pretrain(config, quiet=True)
    run_dir = Path(summary.run_dir)
    assert summary.global_step == 3 and summary.images_seen == 3 * 16
    assert_a_finished_run(run_dir, 3)
    assert [p.name for p in tmp_path.iterdir()] == [run_dir.name]


def test_two_nodes_started_by_torchrun_train_together(tmp_path: Path, fashion_mnist_root: Path):
    port = str(free_port())
    arguments = [
        *tiny(tmp_path, fashion_mnist_root, "data.subset=64", "data.batch_size=8"),
        "trainer.num_nodes=2",
        "trainer.devices=1",
        "trainer.max_steps=3",
        "run.name=nodes2",
    ]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1"]
    where = ["--master-addr=127.0.0.1", f"--master-port={port}"]
    command = ["-m", "simclr.cli", "pretrain", *arguments]
    nodes = run_together(
        [
            ([*torchrun, f"--node-rank={rank}", *where, *command], launcher_environment())
            for rank in (0, 1)
        ],
        tmp_path.parent / f"{tmp_path.name}-logs",
    )
    assert [code for code, _ in nodes] == [0, 0], nodes[0][1][-3000:] + nodes[1][1][-3000:]
    assert "2 process(es) (2 node(s) x 1 device(s))" in nodes[0][1]
    assert "SimCLR pretraining finished" not in nodes[1][1]  # node 1 writes and says nothing
    assert [p.name for p in tmp_path.iterdir()] == ["nodes2"]
    assert_a_finished_run(tmp_path / "nodes2", 3)

    # the same job again: rank 0 refuses the taken name, and the whole job exits non-zero
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "nodes2").rglob("*")}
    again = run_together(
        [
            ([*torchrun, f"--node-rank={rank}", *where, *command], launcher_environment())
            for rank in (0, 1)
        ],
        tmp_path.parent / f"{tmp_path.name}-logs-again",
    )
    assert all(code != 0 for code, _ in again)
    assert "simclr pretrain: error: run.name='nodes2'" in again[0][1]
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "nodes2").rglob("*")} == before


def test_processes_started_by_slurm_train_together(tmp_path: Path, fashion_mnist_root: Path):
    """What ``srun`` sets for 2 tasks on 2 nodes (docs/slurm.sbatch), set here by hand."""
    arguments = [
        *tiny(tmp_path, fashion_mnist_root, "data.subset=64", "data.batch_size=8"),
        "trainer.num_nodes=2",
        "trainer.devices=1",
        "trainer.max_steps=3",
    ]
    slurm = dict(
        SLURM_NTASKS="2",
        SLURM_NTASKS_PER_NODE="1",
        SLURM_NNODES="2",
        SLURM_LOCALID="0",
        SLURM_NODELIST="localhost",
        SLURM_JOB_ID="4242",
        SLURM_JOB_NAME="simclr",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(free_port()),
    )
    command = [sys.executable, "-m", "simclr.cli", "pretrain", *arguments]
    tasks = run_together(
        [
            (command, launcher_environment(**slurm, SLURM_PROCID=rank, SLURM_NODEID=rank))
            for rank in ("0", "1")
        ],
        tmp_path.parent / f"{tmp_path.name}-logs",
    )
    assert [code for code, _ in tasks] == [0, 0], tasks[0][1][-3000:] + tasks[1][1][-3000:]
    assert "2 process(es) (2 node(s) x 1 device(s))" in tasks[0][1]
    # no run.name: both tasks named the run after the job
    assert [p.name for p in tmp_path.iterdir()] == ["slurm-4242"]
    assert_a_finished_run(tmp_path / "slurm-4242", 3)
