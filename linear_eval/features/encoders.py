"""The frozen feature extractors that evaluation compares, each with a weight fingerprint.

- the pretrained encoder f, read by :func:`simclr.run.pretrained.read_pretrained` from a Lightning
  checkpoint (``.ckpt``), an exported encoder (``encoder.pt`` + ``encoder.yaml``, see
  :func:`simclr.run.export.export_encoder`) or a run directory holding either;
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
from torch import nn

from simclr.config import SimCLRConfig
from simclr.encoder import Encoder
from simclr.run.pretrained import read_pretrained

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


def load_encoder(path: str | Path) -> LoadedEncoder:
    """f from a ``.ckpt``, an exported ``encoder.pt`` (with ``encoder.yaml``) or a run dir, as a
    fingerprinted extractor (see :func:`simclr.run.pretrained.read_pretrained`)."""
    pretrained = read_pretrained(path, what="--checkpoint")
    encoder = pretrained.encoder
    extractor = _extractor(PRETRAINED, encoder)
    return LoadedEncoder(
        extractor, encoder, pretrained.source, pretrained.run_dir, pretrained.config
    )


def random_encoder(like: Encoder, seed: int = 0) -> FeatureExtractor:
    """An encoder of ``like``'s architecture (all of ``describe()``) with its random init under
    ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        built = {key: value for key, value in like.describe().items() if key != "feature_dim"}
        encoder = Encoder(**built)  # every option: a wide or option-B cifar_resnet stays one
    return _extractor(RANDOM_INIT, encoder)


def raw_pixels() -> FeatureExtractor:
    """The normalised image flattened to C*H*W numbers."""
    model = nn.Flatten()
    return FeatureExtractor(RAW_PIXELS, model, hashlib.sha256(b"raw pixels").hexdigest())
