"""What a run shows and leaves behind (simclr/run/summary.py): its scale at the start, its summary
at the end, unreadable images counted over every epoch."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from simclr.cli import main
from simclr.module import SimCLR
from simclr.run.summary import PretrainSummary, scale_line


def summary(**values) -> PretrainSummary:
    fields = dict(
        run_dir="runs/a",
        global_step=20,
        images_seen=640,
        seconds=12.345,
        final_loss=4.56789,
        contrastive_accuracy=0.25,
        probe_accuracy=None,
        encoder_path="runs/a/encoder.pt",
    )
    return PretrainSummary(**{**fields, **values})


def test_summary_lines_show_every_value_and_n_a_for_what_was_not_measured() -> None:
    assert summary().lines() == [
        "run directory        runs/a",
        "optimizer steps      20",
        "images seen          640 (1,280 views)",
        "time                 12.3 s",
        "final NT-Xent loss   4.5679",
        "contrastive top-1    0.250",
        "online probe top-1   n/a (validation split)",
        "exported encoder     runs/a/encoder.pt",
        "disk                 0 B in the run directory (0 B of checkpoints)",
    ]


def test_summary_states_the_disk_a_run_took_with_its_checkpoints(first_run) -> None:
    checkpoints = sorted((first_run.run_dir / "checkpoints").iterdir())
    assert first_run.summary.checkpoint_bytes == sum(p.stat().st_size for p in checkpoints)
    assert first_run.summary.run_dir_bytes > first_run.summary.checkpoint_bytes
    line = summary(run_dir_bytes=3 * 2**20, checkpoint_bytes=2**20).lines()[-1]
    assert line == "disk                 3.0 MiB in the run directory (1.0 MiB of checkpoints)"


def test_summary_names_the_skipped_images_only_when_there_were_some() -> None:
    lines = summary(skipped_images=3, training_images=1200).lines()
    assert lines[-1] == (
        "skipped              3 unreadable of 1,200 images (summed over epochs; each was "
        "warned by name)"
    )
    assert len(summary(skipped_images=0, training_images=1200).lines()) == 9


def test_scale_line_states_the_batch_negatives_and_scaled_learning_rate(make_config) -> None:
    config = make_config("optimizer.base_lr=0.5")  # batch 8
    trainer = SimpleNamespace(world_size=2, num_nodes=1, num_devices=2, precision="bf16-mixed")
    module = SimCLR.from_config(config, num_classes=0)
    module._trainer = trainer  # the N and rate the line states are the ones the module trains with
    assert scale_line(trainer, module) == (
        "[simclr] 2 process(es) (1 node(s) x 2 device(s)), per-device batch 8, global batch "
        "N = 16 (30 negatives per view), learning rate 0.03125 (lars, base_lr 0.5, linear "
        "scaling), precision bf16-mixed"
    )  # 0.5 * 16 / 256
    assert module.global_batch_size() == 16 and module.learning_rate() == 0.03125


@pytest.mark.slow
def test_summary_json_is_the_returned_summary(first_run) -> None:
    written = json.loads((first_run.run_dir / "summary.json").read_text())
    assert written == asdict(first_run.summary)
    assert written["skipped_images"] == 0 and written["training_images"] == 512


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*(num_workers|does not have many workers).*")
def test_a_folder_run_counts_the_unreadable_images_it_skipped(tmp_path: Path, capsys) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for index in range(15):
        Image.new("RGB", (12, 12), (index * 16, 0, 0)).save(images / f"{index}.png")
    (images / "broken.png").write_bytes(b"not an image")  # 16 files: 4 full batches of 4
    argv = [
        "pretrain",
        "data.name=folder",
        f"data.path={images}",
        "data.image_size=8",
        "data.batch_size=4",
        "data.num_workers=0",
        "encoder.stem=small",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "trainer.max_epochs=2",
        "trainer.progress_bar=false",
        f"run.out_dir={tmp_path}",
        "run.name=folder",
    ]
    with pytest.warns(UserWarning, match="broken.png"):
        assert main(argv) == 0
    summary = json.loads((tmp_path / "folder" / "summary.json").read_text())
    assert summary["skipped_images"] == 2 and summary["training_images"] == 16  # once an epoch
    assert "skipped              2 unreadable of 16 images" in capsys.readouterr().out
