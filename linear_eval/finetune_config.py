"""The ``finetune`` section of the evaluation config: few-label fine-tuning's keys, defaults and
checks (SimCLR appendix B.5), beside its dataclass like every section's."""

from __future__ import annotations

from dataclasses import dataclass, field

from simclr.config import require
from simclr.config.schema import PRECISIONS
from simclr.errors import check_choice

FINETUNE_METHODS = ("scratch", "linear")  # the baselines beside the fine-tuned pretrained f
SCHEDULES = ("cosine", "constant")


@dataclass
class FinetuneConfig:
    """Fine-tuning f and a new linear layer on a class-balanced labelled subset (SimCLR
    appendix B.5: SGD with Nesterov momentum 0.9, lr 0.05 x batch/256, no warmup, no weight
    decay, random crop and flip only; 60 epochs for 1 % of the labels, 30 for 10 %)."""

    label_fraction: float | None = None  # per class; null with labels_per_class null: 0.01
    labels_per_class: int | None = None  # exactly this many labelled images of every class
    label_subset: str | None = None  # a label_subset.json (or its folder) to train on instead
    epochs: int | None = None  # null: the paper's 60 up to 1 % of the labels, else 30
    batch_size: int = 256  # per process; the paper's 4096 is for ImageNet on TPUs
    devices: int = 1  # processes that train together (ddp_spawn: one per GPU, or CPU processes)
    base_lr: float = 0.05  # lr = base_lr * global batch / 256 (appendix B.5)
    momentum: float = 0.9  # Nesterov
    weight_decay: float = 0.0  # the paper uses no regularisation for 1 % and 10 %
    schedule: str = "cosine"  # cosine decay to zero per step, or constant
    crop_scale: list[float] | None = None  # null: the pretraining run's crop scale, else paper's
    precision: str = "32-true"  # Lightning's precision of the fine-tuning Trainer
    baselines: list[str] = field(default_factory=lambda: list(FINETUNE_METHODS))
    sweep_fractions: list[float] = field(default_factory=lambda: [0.01, 0.1, 1.0])
    sweep_epochs: list[int] | None = None  # one per sweep fraction; null: finetune.epochs
    name: str | None = None  # run dir RUN/finetune/NAME; null: from the labels and seed
    progress_bar: bool = True

    def check(self) -> None:
        fraction, per_class = self.label_fraction, self.labels_per_class
        both = fraction is not None and per_class is not None
        require(not both, "finetune.labels_per_class", per_class, "not with label_fraction")
        drawn = fraction is not None or per_class is not None
        allowed = "not with label_fraction or labels_per_class (the file says which labels)"
        require(
            self.label_subset is None or not drawn,
            "finetune.label_subset",
            self.label_subset,
            allowed,
        )
        if fraction is not None:
            require(0 < fraction <= 1, "finetune.label_fraction", fraction, "must be in (0, 1]")
        if per_class is not None:
            require(per_class >= 1, "finetune.labels_per_class", per_class, "must be >= 1")
        require(self.epochs is None or self.epochs >= 1, "finetune.epochs", self.epochs, ">= 1")
        require(self.batch_size >= 1, "finetune.batch_size", self.batch_size, "must be >= 1")
        require(self.devices >= 1, "finetune.devices", self.devices, "must be >= 1")
        require(self.base_lr > 0, "finetune.base_lr", self.base_lr, "must be > 0")
        momentum = self.momentum
        require(0 <= momentum < 1, "finetune.momentum", momentum, "must be in [0, 1)")
        decay = self.weight_decay
        require(decay >= 0, "finetune.weight_decay", decay, "must be >= 0")
        require(self.schedule in SCHEDULES, "finetune.schedule", self.schedule, "cosine, constant")
        check_choice("finetune.precision", self.precision, PRECISIONS)
        scale = self.crop_scale
        ok = scale is None or (len(scale) == 2 and 0 < scale[0] <= scale[1] <= 1)
        require(ok, "finetune.crop_scale", scale, "null or [min, max], 0 < min <= max <= 1")
        methods = self.baselines
        ok = all(method in FINETUNE_METHODS for method in methods)
        require(ok, "finetune.baselines", methods, f"a list of {', '.join(FINETUNE_METHODS)}")
        fractions = self.sweep_fractions
        ok = len(fractions) > 0 and all(0 < f <= 1 for f in fractions)
        require(ok, "finetune.sweep_fractions", fractions, "a list of fractions in (0, 1]")
        epochs = self.sweep_epochs
        ok = epochs is None or (len(epochs) == len(fractions) and all(e >= 1 for e in epochs))
        allowed = f"null or {len(fractions)} epoch counts >= 1, one per sweep fraction"
        require(ok, "finetune.sweep_epochs", epochs, allowed)

    @property
    def fraction(self) -> float | None:
        """The label fraction asked for (0.01 when neither it, labels_per_class nor
        label_subset is set)."""
        if self.label_subset is not None:
            return None
        if self.label_fraction is None and self.labels_per_class is None:
            return 0.01
        return self.label_fraction
