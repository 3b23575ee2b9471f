"""Configuration schema of the evaluation stage: every key, its default and its validation.

The schema reuses :func:`simclr.config.merge_config`: the data and normalisation sections are
inherited from the pretraining run (so features are preprocessed as the encoder saw its images),
then an optional YAML file and ``key=value`` overrides are merged on top. Unknown keys, wrong
types and invalid values fail with a one-line :class:`simclr.config.ConfigError` naming the key.

Defaults follow the protocols of the literature:
- kNN: cosine similarity, k = 200 and votes weighted by exp(sim / T) with T = 0.1 (Wu et al.
  2018, "Unsupervised Feature Learning via Non-Parametric Instance Discrimination", section 3.4;
  the protocol of lightly and solo-learn), with several k reported from one search.
- Linear probe: one linear layer on frozen, standardised h, trained with cross-entropy (SimCLR
  section 4 and appendix B.6), the weight decay chosen on a held-out part of the training split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import OmegaConf

from simclr.config import (
    DataConfig,
    NormalizeConfig,
    SimCLRConfig,
    build_config,
    check_finite,
    check_workers,
    require,
    validate_data,
)

INDEX_TYPES = ("auto", "flat", "ivf")
PLOT_METHODS = ("auto", "umap", "tsne", "pca")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class FeaturesConfig:
    batch_size: int = 256  # images per forward pass of the frozen encoder
    num_workers: int | None = None  # null: 0 for in-memory datasets, else 1 per core (<= 8)
    cache_dir: str | None = None  # null: <run dir>/features
    device: str = "auto"  # auto: cuda when available, else cpu
    devices: int = 1  # processes that share the extraction (one per GPU, or CPU processes)
    progress_bar: bool = True


@dataclass
class KNNConfig:
    k: list[int] = field(default_factory=lambda: [10, 20, 100, 200])  # all from one search
    temperature: float = 0.1  # T in the vote weight exp(sim / T)
    query_chunk: int = 1024  # test features searched per faiss call


@dataclass
class LinearConfig:
    epochs: int = 30
    batch_size: int = 1024
    lr: float = 0.1  # SGD with Nesterov momentum and a cosine schedule
    momentum: float = 0.9
    weight_decays: list[float] = field(default_factory=lambda: [0.0, 1e-6, 1e-5, 1e-4, 1e-3])
    held_out_fraction: float = 0.1  # part of the training split that chooses the weight decay
    augment: bool = False  # also train the paper's variant: random crop and flip through f
    augment_epochs: int = 5
    augment_crop_scale: list[float] = field(default_factory=lambda: [0.08, 1.0])
    # intra-op threads while training on cached features (0: torch's default). A D x C layer
    # gains little from more, and OpenMP threads spinning on a busy machine slow it 5-10x
    threads: int = 1


@dataclass
class BaselinesConfig:
    random_init: bool = True  # the same architecture with random weights (seed: eval seed)
    raw_pixels: bool = True  # flattened normalised pixels as the representation


@dataclass
class RetrievalConfig:
    index_type: str = "auto"  # auto: flat (exact) below ivf_threshold images, else ivf
    ivf_threshold: int = 100_000
    nlist: int | None = None  # IVF cells; null: about 4 sqrt(gallery size)
    nprobe: int = 16  # IVF cells visited per query
    top_k: int = 5


@dataclass
class EmbedConfig:
    csv_max_rows: int = 20_000  # a CSV is written beside the .npy files up to this many rows


@dataclass
class PlotConfig:
    method: str = "auto"  # auto: umap when umap-learn is installed, else t-SNE
    max_points: int = 5_000  # a seeded random sample of this many points is drawn
    point_size: float = 2.0


@dataclass
class EvalConfig:
    data: DataConfig = field(default_factory=DataConfig)  # subset/val_subset: train/test split
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    knn: KNNConfig = field(default_factory=KNNConfig)
    linear: LinearConfig = field(default_factory=LinearConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    plot: PlotConfig = field(default_factory=PlotConfig)
    seed: int = 0


def inherited_sections(pretrain: SimCLRConfig | None) -> dict:
    """The pretraining run's data and normalisation, with its pretraining subsets dropped."""
    if pretrain is None:
        return {}
    data = OmegaConf.to_container(OmegaConf.structured(pretrain.data))
    data.update(subset=None, val_subset=None)
    normalize = OmegaConf.to_container(OmegaConf.structured(pretrain.augment.normalize))
    return {"data": data, "normalize": normalize}


def load_eval_config(
    pretrain: SimCLRConfig | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
) -> EvalConfig:
    """Schema defaults, then the run's data sections, then ``config_file``, then ``overrides``."""
    sources = [inherited_sections(pretrain)]
    config: EvalConfig = build_config(EvalConfig, sources, config_file, overrides)
    validate(config)
    return config


def adapt_to_encoder(
    config: EvalConfig, in_channels: int, pretrain: SimCLRConfig | None
) -> EvalConfig:
    """Preprocess images as the encoder expects, whatever dataset they come from.

    Unless set explicitly, images are converted to the encoder's channel count and, for a
    dataset other than the pretraining one (an image folder gallery, say), normalised with the
    statistics the encoder was trained with rather than the new dataset's.
    """
    if config.data.channels is None:
        config.data.channels = in_channels
    explicit = config.normalize.mean is not None or config.normalize.std is not None
    if pretrain is not None and config.data.name != pretrain.data.name and not explicit:
        from simclr.data import normalization

        pretrain_normalize = pretrain.augment.normalize
        mean, std = normalization(pretrain.data, pretrain_normalize.mean, pretrain_normalize.std)
        config.normalize.mean, config.normalize.std = mean, std
    return config


def validate(config: EvalConfig) -> None:
    """Reject invalid values with a one-line :class:`ConfigError` naming the key."""
    check_finite(config)
    validate_data(config.data)

    features = config.features
    require(features.batch_size >= 1, "features.batch_size", features.batch_size, "must be >= 1")
    check_workers("features.num_workers", features.num_workers)
    require(features.device in DEVICES, "features.device", features.device, ", ".join(DEVICES))
    require(features.devices >= 1, "features.devices", features.devices, "must be >= 1")
    gpus = torch.cuda.device_count()
    wants_gpu = features.device == "cuda" or (features.device == "auto" and gpus > 0)
    require(features.device != "cuda" or gpus > 0, "features.device", "cuda", "no GPU is visible")
    if wants_gpu:
        allowed = f"asks for more GPUs than the {gpus} visible"
        require(features.devices <= gpus, "features.devices", features.devices, allowed)

    knn = config.knn
    require(len(knn.k) > 0 and all(k >= 1 for k in knn.k), "knn.k", knn.k, "a list of k >= 1")
    require(knn.temperature > 0, "knn.temperature", knn.temperature, "must be > 0")
    require(knn.query_chunk >= 1, "knn.query_chunk", knn.query_chunk, "must be >= 1")

    linear = config.linear
    require(linear.epochs >= 1, "linear.epochs", linear.epochs, "must be >= 1")
    require(linear.batch_size >= 1, "linear.batch_size", linear.batch_size, "must be >= 1")
    require(linear.lr > 0, "linear.lr", linear.lr, "must be > 0")
    require(0 <= linear.momentum < 1, "linear.momentum", linear.momentum, "must be in [0, 1)")
    decays = linear.weight_decays
    ok = len(decays) > 0 and all(d >= 0 for d in decays)
    require(ok, "linear.weight_decays", decays, "a non-empty list of values >= 0")
    fraction = linear.held_out_fraction
    require(0 < fraction < 1, "linear.held_out_fraction", fraction, "must be in (0, 1)")
    require(linear.threads >= 0, "linear.threads", linear.threads, "must be >= 0")
    epochs = linear.augment_epochs
    require(epochs >= 1, "linear.augment_epochs", epochs, "must be >= 1")
    scale = linear.augment_crop_scale
    ok = len(scale) == 2 and 0 < scale[0] <= scale[1] <= 1
    require(ok, "linear.augment_crop_scale", scale, "[min, max] with 0 < min <= max <= 1")

    retrieval = config.retrieval
    kind = retrieval.index_type
    require(kind in INDEX_TYPES, "retrieval.index_type", kind, ", ".join(INDEX_TYPES))
    threshold = retrieval.ivf_threshold
    require(threshold >= 1, "retrieval.ivf_threshold", threshold, "must be >= 1")
    nlist = retrieval.nlist
    require(nlist is None or nlist >= 1, "retrieval.nlist", nlist, "must be null or >= 1")
    require(retrieval.nprobe >= 1, "retrieval.nprobe", retrieval.nprobe, "must be >= 1")
    require(retrieval.top_k >= 1, "retrieval.top_k", retrieval.top_k, "must be >= 1")

    rows = config.embed.csv_max_rows
    require(rows >= 0, "embed.csv_max_rows", rows, "must be >= 0")
    plot = config.plot
    require(plot.method in PLOT_METHODS, "plot.method", plot.method, ", ".join(PLOT_METHODS))
    require(plot.max_points >= 3, "plot.max_points", plot.max_points, "must be >= 3")
