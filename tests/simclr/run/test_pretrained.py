"""simclr/run/pretrained.py: the pretrained f read back from a run directory, a ``.ckpt`` or an
exported ``encoder.pt``, checked against plain torchvision loading the same weights strictly;
where each source says its run and config are; refusals in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import torchvision
from omegaconf import OmegaConf
from torch import nn

from simclr.config import load_config
from simclr.errors import ConfigError
from simclr.module import SimCLR
from simclr.run.pretrained import load_encoder, load_pretrained, read_pretrained
from simclr.small_resnets import CifarResNet
from tests.conftest import save_run

pytestmark = pytest.mark.usefixtures("single_thread")


def torchvision_f(state: dict[str, torch.Tensor]) -> nn.Module:
    """torchvision's ResNet-18 as the synthetic runs' small stem and one channel make it (a 3x3
    stride-1 first convolution, no max-pool, no classifier), loaded strictly with ``state``."""
    model = torchvision.models.resnet18()
    model.conv1 = nn.Conv2d(1, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool, model.fc = nn.Identity(), nn.Identity()
    model.load_state_dict(state, strict=True)
    return model.eval()


def checkpoint_backbone(path: Path) -> dict[str, torch.Tensor]:
    """The ``encoder.backbone.`` weights of a Lightning checkpoint, by hand."""
    prefix = "encoder.backbone."
    state = torch.load(path, weights_only=True)["state_dict"]
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def save_checkpoint(module: SimCLR, path: Path) -> Path:
    """A checkpoint as Lightning writes one for ``module``: its weights and hyperparameters."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}, path)
    return path


def export_copy(run_dir: Path, folder: Path) -> Path:
    """``encoder.pt`` and ``encoder.yaml`` copied to ``folder``, as a user ships them."""
    folder.mkdir()
    for name in ("encoder.pt", "encoder.yaml"):
        shutil.copy(run_dir / name, folder / name)
    return folder / "encoder.pt"


# ----------------------------------------------------------------------------- the weights
@pytest.mark.parametrize("source", ["run directory", "checkpoint", "encoder.pt"])
def test_each_source_gives_the_runs_f_as_torchvision_loads_it(run_dir: Path, source) -> None:
    path = {
        "run directory": run_dir,
        "checkpoint": run_dir / "checkpoints" / "last.ckpt",
        "encoder.pt": run_dir / "encoder.pt",
    }[source]
    reference = torchvision_f(checkpoint_backbone(run_dir / "checkpoints" / "last.ckpt"))
    model = load_encoder(path)
    assert isinstance(model, torchvision.models.ResNet)
    expected = reference.state_dict()
    assert list(model.state_dict()) == list(expected)
    assert all(torch.equal(t, expected[k]) for k, t in model.state_dict().items())
    images = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        h = model(images)
        torch.testing.assert_close(h, reference(images))
    assert h.shape == (3, 512)  # h after global average pooling


def test_the_encoder_is_returned_in_eval_mode(run_dir: Path) -> None:
    """In eval mode BatchNorm uses its running statistics, so an image's h does not depend on
    the other images of its batch; in training mode it does."""
    model = load_encoder(run_dir)
    assert not any(module.training for module in model.modules())
    images = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model(images[:1]), model(images)[:1])
        model.train()
        assert not torch.allclose(model(images[:1]), model(images)[:1], atol=1e-3)


def test_a_run_directory_reads_its_encoder_pt_first_then_its_last_checkpoint(
    run_dir: Path,
) -> None:
    exported = torch.load(run_dir / "encoder.pt", weights_only=True)
    exported["conv1.weight"] += 1.0  # tell the two files apart
    torch.save(exported, run_dir / "encoder.pt")
    pretrained = read_pretrained(run_dir)
    assert pretrained.source == run_dir / "encoder.pt"
    assert torch.equal(pretrained.encoder.backbone.conv1.weight, exported["conv1.weight"])

    (run_dir / "encoder.pt").unlink()  # a run stopped before its export
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    pretrained = read_pretrained(run_dir)
    assert pretrained.source == checkpoint
    conv1 = checkpoint_backbone(checkpoint)["conv1.weight"]
    assert torch.equal(pretrained.encoder.backbone.conv1.weight, conv1)

    checkpoint.unlink()
    with pytest.raises(ConfigError) as error:
        read_pretrained(run_dir)
    assert str(error.value) == f"encoder {run_dir}: no encoder.pt or checkpoints/last.ckpt there"


ARCHITECTURES = {
    "plain-strided": ["encoder.stem=strided", "encoder.residual=false"],
    "pooled-3-channels": ["encoder.stem=pooled", "data.channels=3"],
    # the default stem: pooled below 64 px, as SimCLR.from_config resolves it
    "auto-stem": ["encoder.stem=auto"],
    # the ResNet paper's small network, wide, with projections, plain (no torchvision keys)
    "cifar-resnet": ["encoder.name=cifar_resnet14", "encoder.width=2", "encoder.shortcut=B"],
    "plain-cifar-resnet": ["encoder.name=cifar_resnet8", "encoder.residual=false"],
}


@pytest.mark.parametrize("overrides", list(ARCHITECTURES.values()), ids=list(ARCHITECTURES))
def test_a_checkpoint_rebuilds_the_architecture_its_config_names(
    synthetic, tmp_path: Path, overrides: list[str]
) -> None:
    torch.manual_seed(0)
    module = SimCLR.from_config(synthetic.pretrain_config(*overrides), num_classes=4)
    path = save_checkpoint(module, tmp_path / "other" / "checkpoints" / "last.ckpt")
    encoder = read_pretrained(path).encoder
    assert encoder.describe() == module.encoder.describe()  # the architecture that trained
    expected = module.encoder.state_dict()
    assert all(torch.equal(t, expected[k]) for k, t in encoder.state_dict().items())


def cifar_run(synthetic, *overrides: str) -> tuple[Path, SimCLR]:
    """A run of a wide cifar_resnet whose BatchNorm buffers moved off their initial values."""
    config = synthetic.pretrain_config("encoder.name=cifar_resnet8", *overrides)
    torch.manual_seed(0)
    module = SimCLR.from_config(config, num_classes=synthetic.classes)
    module.encoder(torch.rand(4, 1, 16, 16))  # in training mode: the running statistics move
    return save_run(module, config, synthetic.tmp_path / "cifar"), module


def test_an_exported_cifar_resnet_loads_back_with_the_same_h(synthetic) -> None:
    run_dir, module = cifar_run(synthetic, "encoder.width=2", "encoder.shortcut=B")
    description = OmegaConf.to_container(OmegaConf.load(run_dir / "encoder.yaml"))
    assert description == module.encoder.describe()
    assert (description["width"], description["shortcut"], description["feature_dim"]) == (
        2,
        "B",
        128,
    )
    expected = module.encoder.eval()
    images = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    model = load_encoder(export_copy(run_dir, synthetic.tmp_path / "shipped"))
    assert isinstance(model, CifarResNet)
    with torch.no_grad():
        # not bit for bit: the module trains channels_last, the file loads contiguous
        torch.testing.assert_close(model(images), expected(images))
        pretrained = load_pretrained(run_dir)
        assert pretrained(torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)).shape == (
            2,
            128,
        )


def test_an_encoder_yaml_written_before_width_and_shortcut_still_loads(synthetic) -> None:
    run_dir, module = cifar_run(synthetic)
    description = OmegaConf.to_container(OmegaConf.load(run_dir / "encoder.yaml"))
    del description["width"], description["shortcut"]
    (run_dir / "encoder.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(description)))
    encoder = read_pretrained(run_dir / "encoder.pt").encoder
    assert (encoder.width, encoder.shortcut) == (1, "A")
    assert encoder.describe() == module.encoder.describe()
    expected = module.encoder.state_dict()
    assert all(torch.equal(t, expected[k]) for k, t in encoder.state_dict().items())


# ----------------------------------------------------------------------------- run and config
def test_each_source_names_its_run_directory_and_config(run_dir: Path, tmp_path: Path) -> None:
    config = load_config(run_dir / "config.yaml")
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    for path in (run_dir, checkpoint, run_dir / "encoder.pt"):
        pretrained = read_pretrained(path)
        assert (pretrained.run_dir, pretrained.config) == (run_dir, config), path

    # a checkpoint moved out of its run still holds its config; its folder is its run
    moved = tmp_path / "moved" / "epoch=3.ckpt"
    moved.parent.mkdir()
    shutil.copy(checkpoint, moved)
    pretrained = read_pretrained(moved)
    assert pretrained.source == moved
    assert (pretrained.run_dir, pretrained.config) == (moved.parent, config)

    # an exported encoder shipped without the run's config.yaml has none
    exported = export_copy(run_dir, tmp_path / "exported")
    pretrained = read_pretrained(exported)
    assert (pretrained.run_dir, pretrained.config) == (exported.parent, None)
    assert pretrained.encoder.describe()["stem"] == "small"  # from encoder.yaml


# ----------------------------------------------------------------------------- refusals
def refusal(path: Path, what: str = "encoder") -> str:
    with pytest.raises(ConfigError) as error:
        read_pretrained(path, what)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{what} {path}: ")
    return message[len(f"{what} {path}: ") :]


def test_a_missing_path_is_refused_naming_the_option(tmp_path: Path) -> None:
    assert refusal(tmp_path / "nothing.pt") == "no such file or directory"
    assert refusal(tmp_path / "nothing.ckpt", "--checkpoint") == "no such file or directory"
    assert refusal(tmp_path) == "no encoder.pt or checkpoints/last.ckpt there"


def test_an_encoder_pt_without_its_description_is_refused(run_dir: Path, tmp_path: Path) -> None:
    exported = export_copy(run_dir, tmp_path / "exported")
    (exported.parent / "encoder.yaml").unlink()
    assert refusal(exported) == "encoder.yaml describing it is missing"


@pytest.mark.parametrize(
    ("description", "detail"),
    [
        ("name: resnet999\n", "encoder.name='resnet999' is unknown"),
        ("name: resnet18\ncolour: red\n", "unexpected keyword argument 'colour'"),
        ("name: [resnet18\n", ""),  # not YAML
        ("- resnet18\n", ""),  # a list, not a mapping
        ("name: resnet18\nin_channels: -3\n", "in_channels=-3 is not a count >= 1"),
    ],
)
def test_a_bad_description_is_refused_in_one_line(
    run_dir: Path, tmp_path: Path, description: str, detail: str
) -> None:
    exported = export_copy(run_dir, tmp_path / "exported")
    (exported.parent / "encoder.yaml").write_text(description)
    message = refusal(exported)
    assert message.startswith("encoder.yaml does not describe an encoder: ") and detail in message


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (("in_channels: 1", "in_channels: 3"), "size mismatch for conv1.weight"),
        (
            ("name: resnet18", "name: resnet34"),
            'Missing key(s) in state_dict: "layer1.2.conv1.weight"',
        ),
    ],
)
def test_weights_that_do_not_fit_the_description_are_refused_in_one_line(
    run_dir: Path, tmp_path: Path, change: tuple[str, str], detail: str
) -> None:
    exported = export_copy(run_dir, tmp_path / "exported")
    description = exported.parent / "encoder.yaml"
    description.write_text(description.read_text().replace(*change))
    message = refusal(exported)
    assert message.startswith("weights do not fit the encoder: ") and detail in message
    # torch's message, its lines joined, cut to 240 characters (ResNet-34's lists many keys)
    assert len(message) <= len("weights do not fit the encoder: ") + 240


def test_a_checkpoint_without_the_encoders_weights_is_refused(
    run_dir: Path, tmp_path: Path
) -> None:
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["state_dict"] = {
        k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("encoder.")
    }
    torch.save(checkpoint, tmp_path / "headless.ckpt")
    message = refusal(tmp_path / "headless.ckpt")
    assert message.startswith("weights do not fit the encoder: ") and "Missing key(s)" in message


def test_a_checkpoint_without_a_state_dict_is_refused(run_dir: Path, tmp_path: Path) -> None:
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    del checkpoint["state_dict"]
    torch.save(checkpoint, tmp_path / "weightless.ckpt")
    message = refusal(tmp_path / "weightless.ckpt")
    assert message == "the checkpoint holds no state_dict (no weights)"


@pytest.mark.parametrize(
    "hyper_parameters", [None, {"num_classes": 4}, [1, 2]], ids=["none", "no-config", "a-list"]
)
def test_a_checkpoint_of_something_else_is_refused(
    run_dir: Path, tmp_path: Path, hyper_parameters
) -> None:
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    if hyper_parameters is None:
        del checkpoint["hyper_parameters"]
    else:
        checkpoint["hyper_parameters"] = hyper_parameters
    torch.save(checkpoint, tmp_path / "other.ckpt")
    assert refusal(tmp_path / "other.ckpt", "--checkpoint") == "not a simclr pretraining checkpoint"


class Unpicklable:
    """An object that only an unsafe ``torch.load`` would rebuild."""


def test_a_file_that_would_run_code_is_refused(run_dir: Path, tmp_path: Path) -> None:
    exported = export_copy(run_dir, tmp_path / "exported")
    torch.save({"conv1.weight": Unpicklable()}, exported)
    assert refusal(exported).startswith("refused: it holds Python objects")
