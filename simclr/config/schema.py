"""The pretraining config schema: every key a run accepts, its default and its checks.

Every key is declared here once, with its default. ``configs/default.yaml`` holds exactly these
defaults (a test keeps the two in sync); recipe files and ``key=value`` overrides are merged on
top (:mod:`simclr.config.load`). Each section checks its own values in ``check()``, beside its
fields; a bad value fails with a one-line :class:`ConfigError` naming the key, before any work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from simclr.chunked import RUNNING_STATS
from simclr.config.augment import AugmentConfig
from simclr.config.encoder import EncoderConfig
from simclr.data.config import DataConfig
from simclr.errors import (
    check_choice,
    check_finite,
    check_seed,
    require,
)
from simclr.head import HEAD_TYPES

OPTIMIZERS = ("lars", "sgd", "adamw")
LR_SCALINGS = ("linear", "sqrt", "none")
EXTEND_CHOICES = ("continue", "restart", "constant", "replan")  # simclr.schedule
PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true")
LOGGERS = ("csv", "tensorboard", "wandb", "mlflow")  # Lightning's loggers (simclr.run.loggers)
# the widest representation h of a registered torchvision encoder is 7392 (regnet_y_128gf)
WIDEST_REPRESENTATION = 8192
MAX_HEAD_PARAMETERS = 2**30  # 4 GiB of float32 weights: far beyond any head the paper uses


@dataclass
class HeadConfig:
    type: str = "mlp"  # none (z = h), linear, mlp
    hidden_dim: int | None = None  # null: the representation dimension
    projection_dim: int = 128  # the size of z (head.output_dim before 2026-12-08)
    layers: int = 2  # linear layers in the mlp head
    batch_norm: bool = True

    def check(self) -> None:
        check_choice("head.type", self.type, HEAD_TYPES)
        require(
            self.projection_dim >= 1, "head.projection_dim", self.projection_dim, "must be >= 1"
        )
        hidden = self.hidden_dim
        require(hidden is None or hidden >= 1, "head.hidden_dim", hidden, "must be null or >= 1")
        require(self.layers >= 2, "head.layers", self.layers, "must be >= 2 for an mlp head")
        self._check_size()

    def _check_size(self) -> None:
        """Refuse a head too large to allocate (an projection_dim of 10**9 asks torch for 2 TB),
        estimated from its widths before anything is built; the key named is the largest term."""
        width = self.hidden_dim or WIDEST_REPRESENTATION
        if self.type == "none":
            return
        if self.type == "linear":
            terms = {"head.projection_dim": WIDEST_REPRESENTATION * self.projection_dim}
        else:
            terms = {
                "head.hidden_dim": WIDEST_REPRESENTATION * width,
                "head.layers": (self.layers - 2) * width * width,
                "head.projection_dim": width * self.projection_dim,
            }
        total = sum(terms.values())
        key = max(terms, key=lambda name: terms[name])
        value = getattr(self, key.split(".")[1])
        gib = total * 4 / 2**30
        allowed = (
            f"the head would hold up to {total:.3g} weights ({gib:,.0f} GiB in float32); "
            f"at most {MAX_HEAD_PARAMETERS:.3g} are allowed"
        )
        require(total <= MAX_HEAD_PARAMETERS, key, value, allowed)


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
    # null: one pass over a device's batch; K: its images embedded K at a time, with the exact
    # gradient of one pass (gradient caching: simclr.chunked): any batch in one chunk's memory
    chunk_size: int | None = None
    # which chunks update BatchNorm's running statistics: every_chunk (measured closer to the
    # population's, benchmarks/chunked_batchnorm.py) or last_chunk (once a step)
    chunk_running_stats: str = "every_chunk"
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
        chunk = self.chunk_size
        require(chunk is None or chunk >= 1, "trainer.chunk_size", chunk, "must be null or >= 1")
        check_choice("trainer.chunk_running_stats", self.chunk_running_stats, RUNNING_STATS)
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
        check_seed("run.seed", self.seed)
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

    # keys renamed since, and their names now: a config file, an override or a checkpoint that
    # uses the old name still loads (simclr.config.merge)
    RENAMED: ClassVar[dict[str, str]] = {"head.output_dim": "head.projection_dim"}

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
        chunk, batch = self.trainer.chunk_size, self.data.batch_size
        allowed = f"must be at most data.batch_size ({batch}), the batch of one device"
        require(chunk is None or chunk <= batch, "trainer.chunk_size", chunk, allowed)
        two_views = self.augment.views == 2 and self.augment.small_views.count == 0
        allowed = "must be null with more than two views (augment.views, augment.small_views)"
        require(chunk is None or two_views, "trainer.chunk_size", chunk, allowed)
