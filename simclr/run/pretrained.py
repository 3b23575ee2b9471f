"""A pretrained base encoder f, read back from what a run leaves: for downstream work.

Three sources give the same f: a run directory (its ``encoder.pt``, else its
``checkpoints/last.ckpt``), a Lightning checkpoint (``.ckpt``, the ``encoder.`` weights of the
module) or an exported ``encoder.pt`` (a plain torchvision state_dict, or a ``cifar_resnet``'s)
with the ``encoder.yaml`` beside it that names the architecture (one written before ``width``
and ``shortcut`` existed gets their defaults, 1 and A). Files are read with
``weights_only=True``: a file that would run code is refused, and so is one that does not fit
the architecture, in one line.

:func:`load_encoder` gives f alone, the torchvision network; :func:`load_pretrained` gives f with
the run's preprocessing (:class:`PretrainedEncoder`), so that images as a user has them give the
h that ``simclr embed`` writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import nn

from simclr.config.load import as_config, load_config, pretraining_hyperparameters
from simclr.config.schema import SimCLRConfig
from simclr.data.config import normalization
from simclr.encoder import Encoder, build_encoder
from simclr.errors import ConfigError
from simclr.preprocess import Preprocess
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
    torchvision network (for a ``cifar_resnet``, :class:`simclr.small_resnets.CifarResNet`)
    with its weights and its classifier replaced by the identity, so that
    ``model(images)`` is the representation h after global average pooling (SimCLR section 2.1,
    the output used for downstream tasks). Returned in eval mode (BatchNorm uses its running
    statistics); call ``.train()`` to fine-tune it."""
    return read_pretrained(path).encoder.backbone.eval()


class PretrainedEncoder(nn.Module):
    """The pretrained base encoder f behind the preprocessing its run evaluates with: images as
    a user has them in (uint8 0..255 or float 0..1, one image, a batch or a list of any sizes,
    grey or RGB: :class:`simclr.preprocess.Preprocess`), the representation h out (SimCLR
    section 2.1: the output after global average pooling, the one used for downstream tasks),
    equal to the rows ``simclr embed`` writes for the same images. Frozen, as in the linear
    evaluation protocol (section 4): eval mode (``.train()`` leaves it there), no gradient.
    ``transforms()`` is the preprocessing alone, as torchvision's weights give it."""

    def __init__(self, encoder: Encoder, preprocess: Preprocess) -> None:
        super().__init__()
        self.preprocess, self.encoder = preprocess, encoder
        self.feature_dim: int = encoder.feature_dim
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> PretrainedEncoder:
        # h must stay the one simclr embed writes: BatchNorm on its running statistics
        return super().train(False)

    def transforms(self) -> Preprocess:
        """The preprocessing alone: images -> the normalised float input of f."""
        return self.preprocess

    @torch.no_grad()
    def forward(self, images: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """h (feature_dim,) of one image (C, H, W); (N, feature_dim) of a batch or a list."""
        inputs = self.preprocess(images)
        if inputs.dim() == 3:
            return self.encoder(inputs.unsqueeze(0))[0]
        return self.encoder(inputs)


def load_pretrained(path: str | Path) -> PretrainedEncoder:
    """The pretrained f of a run directory, a ``.ckpt`` or an ``encoder.pt`` with its run's
    preprocessing: ``load_pretrained(run)(images)`` is the representation h (SimCLR section
    2.1) that ``simclr embed`` writes for ``images``, whatever their size and dtype (see
    :class:`PretrainedEncoder`). The preprocessing is the run's ``data.image_size`` and
    normalisation, read from its config; an ``encoder.pt`` without the run's ``config.yaml``
    beside it is refused in one line. For f alone, to fine-tune: :func:`load_encoder`."""
    pretrained = read_pretrained(path)
    if pretrained.config is None:
        raise ConfigError(
            f"encoder {pretrained.source}: the run's config.yaml is not beside it, so its image "
            "size and normalisation are unknown: copy it there, or use load_encoder and "
            "preprocess the images yourself"
        )
    config, encoder = pretrained.config, pretrained.encoder
    # what simclr embed, index and eval preprocess with (linear_eval.config.adapt_to_encoder)
    normalize = config.augment.normalize
    mean, std = normalization(config.data, normalize.mean, normalize.std)
    image_size, channels = config.data.image_size, encoder.in_channels
    preprocess = Preprocess(image_size, channels, mean, std, normalize=normalize.enabled)
    return PretrainedEncoder(encoder, preprocess)


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
