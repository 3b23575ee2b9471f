"""A pretrained base encoder f, read back from what a run leaves: for downstream work.

Three sources give the same f: a run directory (its ``encoder.pt``, else its
``checkpoints/last.ckpt``), a Lightning checkpoint (``.ckpt``, the ``encoder.`` weights of the
module) or an exported ``encoder.pt`` (a plain torchvision state_dict) with the ``encoder.yaml``
beside it that names the architecture. Files are read with ``weights_only=True``: a file that
would run code is refused, and so is one that does not fit the architecture, in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import nn

from simclr.config.load import as_config, load_config, pretraining_hyperparameters
from simclr.config.schema import SimCLRConfig
from simclr.encoder import Encoder, build_encoder
from simclr.errors import ConfigError
from simclr.run.torch_files import read_torch_file


@dataclass
class Pretrained:
    """The pretrained f, the file it was read from, its run directory and the run's config
    (None for an exported encoder without the run's ``config.yaml``)."""

    encoder: Encoder
    source: Path
    run_dir: Path
    config: SimCLRConfig | None


def load_encoder(path: str | Path) -> nn.Module:
    """The pretrained base encoder f of a run directory, a ``.ckpt`` or an ``encoder.pt``: the
    torchvision network with its weights and its classifier replaced by the identity, so that
    ``model(images)`` is the representation h after global average pooling (SimCLR section 2.1,
    the output used for downstream tasks). Returned in eval mode (BatchNorm uses its running
    statistics); call ``.train()`` to fine-tune it."""
    return read_pretrained(path).encoder.backbone.eval()


def read_pretrained(path: str | Path, what: str = "encoder") -> Pretrained:
    """f and where it came from; ``what`` names the source in error messages (a CLI option)."""
    path = _resolve(Path(path), what)
    if path.suffix == ".ckpt":
        checkpoint = read_torch_file(path, what)
        hyperparameters = pretraining_hyperparameters(checkpoint)
        if hyperparameters is None:
            raise ConfigError(f"{what} {path}: not a simclr pretraining checkpoint")
        config = as_config(hyperparameters["config"])
        encoder = build_encoder(config)
        weights = checkpoint.get("state_dict")
        if not isinstance(weights, dict):
            raise ConfigError(f"{what} {path}: the checkpoint holds no state_dict (no weights)")
        prefix = "encoder."
        state = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
        _load_weights(encoder, state, path, what)
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    else:
        description_path = path.with_name("encoder.yaml")
        if not description_path.is_file():
            raise ConfigError(f"{what} {path}: encoder.yaml describing it is missing")
        encoder = _encoder_described_in(description_path, path, what)
        _load_weights(encoder.backbone, read_torch_file(path, what), path, what)
        run_dir = path.parent
        config_path = run_dir / "config.yaml"
        config = load_config(config_path) if config_path.is_file() else None
    return Pretrained(encoder, path, run_dir, config)


def _resolve(path: Path, what: str) -> Path:
    if path.is_dir():
        for candidate in (path / "encoder.pt", path / "checkpoints" / "last.ckpt"):
            if candidate.is_file():
                return candidate
        raise ConfigError(f"{what} {path}: no encoder.pt or checkpoints/last.ckpt there")
    if not path.is_file():
        raise ConfigError(f"{what} {path}: no such file or directory")
    return path


def _load_weights(module: nn.Module, state: dict, path: Path, what: str) -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as error:
        detail = " ".join(str(error).split())[:240]
        raise ConfigError(f"{what} {path}: weights do not fit the encoder: {detail}") from None


def _encoder_described_in(description_path: Path, path: Path, what: str) -> Encoder:
    """The (untrained) encoder that ``encoder.yaml`` describes; a bad description is one line."""
    try:
        description = OmegaConf.to_container(OmegaConf.load(description_path))
        description.pop("feature_dim", None)
        channels = description.get("in_channels", 3)
        if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
            raise ValueError(f"in_channels={channels!r} is not a count >= 1")
        return Encoder(**description)
    except (yaml.YAMLError, OmegaConfBaseException, AttributeError, TypeError, ValueError) as e:
        detail = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise ConfigError(
            f"{what} {path}: {description_path.name} does not describe an encoder: {detail}"
        ) from None
