"""The pretraining config schema: every key a run accepts, its default and its checks.

Every key is declared here once, with its default. ``configs/default.yaml`` holds exactly these
defaults (a test keeps the two in sync); recipe files and ``key=value`` overrides are merged on
top (:mod:`simclr.config.load`). Each section checks its own values in ``check()``, beside its
fields; a bad value fails with a one-line :class:`ConfigError` naming the key, before any work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from simclr.backbones import ENCODERS, FAMILIES
from simclr.config.checks import (
    check_choice,
    check_finite,
    check_probability,
    check_range,
    check_subset,
    check_workers,
    require,
)
from simclr.data.registry import DATASETS

HEAD_TYPES = ("none", "linear", "mlp")
OPTIMIZERS = ("lars", "sgd", "adamw")
LR_SCALINGS = ("linear", "sqrt", "none")
EXTEND_CHOICES = ("continue", "restart", "constant", "replan")  # simclr.schedule
STEMS = ("standard", "small", "strided", "pooled")
PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true")
LOGGERS = ("csv", "tensorboard", "wandb", "mlflow")  # Lightning's loggers (simclr.run.loggers)
VIEW_PIPELINES = ("fused", "modules")  # simclr.augment
VIEW_CAPTURES = ("auto", "cuda_graph", "none")  # simclr.views.capture


@dataclass
class DataConfig:
    name: str = "fashion_mnist"  # a key of simclr.data.DATASETS
    root: str = "data"  # where datasets are read from or downloaded to
    path: str | None = None  # image directory, for name=folder
    image_size: int = 28  # workers resize to image_size x image_size
    channels: int | None = None  # 1 or 3; null keeps the dataset's own
    subset: float | None = None  # fraction in (0, 1] or a count > 1 of training images
    val_subset: float | None = None  # the same for the labelled split used for validation
    # name=folder without train/ and val/ subfolders: this fraction of each class held out
    # (seeded) as split val, the rest is split train; null: the folder is the one split all
    val_fraction: float | None = None
    batch_size: int = 256  # per device; the global batch N is this times the number of devices
    num_workers: int | None = None  # null: 0 for in-memory datasets, else 1 per core (<= 8)
    # where pretraining decodes a folder's JPEG files: workers (PIL, in the loader's workers),
    # device (torchvision, on the batch's device; workers read bytes), auto: device on CUDA
    decode: str = "auto"
    download: bool = True  # allow torchvision to download when the files are not found

    def check(self) -> None:
        """The checks that pretraining and evaluation share."""
        check_choice("data.name", self.name, sorted(DATASETS))
        check_choice("data.decode", self.decode, ("auto", "workers", "device"))
        if self.name == "folder":
            require(self.path is not None, "data.path", self.path, "name=folder needs an image dir")
        require(self.image_size >= 8, "data.image_size", self.image_size, "must be >= 8")
        require(
            self.channels in (None, 1, 3), "data.channels", self.channels, "allowed: 1, 3, null"
        )
        check_subset("data.subset", self.subset)
        check_subset("data.val_subset", self.val_subset)
        fraction = self.val_fraction
        if fraction is not None:
            require(0 < fraction < 1, "data.val_fraction", fraction, "must be in (0, 1) or null")
            allowed = "only for name=folder (the other datasets have a test split): set it to null"
            require(self.name == "folder", "data.val_fraction", fraction, allowed)

    def check_for_pretraining(self) -> None:
        self.check()
        require(
            self.batch_size >= 2, "data.batch_size", self.batch_size, "must be >= 2 (negatives)"
        )
        check_workers("data.num_workers", self.num_workers)


@dataclass
class CropConfig:
    enabled: bool = True
    scale: list[float] = field(default_factory=lambda: [0.5, 1.0])  # paper: [0.08, 1.0]
    ratio: list[float] = field(default_factory=lambda: [3 / 4, 4 / 3])

    def check(self) -> None:
        check_range("augment.crop.scale", self.scale, 0.0, 1.0, low_open=True)
        check_range("augment.crop.ratio", self.ratio, 0.0, math.inf, low_open=True)


@dataclass
class FlipConfig:
    enabled: bool = True
    p: float = 0.5

    def check(self) -> None:
        check_probability("augment.flip.p", self.p)


@dataclass
class ColorJitterConfig:
    enabled: bool = True
    p: float = 0.8
    strength: float = 1.0  # s in the paper: jitter (0.8s, 0.8s, 0.8s, 0.2s)

    def check(self) -> None:
        check_probability("augment.color.p", self.p)
        require(self.strength >= 0, "augment.color.strength", self.strength, "must be >= 0")
        allowed = "must be <= 2.5 (hue jitter 0.2s cannot exceed 0.5)"
        require(self.strength * 0.2 <= 0.5, "augment.color.strength", self.strength, allowed)


@dataclass
class GrayscaleConfig:
    enabled: bool = True
    p: float = 0.2

    def check(self) -> None:
        check_probability("augment.grayscale.p", self.p)


@dataclass
class BlurConfig:
    enabled: bool = True
    p: float = 0.5
    kernel_fraction: float = 0.1  # kernel side as a fraction of the image side (made odd, >= 3)
    sigma: list[float] = field(default_factory=lambda: [0.1, 2.0])

    def check(self) -> None:
        check_probability("augment.blur.p", self.p)
        fraction = self.kernel_fraction
        require(0 < fraction <= 1, "augment.blur.kernel_fraction", fraction, "must be in (0, 1]")
        check_range("augment.blur.sigma", self.sigma, 0.0, math.inf, low_open=True)


@dataclass
class SolarizeConfig:
    enabled: bool = False
    p: float = 0.2
    threshold: float = 0.5  # pixels above this (in [0, 1]) are inverted

    def check(self) -> None:
        check_probability("augment.solarize.p", self.p)
        check_probability("augment.solarize.threshold", self.threshold)


@dataclass
class NormalizeConfig:
    enabled: bool = True
    mean: list[float] | None = None  # null: the dataset's registered statistics
    std: list[float] | None = None

    def check(self, section: str = "augment.normalize") -> None:
        for key in ("mean", "std"):
            value = getattr(self, key)
            allowed = "must be null or a list of 1 or 3 numbers"
            require(value is None or len(value) in (1, 3), f"{section}.{key}", value, allowed)
        if self.std is not None:
            positive = all(s > 0 for s in self.std)
            require(positive, f"{section}.std", self.std, "must be > 0")


@dataclass
class AugmentConfig:
    crop: CropConfig = field(default_factory=CropConfig)
    flip: FlipConfig = field(default_factory=FlipConfig)
    color: ColorJitterConfig = field(default_factory=ColorJitterConfig)
    grayscale: GrayscaleConfig = field(default_factory=GrayscaleConfig)
    blur: BlurConfig = field(default_factory=BlurConfig)
    solarize: SolarizeConfig = field(default_factory=SolarizeConfig)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    # fused: every parameter drawn at once, each op applied once to both views (few launches);
    # modules: Kornia's augmentation modules one after the other (the same distribution)
    pipeline: str = "fused"
    # auto: the fused views replayed as CUDA graphs on a GPU, eager elsewhere; none: eager
    capture: str = "auto"

    def check(self) -> None:
        for section in (self.crop, self.flip, self.color, self.grayscale, self.blur):
            section.check()
        self.solarize.check()
        self.normalize.check()
        check_choice("augment.pipeline", self.pipeline, VIEW_PIPELINES)
        check_choice("augment.capture", self.capture, VIEW_CAPTURES)


@dataclass
class EncoderConfig:
    name: str = "resnet18"  # a key of simclr.encoder.ENCODERS
    # standard (7x7/2 conv + max-pool), small (3x3/1, no pool), strided (3x3/2, no pool),
    # pooled (3x3/1 + max-pool), or auto: pooled below 64 px where the backbone has a stem
    # max-pool (the most accuracy per CPU-minute on 28 px, README Performance), else standard
    stem: str = "auto"
    residual: bool = True  # false removes every shortcut: the ResNet paper's plain network

    def check(self) -> None:
        check_choice("encoder.name", self.name, sorted(ENCODERS))
        check_choice("encoder.stem", self.stem, ("auto", *STEMS))
        if self.stem == "pooled":
            family = FAMILIES[ENCODERS[self.name].family]
            has_pool = family.stem_pool is not None
            require(has_pool, "encoder.stem", "pooled", f"{self.name} has no stem max-pool to keep")
        if not self.residual:
            is_resnet = ENCODERS[self.name].family == "resnet"
            require(is_resnet, "encoder.residual", False, "residual=false needs a ResNet encoder")


@dataclass
class HeadConfig:
    type: str = "mlp"  # none (z = h), linear, mlp
    hidden_dim: int | None = None  # null: the representation dimension
    output_dim: int = 128
    layers: int = 2  # linear layers in the mlp head
    batch_norm: bool = True

    def check(self) -> None:
        check_choice("head.type", self.type, HEAD_TYPES)
        require(self.output_dim >= 1, "head.output_dim", self.output_dim, "must be >= 1")
        hidden = self.hidden_dim
        require(hidden is None or hidden >= 1, "head.hidden_dim", hidden, "must be null or >= 1")
        require(self.layers >= 2, "head.layers", self.layers, "must be >= 2 for an mlp head")


@dataclass
class LossConfig:
    temperature: float = 0.1

    def check(self) -> None:
        require(self.temperature > 0, "loss.temperature", self.temperature, "must be > 0")


@dataclass
class OptimizerConfig:
    name: str = "lars"
    base_lr: float = 1.0  # learning rate at a global batch of 256 (see lr_scaling)
    lr_scaling: str = "linear"  # linear: base_lr*N/256; sqrt: base_lr*sqrt(N/256); none: base_lr
    momentum: float = 0.9
    weight_decay: float = 1e-6
    trust_coefficient: float = 0.001  # LARS eta
    warmup_epochs: float = 0.5
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # adamw only
    extend: str = "continue"  # a resumed run given a larger budget: see simclr.schedule

    def check(self) -> None:
        check_choice("optimizer.name", self.name, OPTIMIZERS)
        check_choice("optimizer.extend", self.extend, EXTEND_CHOICES)
        check_choice("optimizer.lr_scaling", self.lr_scaling, LR_SCALINGS)
        require(self.base_lr > 0, "optimizer.base_lr", self.base_lr, "must be > 0")
        decay = self.weight_decay
        require(decay >= 0, "optimizer.weight_decay", decay, "must be >= 0")
        require(0 <= self.momentum < 1, "optimizer.momentum", self.momentum, "must be in [0, 1)")
        warmup = self.warmup_epochs
        require(warmup >= 0, "optimizer.warmup_epochs", warmup, "must be >= 0")
        ok = len(self.betas) == 2 and all(0 <= beta < 1 for beta in self.betas)
        require(ok, "optimizer.betas", self.betas, "must be [beta1, beta2], each in [0, 1)")
        eta = self.trust_coefficient
        require(eta > 0, "optimizer.trust_coefficient", eta, "must be > 0")


@dataclass
class ProbeConfig:
    enabled: bool = True  # online linear probe on detached h, when the dataset has labels
    lr: float = 0.1
    weight_decay: float = 0.0

    def check(self) -> None:
        require(self.lr > 0, "probe.lr", self.lr, "must be > 0")


@dataclass
class TrainerConfig:
    max_epochs: int = 1  # the default run: one epoch, about 6 minutes on a 2-core CPU with bf16
    max_steps: int = -1  # > 0 stops after this many optimizer steps
    accelerator: str = "auto"
    devices: Any = "auto"  # an int, a list of device ids, or "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"  # bf16-mixed where the hardware runs bf16 natively, else 32-true
    channels_last: bool = True  # NHWC activations: 1.3x faster on CPU, faster on GPUs
    compile: bool = False  # torch.compile the encoder
    # global BatchNorm across devices as in the paper; auto: on for several GPU processes, off on
    # CPU, where torch's SyncBatchNorm cannot run
    sync_batchnorm: Any = "auto"
    log_every_n_steps: int = 10
    checkpoint_every_n_epochs: int = 0  # epochNNN.ckpt kept every N epochs; 0: none (last, best)
    last_checkpoint_every_n_steps: int = 50  # checkpoints/last.ckpt, and at the final step
    val_every_n_epochs: int = 1
    limit_val_batches: float = 1.0
    progress_bar: bool = True
    # any of csv, tensorboard, wandb, mlflow (their settings under logging:); [] logs nothing
    loggers: list[str] = field(default_factory=lambda: ["csv", "tensorboard"])

    def check(self) -> None:
        require(self.max_epochs >= 1, "trainer.max_epochs", self.max_epochs, "must be >= 1")
        steps = self.max_steps
        allowed = "must be -1 (no limit) or >= 1"
        require(steps == -1 or steps >= 1, "trainer.max_steps", steps, allowed)
        check_choice("trainer.precision", self.precision, ("auto", *PRECISIONS))
        every = self.checkpoint_every_n_epochs
        require(every >= 0, "trainer.checkpoint_every_n_epochs", every, "must be >= 0 (0: none)")
        for key in (
            "val_every_n_epochs",
            "log_every_n_steps",
            "last_checkpoint_every_n_steps",
        ):
            every = getattr(self, key)
            require(every >= 1, f"trainer.{key}", every, "must be >= 1")
        limit = self.limit_val_batches
        fraction_or_count = 0 <= limit <= 1 or (limit > 1 and float(limit).is_integer())
        allowed = "a fraction in [0, 1] or a whole count of batches"
        require(fraction_or_count, "trainer.limit_val_batches", limit, allowed)
        for name in self.loggers:
            check_choice("trainer.loggers", name, LOGGERS)
        once = len(set(self.loggers)) == len(self.loggers)
        require(once, "trainer.loggers", self.loggers, "name each logger at most once")


@dataclass
class RunConfig:
    out_dir: str = "runs"
    name: str | None = None  # null: a timestamp
    seed: int = 0

    def check(self) -> None:
        require(self.out_dir != "", "run.out_dir", self.out_dir, "must not be empty")
        if self.name is not None:
            name = self.name
            plain = name not in ("", ".", "..") and "/" not in name
            require(plain, "run.name", name, "a plain name")


def _check_name(key: str, value: str | None) -> None:
    require(value is None or value.strip() != "", key, value, "must be null or a non-empty name")


@dataclass
class WandbConfig:
    """Weights & Biases (``trainer.loggers`` with ``wandb``): the arguments of ``wandb.init``."""

    project: str = "simclr"
    entity: str | None = None  # a team or user; null: the account's default entity
    name: str | None = None  # the run's display name; null: the run directory's name
    group: str | None = None  # shown together in the W&B UI, e.g. the runs of one ablation
    tags: list[str] = field(default_factory=list)
    offline: bool = False  # write to RUN/wandb only (upload later with `wandb sync`)

    def check(self) -> None:
        project = self.project
        require(project.strip() != "", "logging.wandb.project", project, "must not be empty")
        for key in ("entity", "name", "group"):
            _check_name(f"logging.wandb.{key}", getattr(self, key))


@dataclass
class MLflowConfig:
    """MLflow (``trainer.loggers`` with ``mlflow``): where the runs are tracked and their names."""

    experiment_name: str = "simclr"
    # null: sqlite:///<run.out_dir>/mlflow.db, one store beside the run directories (no server)
    tracking_uri: str | None = None
    run_name: str | None = None  # null: the run directory's name

    def check(self) -> None:
        name = self.experiment_name
        require(name.strip() != "", "logging.mlflow.experiment_name", name, "must not be empty")
        _check_name("logging.mlflow.tracking_uri", self.tracking_uri)
        _check_name("logging.mlflow.run_name", self.run_name)


@dataclass
class LoggingConfig:
    """Settings of the loggers that ``trainer.loggers`` can name (csv and tensorboard need none)."""

    wandb: WandbConfig = field(default_factory=WandbConfig)
    mlflow: MLflowConfig = field(default_factory=MLflowConfig)

    def check(self) -> None:
        self.wandb.check()
        self.mlflow.check()


@dataclass
class SimCLRConfig:
    """Every setting of a pretraining run (algorithm 1's N, T, f, g, tau and the optimizer of
    section 2 and appendix B), one section each; :func:`simclr.config.load_config` builds it."""

    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def check(self) -> None:
        """Reject invalid values with a one-line :class:`ConfigError` naming the key."""
        check_finite(self)
        self.data.check_for_pretraining()
        for section in (self.augment, self.encoder, self.head, self.loss, self.optimizer):
            section.check()
        for section in (self.probe, self.trainer, self.logging, self.run):
            section.check()
