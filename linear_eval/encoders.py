"""The frozen feature extractors that evaluation compares, each with a weight fingerprint.

- the pretrained encoder f, loaded from a Lightning checkpoint (``.ckpt``), from an exported
  encoder (``encoder.pt`` + ``encoder.yaml``, see :func:`simclr.train.export_encoder`) or from a
  run directory holding either;
- a randomly initialised encoder of the same architecture (a fixed seed, so its features are
  cached like any other);
- raw pixels: the flattened normalised image, the baseline every representation must beat.

The fingerprint is the sha256 of the architecture and of every tensor of the state_dict (buffers
included: BatchNorm running statistics change h in eval mode), so two extractors share cached
features exactly when they compute the same function.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import nn

from simclr.config import SimCLRConfig, as_config, load_config
from simclr.data.registry import resolved_channels
from simclr.encoder import Encoder
from simclr.errors import ConfigError
from simclr.torch_files import read_torch_file

PRETRAINED, RANDOM_INIT, RAW_PIXELS = "pretrained", "random init", "raw pixels"


@dataclass
class FeatureExtractor:
    """A frozen map from normalised images (B, C, H, W) to representations (B, feature_dim)."""

    name: str
    model: nn.Module
    fingerprint: str
    description: dict = field(default_factory=dict)


@dataclass
class LoadedEncoder:
    """The pretrained f, where it came from, and the config of the run that trained it."""

    extractor: FeatureExtractor
    encoder: Encoder
    source: Path
    run_dir: Path
    pretrain_config: SimCLRConfig | None


def fingerprint(model: nn.Module, description: dict | None = None) -> str:
    """sha256 over ``description`` and every (name, dtype, shape, bytes) of the state_dict."""
    digest = hashlib.sha256(json.dumps(description or {}, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@contextlib.contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode (BatchNorm uses its running statistics) and no gradient; the mode is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def _extractor(name: str, encoder: Encoder) -> FeatureExtractor:
    description = encoder.describe()
    return FeatureExtractor(name, encoder, fingerprint(encoder, description), description)


def _resolve(path: Path) -> Path:
    if path.is_dir():
        for candidate in (path / "encoder.pt", path / "checkpoints" / "last.ckpt"):
            if candidate.is_file():
                return candidate
        raise ConfigError(f"--checkpoint {path}: no encoder.pt or checkpoints/last.ckpt there")
    if not path.is_file():
        raise ConfigError(f"--checkpoint {path}: no such file or directory")
    return path


def _load_weights(module: nn.Module, state: dict, path: Path) -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as error:
        detail = " ".join(str(error).split())[:240]
        message = f"--checkpoint {path}: weights do not fit the encoder: {detail}"
        raise ConfigError(message) from None


def _encoder_described_in(description_path: Path, path: Path) -> Encoder:
    """The (untrained) encoder that ``encoder.yaml`` describes; a bad description is one line."""
    try:
        description = OmegaConf.to_container(OmegaConf.load(description_path))
        description.pop("feature_dim", None)
        return Encoder(**description)
    except (yaml.YAMLError, OmegaConfBaseException, AttributeError, TypeError, ValueError) as e:
        detail = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise ConfigError(
            f"--checkpoint {path}: {description_path.name} does not describe an encoder: {detail}"
        ) from None


def load_encoder(path: str | Path) -> LoadedEncoder:
    """f from a ``.ckpt``, an exported ``encoder.pt`` (with ``encoder.yaml``) or a run dir."""
    path = _resolve(Path(path))
    if path.suffix == ".ckpt":
        checkpoint = read_torch_file(path)
        try:
            config = as_config(checkpoint["hyper_parameters"]["config"])
        except (KeyError, TypeError):
            raise ConfigError(f"--checkpoint {path}: not a simclr pretraining checkpoint") from None
        channels = resolved_channels(config.data)
        architecture = config.encoder
        encoder = Encoder(architecture.name, architecture.stem, channels, architecture.residual)
        prefix = "encoder."
        state = {
            k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
        }
        _load_weights(encoder, state, path)
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    else:
        description_path = path.with_name("encoder.yaml")
        if not description_path.is_file():
            raise ConfigError(f"--checkpoint {path}: encoder.yaml describing it is missing")
        encoder = _encoder_described_in(description_path, path)
        _load_weights(encoder.backbone, read_torch_file(path), path)
        run_dir = path.parent
        config_path = run_dir / "config.yaml"
        config = load_config(config_path) if config_path.is_file() else None
    return LoadedEncoder(_extractor(PRETRAINED, encoder), encoder, path, run_dir, config)


def random_encoder(like: Encoder, seed: int = 0) -> FeatureExtractor:
    """An encoder of ``like``'s architecture with torchvision's random init under ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = Encoder(like.name, like.stem, like.in_channels, like.residual)
    return _extractor(RANDOM_INIT, encoder)


def raw_pixels() -> FeatureExtractor:
    """The normalised image flattened to C*H*W numbers."""
    model = nn.Flatten()
    return FeatureExtractor(RAW_PIXELS, model, hashlib.sha256(b"raw pixels").hexdigest())
