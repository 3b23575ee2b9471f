"""No file read from disk runs code (simclr/run/torch_files.py): a malicious checkpoint, exported
encoder or index is refused in one line by every command that reads one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from simclr.cli import main
from simclr.config import ConfigError, save_config
from simclr.run.torch_files import read_torch_file

pytestmark = pytest.mark.usefixtures("single_thread")


class Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def malicious(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"x": Payload(marker)}, "hyper_parameters": {}}, path)
    return path


def test_the_payload_runs_when_loaded_unsafely(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    torch.load(malicious(tmp_path / "evil.ckpt", marker), weights_only=False)
    assert marker.exists()  # so its absence below means the loader refused it


def test_reading_an_unsafe_file_is_a_one_line_refusal(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(ConfigError, match="refused: it holds Python objects") as error:
        read_torch_file(malicious(tmp_path / "evil.ckpt", marker))
    assert "\n" not in str(error.value) and not marker.exists()


def test_a_damaged_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {"w": torch.ones(1000)}}, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ConfigError, match="not a readable PyTorch file"):
        read_torch_file(path)


def test_every_command_refuses_malicious_files(
    synthetic, run_dir: Path, tmp_path: Path, capsys
) -> None:
    marker = tmp_path / "ran"
    evil_ckpt = malicious(tmp_path / "evil.ckpt", marker)
    # a run directory whose last.ckpt is malicious (and no encoder.pt)
    evil_run = tmp_path / "evil-run"
    malicious(evil_run / "checkpoints" / "last.ckpt", marker)
    save_config(synthetic.pretrain_config(), evil_run / "config.yaml")
    # an exported encoder that is malicious
    evil_export = tmp_path / "evil-export"
    malicious(evil_export / "encoder.pt", marker)
    (evil_export / "encoder.yaml").write_text((run_dir / "encoder.yaml").read_text())
    # a real index whose index.json names the malicious checkpoint
    index_dir = tmp_path / "index"
    args = [
        "index",
        "--checkpoint",
        str(run_dir),
        "--out",
        str(index_dir),
        *synthetic.eval_overrides,
    ]
    assert main(args) == 0
    meta = json.loads((index_dir / "index.json").read_text())
    meta["checkpoint"] = str(evil_ckpt)
    (index_dir / "index.json").write_text(json.dumps(meta))
    query = tmp_path / "query.png"
    Image.fromarray(synthetic.images("test").images[0][0].numpy()).save(query)
    capsys.readouterr()

    commands = [
        ["eval", "all", "--checkpoint", str(evil_ckpt)],
        ["eval", "knn", "--checkpoint", str(evil_run)],
        ["eval", "knn", "--checkpoint", str(evil_export)],
        ["index", "--checkpoint", str(evil_ckpt)],
        ["embed", "--checkpoint", str(evil_ckpt)],
        ["plot", "--checkpoint", str(evil_ckpt)],
        ["retrieve", str(query), "--index", str(index_dir), "--no-grid"],
        ["pretrain", "--resume", str(evil_run)],
    ]
    for command in commands:
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "refused: it holds Python objects" in err, command
        assert not marker.exists(), command
