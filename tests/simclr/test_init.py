"""Tests of simclr/__init__.py: the public names a pip user imports, loaded on first use."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import torch
import torchvision

import simclr
from simclr.config import load_config

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = (
    "SimCLR",
    "SimCLRViews",
    "MultiCropViews",
    "Encoder",
    "ProjectionHead",
    "NTXentLoss",
    "nt_xent_loss",
    "multi_view_nt_xent_loss",
    "nt_xent_in_chunks",
    "OnlineProbe",
)
PAPER = re.compile(r"section|equation|algorithm|appendix|You et al", re.IGNORECASE)


def test_every_public_name_imports_and_cites_the_paper() -> None:
    expected = {*BLOCKS, "LARS", "SimCLRConfig", "load_config", "pretrain"}
    expected |= {"load_encoder", "load_pretrained"}
    assert set(simclr.__all__) == expected | {"__version__"}
    namespace: dict = {}
    exec("from simclr import *", namespace)  # noqa: S102 - the star import a user writes
    assert expected <= set(namespace)
    for name in expected:
        assert getattr(simclr, name) is namespace[name]
    for name in (*BLOCKS, "LARS", "SimCLRConfig", "load_encoder", "load_pretrained"):
        assert PAPER.search(inspect.getdoc(getattr(simclr, name)) or ""), name
    with pytest.raises(AttributeError, match="no attribute 'NTXent'"):
        simclr.NTXent  # noqa: B018


def test_the_version_is_the_distribution_s() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert simclr.__version__ == pyproject["project"]["version"]


def test_importing_the_package_loads_no_torch() -> None:
    code = "import sys, simclr; print(sorted({'torch', 'lightning', 'kornia'} & set(sys.modules)))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.stdout.strip() == "[]", completed.stderr[-2000:]


def test_views_by_keyword_are_the_views_of_the_config(make_config) -> None:
    """The paper's names as keyword arguments build the same ops as the config path: the same
    seed gives the same two views."""
    config = make_config("augment.crop.scale=[0.2,1.0]", "augment.color.strength=0.5")
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.2, 0.2]
    by_config = simclr.SimCLRViews.from_config(config.augment, 16, 3, mean, std)
    by_keyword = simclr.SimCLRViews(
        image_size=16, channels=3, crop_scale=(0.2, 1.0), color_strength=0.5, mean=mean, std=std
    )
    assert repr(by_keyword.augment) == repr(by_config.augment)
    images = torch.randint(0, 256, (4, 3, 20, 20), dtype=torch.uint8)
    outputs = []
    for views in (by_config, by_keyword):
        torch.manual_seed(3)
        outputs.append(torch.cat(views(images)))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


def test_default_views_normalise_with_imagenet_statistics() -> None:
    grey = simclr.SimCLRViews(image_size=8, channels=1)
    colour = simclr.SimCLRViews(image_size=8, channels=3)
    assert colour.normalize.mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])
    assert grey.normalize.mean.flatten().tolist() == pytest.approx([(0.485 + 0.456 + 0.406) / 3])


@pytest.mark.usefixtures("single_thread")
@pytest.mark.parametrize("source", ["run", "ckpt", "encoder.pt"])
def test_load_encoder_gives_the_trained_f_as_a_torchvision_network(run_dir: Path, source) -> None:
    path = {
        "run": run_dir,
        "ckpt": run_dir / "checkpoints" / "last.ckpt",
        "encoder.pt": run_dir / "encoder.pt",
    }[source]
    model = simclr.load_encoder(path)
    assert isinstance(model, torchvision.models.ResNet) and not model.training
    config = load_config(run_dir / "config.yaml")
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    reference = simclr.SimCLR.from_config(config, num_classes=4)
    reference.load_state_dict(state)
    images = torch.rand(3, 1, 16, 16)
    with torch.no_grad():
        expected = reference.eval()(images)  # h = f(x) of the module that trained
        torch.testing.assert_close(model(images), expected)  # the module runs channels_last
    assert expected.shape == (3, 512)
