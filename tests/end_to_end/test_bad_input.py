"""Bad input of every command, in one table: exit code 2, one line on stderr naming what is
wrong, and nothing written. Adding a case is adding a row."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from simclr.cli import main

pytestmark = pytest.mark.usefixtures("single_thread")


def _index(run: Path, tmp: Path, synthetic: Any) -> Path:
    out = tmp / "index"
    if not out.exists():
        overrides = synthetic.eval_overrides
        assert main(["index", "--checkpoint", str(run), "--out", str(out), *overrides]) == 0
    return out


def _query(tmp: Path, synthetic: Any) -> str:
    path = tmp / "query.png"
    Image.fromarray(synthetic.images("test").images[0][0].numpy()).save(path)
    return str(path)


def _export_with(run: Path, tmp: Path, yaml_text: str) -> str:
    export = tmp / "export"
    export.mkdir(exist_ok=True)
    (export / "encoder.pt").write_bytes((run / "encoder.pt").read_bytes())
    (export / "encoder.yaml").write_text(yaml_text)
    return str(export)


def _cut_checkpoint(run: Path) -> str:
    checkpoint = run / "checkpoints" / "last.ckpt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    return str(run)


def _damaged_index(run: Path, tmp: Path, synthetic: Any) -> str:
    index = _index(run, tmp, synthetic)
    (index / "index.faiss").write_bytes((index / "index.faiss").read_bytes()[:64])
    return str(index)


def _rgb_run(synthetic: Any) -> str:
    """A run whose encoder takes 3-channel images (the synthetic data has 1)."""
    run = synthetic.make_run(name="rgb")
    yaml_path = run / "encoder.yaml"
    from simclr.encoder import Encoder
    from simclr.run.atomic import atomic_write

    encoder = Encoder("resnet18", "small", 3, True)
    torch.save(encoder.backbone.state_dict(), run / "encoder.pt")
    atomic_write(
        yaml_path, yaml_path.read_text().replace("in_channels: 1", "in_channels: 3").encode()
    )
    return str(run / "encoder.pt")


def _folder_whose_classes_differ(tmp: Path) -> str:
    """DIR/train/{a,b}/ and DIR/val/{a}/: val lacks class b."""
    for split, classes in (("train", "ab"), ("val", "a")):
        for name in classes:
            (tmp / "images" / split / name).mkdir(parents=True, exist_ok=True)
            Image.new("L", (8, 8)).save(tmp / "images" / split / name / "0.png")
    return str(tmp / "images")


def _file(tmp: Path) -> str:
    """A file where a folder is wanted."""
    (tmp / "file").write_text("not a folder\n")
    return str(tmp / "file")


Case = Callable[[Path, Path, Any], list[str]]  # (run dir, tmp dir, synthetic data) -> argv
CASES: list[tuple[str, Case, str]] = [
    # pretrain: settings
    ("unknown key", lambda r, t, s: ["pretrain", "data.batchsize=3"], "data.batchsize"),
    ("temperature 0", lambda r, t, s: ["pretrain", "loss.temperature=0"], "loss.temperature"),
    ("infinite lr", lambda r, t, s: ["pretrain", "optimizer.base_lr=inf"], "optimizer.base_lr"),
    ("betas", lambda r, t, s: ["pretrain", "optimizer.betas=[2,3]"], "optimizer.betas"),
    ("devices 0", lambda r, t, s: ["pretrain", "trainer.devices=0"], "trainer.devices"),
    ("devices abc", lambda r, t, s: ["pretrain", "trainer.devices=abc"], "trainer.devices"),
    ("devices -2", lambda r, t, s: ["pretrain", "trainer.devices=-2"], "trainer.devices"),
    ("nodes 0", lambda r, t, s: ["pretrain", "trainer.num_nodes=0"], "trainer.num_nodes"),
    ("nodes 2", lambda r, t, s: ["pretrain", "trainer.num_nodes=2"], "trainer.num_nodes"),
    ("accelerator", lambda r, t, s: ["pretrain", "trainer.accelerator=foo"], "trainer.accelerator"),
    ("strategy", lambda r, t, s: ["pretrain", "trainer.strategy=foo"], "trainer.strategy"),
    ("val interval", lambda r, t, s: ["pretrain", "trainer.val_every_n_epochs=0"], "val_every"),
    ("val limit", lambda r, t, s: ["pretrain", "trainer.limit_val_batches=-1"], "limit_val"),
    (
        "sync BN on CPU",
        lambda r, t, s: ["pretrain", "trainer.accelerator=cpu", "trainer.sync_batchnorm=true"],
        "trainer.sync_batchnorm",
    ),
    # pretrain: files
    ("resume a non-run", lambda r, t, s: ["pretrain", "--resume", str(t)], "not a run directory"),
    (
        "resume a cut ckpt",
        lambda r, t, s: ["pretrain", "--resume", _cut_checkpoint(r)],
        "not a readable PyTorch file",
    ),
    ("missing config", lambda r, t, s: ["pretrain", "--config", str(t / "no.yaml")], "no.yaml"),
    # evaluation
    ("eval mode", lambda r, t, s: ["eval", "nearest", "--checkpoint", str(r)], "nearest"),
    ("knn k 0", lambda r, t, s: ["eval", "--checkpoint", str(r), "knn.k=[0]"], "knn.k"),
    (
        "knn T inf",
        lambda r, t, s: ["eval", "--checkpoint", str(r), "knn.temperature=inf"],
        "knn.temperature",
    ),
    ("no checkpoint", lambda r, t, s: ["eval", "--checkpoint", str(t / "none")], "none"),
    (
        "encoder.yaml name",
        lambda r, t, s: [
            "eval",
            "--checkpoint",
            _export_with(r, t, "name: resnet9\nstem: standard\nin_channels: 1\nresidual: true\n"),
        ],
        "resnet9",
    ),
    (
        "encoder.yaml key",
        lambda r, t, s: [
            "eval",
            "--checkpoint",
            _export_with(r, t, (r / "encoder.yaml").read_text() + "extra: 1\n"),
        ],
        "encoder.yaml",
    ),
    (
        "features workers",
        lambda r, t, s: ["index", "--checkpoint", str(r), "features.num_workers=-2"],
        "features.num_workers",
    ),
    (
        "features devices",
        lambda r, t, s: ["embed", "--checkpoint", str(r), "features.devices=0"],
        "features.devices",
    ),
    (
        "folder classes differ",
        lambda r, t, s: [
            "eval",
            "--checkpoint",
            str(r),
            "data.name=folder",
            f"data.path={_folder_whose_classes_differ(t)}",
        ],
        "val/ lacks b",
    ),
    (
        "channels of the data",
        lambda r, t, s: ["eval", "--checkpoint", str(r), "data.channels=3"],
        "data.channels=3 does not fit",
    ),
    (
        "val_fraction below 0",
        lambda r, t, s: [
            "eval",
            "--checkpoint",
            str(r),
            "data.name=folder",
            f"data.path={t}",
            "data.val_fraction=-0.1",
        ],
        "data.val_fraction=-0.1 is invalid",
    ),
    (
        "val_fraction 1",
        lambda r, t, s: ["pretrain", "data.name=folder", f"data.path={t}", "data.val_fraction=1"],
        "data.val_fraction=1.0 is invalid",
    ),
    # paths: a file where a folder is read or written
    (
        "eval --out a file",
        lambda r, t, s: ["eval", "--checkpoint", str(r), "--out", _file(t)],
        "--out",
    ),
    (
        "cache_dir a file",
        lambda r, t, s: ["eval", "--checkpoint", str(r), f"features.cache_dir={_file(t)}"],
        "features.cache_dir",
    ),
    (
        "index --out under a file",
        lambda r, t, s: ["index", "--checkpoint", str(r), "--out", f"{_file(t)}/index"],
        "is a file, not a folder",
    ),
    (
        "index --folder missing",
        lambda r, t, s: ["index", "--checkpoint", str(r), "--folder", str(t / "none")],
        "--folder",
    ),
    (
        "embed --out a file",
        lambda r, t, s: ["embed", "--checkpoint", str(r), "--out", _file(t)],
        "--out",
    ),
    (
        "finetune --out a file",
        lambda r, t, s: ["finetune", "--checkpoint", str(r), "--out", _file(t)],
        "--out",
    ),
    (
        "plot --out under a file",
        lambda r, t, s: ["plot", "--checkpoint", str(r), "--out", f"{_file(t)}/map.png"],
        "--out",
    ),
    (
        "retrieve --grid-dir a file",
        lambda r, t, s: ["retrieve", _query(t, s), "--index", str(t), "--grid-dir", _file(t)],
        "--grid-dir",
    ),
    (
        "retrieve --list a folder",
        lambda r, t, s: ["retrieve", "--list", str(t), "--index", str(t)],
        "--list",
    ),
    (
        "retrieve --index a file",
        lambda r, t, s: ["retrieve", _query(t, s), "--index", _file(t)],
        "--index",
    ),
    ("clean a file", lambda r, t, s: ["clean", _file(t)], "RUN"),
    ("clean missing", lambda r, t, s: ["clean", str(t / "none")], "does not exist"),
    # retrieval
    ("k 0", lambda r, t, s: ["retrieve", _query(t, s), "--index", str(t), "-k", "0"], "-k 0"),
    ("k -5", lambda r, t, s: ["retrieve", _query(t, s), "--index", str(t), "-k", "-5"], "-k -5"),
    ("no index", lambda r, t, s: ["retrieve", _query(t, s), "--index", str(t)], "index.faiss"),
    (
        "damaged index",
        lambda r, t, s: ["retrieve", _query(t, s), "--index", _damaged_index(r, t, s)],
        "rebuild it",
    ),
    (
        "unreadable query",
        lambda r, t, s: ["retrieve", str(r / "config.yaml"), "--index", str(_index(r, t, s))],
        "config.yaml",
    ),
    (
        "channels",
        lambda r, t, s: [
            "retrieve",
            _query(t, s),
            "--index",
            str(_index(r, t, s)),
            "--checkpoint",
            _rgb_run(s),
        ],
        "3-channel",
    ),
]
if not torch.cuda.is_available():
    CASES.append(
        (
            "no GPU",
            lambda r, t, s: ["eval", "--checkpoint", str(r), "features.device=cuda"],
            "features.device",
        )
    )


@pytest.mark.parametrize(("name", "argv", "named"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_naming_it(
    run_dir: Path, synthetic: Any, tmp_path: Path, capsys, name: str, argv: Case, named: str
) -> None:
    arguments = argv(run_dir, tmp_path, synthetic)
    if arguments[0] == "pretrain" and "--resume" not in arguments:
        arguments += [f"run.out_dir={tmp_path / 'runs'}", "run.name=bad"]
    before = sorted(str(p) for p in run_dir.rglob("*"))
    capsys.readouterr()
    assert main(arguments) == 2, name
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ": error: " in err, err
    assert named in err, err
    assert not (tmp_path / "runs").exists()
    assert sorted(str(p) for p in run_dir.rglob("*")) == before or name.startswith("resume")
