"""Configuration schema of the evaluation stage: every key, its default and its validation.

The schema reuses :func:`simclr.config.merge_config`: the data and normalisation sections are
inherited from the pretraining run (so features are preprocessed as the encoder saw its images),
then an optional YAML file and ``key=value`` overrides are merged on top. Each section checks its
values in ``check()``, beside its fields; unknown keys, wrong types and invalid values fail with
a one-line :class:`simclr.config.ConfigError` naming the key.

Defaults follow the protocols of the literature:
- kNN: cosine similarity, k = 200 and votes weighted by exp(sim / T) with T = 0.1 (Wu et al.
  2018, "Unsupervised Feature Learning via Non-Parametric Instance Discrimination", section 3.4;
  the protocol of lightly and solo-learn), with several k reported from one search.
- Linear probe: one linear layer on frozen, standardised h, trained with cross-entropy (SimCLR
  section 4 and appendix B.6), the weight decay chosen on a held-out part of the training split.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from linear_eval.finetune_config import FinetuneConfig
from simclr.config import (
    ConfigError,
    DataConfig,
    NormalizeConfig,
    SimCLRConfig,
    build_config,
    check_finite,
    check_workers,
    require,
)
from simclr.data.config import normalization
from simclr.data.held_out import MEASURED_SPLITS
from simclr.errors import check_choice, check_seed

INDEX_TYPES = ("auto", "flat", "ivf", "ivf_sq8", "hnsw")
PLOT_METHODS = ("auto", "umap", "tsne", "pca")
DEVICES = ("auto", "cpu", "cuda")
FEATURE_DTYPES = ("float16", "float32")


@dataclass
class FeaturesConfig:
    batch_size: int = 256  # images per forward pass of the frozen encoder
    num_workers: int | None = None  # null: 0 for in-memory datasets, else 1 per core (<= 8)
    cache_dir: str | None = None  # null: <run dir>/features
    device: str = "auto"  # auto: cuda when available, else cpu
    devices: int = 1  # processes that share the extraction (one per GPU, or CPU processes)
    checkpoint_rows: int = 65_536  # a killed extraction resumes from its last such checkpoint
    # h on disk; read back as float32. float16 halves the cache; float32 for values > 65504
    dtype: str = "float16"
    progress_bar: bool = True  # extraction bars, and a line per probe fit with its ETA

    def check(self) -> None:
        require(self.batch_size >= 1, "features.batch_size", self.batch_size, "must be >= 1")
        check_choice("features.dtype", self.dtype, FEATURE_DTYPES)
        check_workers("features.num_workers", self.num_workers)
        require(self.device in DEVICES, "features.device", self.device, ", ".join(DEVICES))
        require(self.devices >= 1, "features.devices", self.devices, "must be >= 1")
        rows = self.checkpoint_rows
        require(rows >= 1, "features.checkpoint_rows", rows, "must be >= 1")
        gpus = torch.cuda.device_count()
        wants_gpu = self.device == "cuda" or (self.device == "auto" and gpus > 0)
        require(self.device != "cuda" or gpus > 0, "features.device", "cuda", "no GPU is visible")
        if wants_gpu:
            allowed = f"asks for more GPUs than the {gpus} visible"
            require(self.devices <= gpus, "features.devices", self.devices, allowed)


@dataclass
class KNNConfig:
    k: list[int] = field(default_factory=lambda: [10, 20, 100, 200])  # all from one search
    temperature: float = 0.1  # T in the vote weight exp(sim / T)
    query_chunk: int = 1024  # test features searched per faiss call

    def check(self) -> None:
        ok = len(self.k) > 0 and all(k >= 1 for k in self.k)
        require(ok, "knn.k", self.k, "a list of k >= 1")
        require(self.temperature > 0, "knn.temperature", self.temperature, "must be > 0")
        require(self.query_chunk >= 1, "knn.query_chunk", self.query_chunk, "must be >= 1")


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

    def check(self) -> None:
        require(self.epochs >= 1, "linear.epochs", self.epochs, "must be >= 1")
        require(self.batch_size >= 1, "linear.batch_size", self.batch_size, "must be >= 1")
        require(self.lr > 0, "linear.lr", self.lr, "must be > 0")
        require(0 <= self.momentum < 1, "linear.momentum", self.momentum, "must be in [0, 1)")
        decays = self.weight_decays
        ok = len(decays) > 0 and all(d >= 0 for d in decays)
        require(ok, "linear.weight_decays", decays, "a non-empty list of values >= 0")
        fraction = self.held_out_fraction
        require(0 < fraction < 1, "linear.held_out_fraction", fraction, "must be in (0, 1)")
        require(self.threads >= 0, "linear.threads", self.threads, "must be >= 0")
        epochs = self.augment_epochs
        require(epochs >= 1, "linear.augment_epochs", epochs, "must be >= 1")
        scale = self.augment_crop_scale
        ok = len(scale) == 2 and 0 < scale[0] <= scale[1] <= 1
        require(ok, "linear.augment_crop_scale", scale, "[min, max] with 0 < min <= max <= 1")


@dataclass
class FewLabelsConfig:
    """Few labels (SimCLR section 6): kNN and the linear probe again on class-balanced, seeded
    parts of the training labels, beside the baselines on the very same rows."""

    fractions: list[float] = field(default_factory=lambda: [0.01, 0.1])  # of each class
    per_class: list[int] = field(default_factory=list)  # labels per class, e.g. [1, 10]

    def check(self) -> None:
        fractions = self.fractions
        ok = all(0 < fraction <= 1 for fraction in fractions)
        require(ok, "few_labels.fractions", fractions, "a list of fractions in (0, 1]")
        ok = all(count >= 1 for count in self.per_class)
        require(ok, "few_labels.per_class", self.per_class, "a list of counts >= 1")


@dataclass
class BaselinesConfig:
    random_init: bool = True  # the same architecture with random weights (seed: eval seed)
    raw_pixels: bool = True  # flattened normalised pixels as the representation

    def check(self) -> None:
        """Two switches, any combination valid: OmegaConf's typing is the whole check."""


@dataclass
class RetrievalConfig:
    index_type: str = "auto"  # auto: by gallery size and memory (benchmarks/retrieval.py)
    exact_below: int = 100_000  # auto: the exact (flat) index below this many images
    memory_gib: float | None = None  # auto: hnsw when it fits, else ivf_sq8; null: RAM / 4
    nlist: int | None = None  # IVF cells; null: about 4 sqrt(gallery size)
    nprobe: int | None = None  # IVF cells searched; null: the fewest reaching target_recall
    ef_search: int | None = None  # HNSW candidate list; null: the least reaching target_recall
    hnsw_m: int = 32  # HNSW links per vector
    target_recall: float = 0.95  # recall@10 of exact the knob is calibrated for
    calibration_queries: int = 1000  # gallery rows held out to calibrate the knob
    calibration_margin: int = 2  # the calibrated knob times this: outside queries are harder
    top_k: int = 5

    def check(self) -> None:
        kind = self.index_type
        require(kind in INDEX_TYPES, "retrieval.index_type", kind, ", ".join(INDEX_TYPES))
        threshold = self.exact_below
        require(threshold >= 1, "retrieval.exact_below", threshold, "must be >= 1")
        memory = self.memory_gib
        require(memory is None or memory > 0, "retrieval.memory_gib", memory, "null or > 0")
        nlist = self.nlist
        require(nlist is None or nlist >= 1, "retrieval.nlist", nlist, "must be null or >= 1")
        nprobe, ef = self.nprobe, self.ef_search
        require(nprobe is None or nprobe >= 1, "retrieval.nprobe", nprobe, "must be null or >= 1")
        require(ef is None or ef >= 1, "retrieval.ef_search", ef, "must be null or >= 1")
        require(self.hnsw_m >= 2, "retrieval.hnsw_m", self.hnsw_m, "must be >= 2")
        target = self.target_recall
        require(0 < target <= 1, "retrieval.target_recall", target, "must be in (0, 1]")
        queries = self.calibration_queries
        require(queries >= 1, "retrieval.calibration_queries", queries, "must be >= 1")
        margin = self.calibration_margin
        require(margin >= 1, "retrieval.calibration_margin", margin, "must be >= 1")
        require(self.top_k >= 1, "retrieval.top_k", self.top_k, "must be >= 1")


@dataclass
class EmbedConfig:
    csv_max_rows: int = 20_000  # a CSV is written beside the .npy files up to this many rows

    def check(self) -> None:
        rows = self.csv_max_rows
        require(rows >= 0, "embed.csv_max_rows", rows, "must be >= 0")


@dataclass
class PlotConfig:
    method: str = "auto"  # auto: umap when umap-learn is installed, else t-SNE
    max_points: int = 5_000  # a seeded random sample of this many points is drawn
    point_size: float = 2.0

    def check(self) -> None:
        require(self.method in PLOT_METHODS, "plot.method", self.method, ", ".join(PLOT_METHODS))
        require(self.max_points >= 3, "plot.max_points", self.max_points, "must be >= 3")


@dataclass
class EvalConfig:
    data: DataConfig = field(default_factory=DataConfig)  # subset/val_subset: train/test split
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    knn: KNNConfig = field(default_factory=KNNConfig)
    linear: LinearConfig = field(default_factory=LinearConfig)
    few_labels: FewLabelsConfig = field(default_factory=FewLabelsConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    plot: PlotConfig = field(default_factory=PlotConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    # the labelled split the protocols measure: test, to report; val (held out of the training
    # split by data.val_fraction), to choose a setting without reading test
    measure_on: str = "test"
    seed: int = 0

    def check(self) -> None:
        """Reject invalid values with a one-line :class:`ConfigError` naming the key: every
        section's own check (the ones pretraining runs on the data and normalize sections it
        shares), then what depends on two sections."""
        check_finite(self)
        for name in section_names(self):
            check_section(name, getattr(self, name))
        check_seed("seed", self.seed)
        check_choice("measure_on", self.measure_on, MEASURED_SPLITS)
        gpus = torch.cuda.device_count()
        if self.features.device == "cuda" or (self.features.device == "auto" and gpus > 0):
            devices, allowed = self.finetune.devices, f"asks for more GPUs than the {gpus} visible"
            require(devices <= gpus, "finetune.devices", devices, allowed)


def section_names(config: EvalConfig) -> list[str]:
    """The keys of the config's sections (its dataclass fields), in the schema's order."""
    return [f.name for f in fields(config) if is_dataclass(getattr(config, f.name))]


def check_section(name: str, section: object) -> None:
    """The one check of a section, its errors naming ``name.key``: NormalizeConfig's is
    pretraining's, told that evaluation names the section ``normalize``."""
    if isinstance(section, NormalizeConfig):
        section.check(name)
    else:
        section.check()


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
    settings: dict | None = None,
) -> EvalConfig:
    """Schema defaults, then the run's data sections, then ``config_file``, then ``overrides``,
    then ``settings``: keys to values that a command's flags set, merged as the values they are
    (a folder named ``null`` stays that folder; ``key=value`` text would be parsed again)."""
    sources = [inherited_sections(pretrain)]
    layers = [*sources, *([] if config_file is None else [config_file])]
    layers += [list(overrides)] if overrides else []
    config: EvalConfig = build_config(EvalConfig, [*layers, *([settings] if settings else [])])
    config.check()
    if config_file is not None or overrides or settings:
        _refuse_what_evaluation_ignores(config, build_config(EvalConfig, sources))
    return config


# data keys of pretraining that evaluation does not read, and what it reads instead
IGNORED_DATA_KEYS = {
    "batch_size": "set features.batch_size",
    "num_workers": "set features.num_workers",
    "decode": "evaluation decodes every image with PIL in the loader's workers",
}


def _refuse_what_evaluation_ignores(config: EvalConfig, inherited: EvalConfig) -> None:
    """A setting that would be accepted and do nothing is refused in one line instead."""
    for key, instead in IGNORED_DATA_KEYS.items():
        value = getattr(config.data, key)
        unread = f"evaluation does not read it: {instead}"
        require(value == getattr(inherited.data, key), f"data.{key}", value, unread)


def adapt_to_encoder(
    config: EvalConfig, in_channels: int, pretrain: SimCLRConfig | None
) -> EvalConfig:
    """Preprocess images as the encoder expects, whatever dataset they come from.

    Unless set explicitly, images are converted to the encoder's channel count and, for a
    dataset other than the pretraining one (an image folder gallery, say), normalised with the
    statistics the encoder was trained with rather than the new dataset's. Images are resized to
    ``data.image_size`` (the pretraining run's unless overridden). A ``data.channels`` set to
    another count than the encoder takes is a one-line ConfigError that says how to fix it.
    """
    channels = config.data.channels
    if channels is not None and channels != in_channels:
        raise ConfigError(
            f"data.channels={channels} does not fit the encoder, which takes {in_channels}-channel "
            "images: drop the data.channels override (images are then converted to what it "
            f"takes) or use an encoder pretrained on {channels}-channel images"
        )
    if config.data.channels is None:
        config.data.channels = in_channels
    explicit = config.normalize.mean is not None or config.normalize.std is not None
    if pretrain is not None and config.data.name != pretrain.data.name and not explicit:
        pretrain_normalize = pretrain.augment.normalize
        mean, std = normalization(pretrain.data, pretrain_normalize.mean, pretrain_normalize.std)
        config.normalize.mean, config.normalize.std = mean, std
    return config
