"""Configuration schema for SimCLR pretraining: defaults, loading, overrides and validation.

Every key a run accepts is declared here once, with its default. ``configs/default.yaml`` holds
exactly these defaults (a test keeps the two in sync); recipe files and ``key=value`` overrides
are merged on top. Unknown keys, wrong types and invalid values fail in :func:`load_config` with a
one-line :class:`ConfigError` that names the key and what is allowed, before any work starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

HEAD_TYPES = ("none", "linear", "mlp")
OPTIMIZERS = ("lars", "sgd", "adamw")
LR_SCALINGS = ("linear", "sqrt", "none")
STEMS = ("standard", "small")
PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true")


class ConfigError(ValueError):
    """A configuration value is unknown or invalid; the message is one line naming the key."""


@dataclass
class DataConfig:
    name: str = "fashion_mnist"  # a key of simclr.data.DATASETS
    root: str = "data"  # where datasets are read from or downloaded to
    path: str | None = None  # image directory, for name=folder
    image_size: int = 28  # workers resize to image_size x image_size
    channels: int | None = None  # 1 or 3; null keeps the dataset's own
    subset: float | None = None  # fraction in (0, 1] or a count > 1 of training images
    val_subset: float | None = None  # the same for the labelled split used for validation
    batch_size: int = 256  # per device; the global batch N is this times the number of devices
    num_workers: int | None = None  # null: 0 for in-memory datasets, else 1 per core (<= 8)
    download: bool = True  # allow torchvision to download when the files are not found


@dataclass
class CropConfig:
    enabled: bool = True
    scale: list[float] = field(default_factory=lambda: [0.5, 1.0])  # paper: [0.08, 1.0]
    ratio: list[float] = field(default_factory=lambda: [3 / 4, 4 / 3])


@dataclass
class FlipConfig:
    enabled: bool = True
    p: float = 0.5


@dataclass
class ColorJitterConfig:
    enabled: bool = True
    p: float = 0.8
    strength: float = 1.0  # s in the paper: jitter (0.8s, 0.8s, 0.8s, 0.2s)


@dataclass
class GrayscaleConfig:
    enabled: bool = True
    p: float = 0.2


@dataclass
class BlurConfig:
    enabled: bool = True
    p: float = 0.5
    kernel_fraction: float = 0.1  # kernel side as a fraction of the image side (made odd, >= 3)
    sigma: list[float] = field(default_factory=lambda: [0.1, 2.0])


@dataclass
class SolarizeConfig:
    enabled: bool = False
    p: float = 0.2
    threshold: float = 0.5  # pixels above this (in [0, 1]) are inverted


@dataclass
class NormalizeConfig:
    enabled: bool = True
    mean: list[float] | None = None  # null: the dataset's registered statistics
    std: list[float] | None = None


@dataclass
class AugmentConfig:
    crop: CropConfig = field(default_factory=CropConfig)
    flip: FlipConfig = field(default_factory=FlipConfig)
    color: ColorJitterConfig = field(default_factory=ColorJitterConfig)
    grayscale: GrayscaleConfig = field(default_factory=GrayscaleConfig)
    blur: BlurConfig = field(default_factory=BlurConfig)
    solarize: SolarizeConfig = field(default_factory=SolarizeConfig)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)


@dataclass
class EncoderConfig:
    name: str = "resnet18"  # a key of simclr.encoder.ENCODERS
    stem: str = "standard"  # standard (7x7/2 conv + max-pool) or small (3x3/1 conv, no pool)
    residual: bool = True  # false removes every shortcut: the ResNet paper's plain network


@dataclass
class HeadConfig:
    type: str = "mlp"  # none (z = h), linear, mlp
    hidden_dim: int | None = None  # null: the representation dimension
    output_dim: int = 128
    layers: int = 2  # linear layers in the mlp head
    batch_norm: bool = True


@dataclass
class LossConfig:
    temperature: float = 0.1


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


@dataclass
class ProbeConfig:
    enabled: bool = True  # online linear probe on detached h, when the dataset has labels
    lr: float = 0.1
    weight_decay: float = 0.0


@dataclass
class TrainerConfig:
    max_epochs: int = 3
    max_steps: int = -1  # > 0 stops after this many optimizer steps
    accelerator: str = "auto"
    devices: Any = "auto"  # an int, a list of device ids, or "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    channels_last: bool = True  # NHWC activations: 1.3x faster on CPU, faster on GPUs
    compile: bool = False  # torch.compile the encoder
    # global BatchNorm across devices as in the paper; auto: on for several GPU processes, off on
    # CPU, where torch's SyncBatchNorm cannot run
    sync_batchnorm: Any = "auto"
    log_every_n_steps: int = 10
    checkpoint_every_n_epochs: int = 1
    last_checkpoint_every_n_steps: int = 50  # checkpoints/last.ckpt, and at the final step
    val_every_n_epochs: int = 1
    limit_val_batches: float = 1.0
    progress_bar: bool = True


@dataclass
class RunConfig:
    out_dir: str = "runs"
    name: str | None = None  # null: a timestamp
    seed: int = 0


@dataclass
class SimCLRConfig:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    run: RunConfig = field(default_factory=RunConfig)


def merge_config(schema: Any, sources: list[Any]) -> DictConfig:
    """Merge YAML files, dicts and ``key=value`` lists onto a structured schema.

    A source that is a ``str`` or ``Path`` names a YAML file, a ``list`` holds dotlist overrides,
    a ``dict``/``DictConfig`` is merged as it is. Raises :class:`ConfigError` on the first
    unknown key or wrong type, with the key's full name.
    """
    config = OmegaConf.structured(schema)
    for source in sources:
        try:
            if isinstance(source, (str, Path)):
                path = Path(source)
                if not path.is_file():
                    raise ConfigError(f"config file {str(path)!r} does not exist")
                layer = _load_yaml(path)
            elif isinstance(source, list):
                _check_dotlist(source)
                layer = OmegaConf.from_dotlist(source)
            else:
                layer = OmegaConf.create(source)
            section = _value_for_section(config, OmegaConf.to_container(layer))
            if section is not None:
                raise ConfigError(f"{section}: is a section of keys, not a single value")
            config = OmegaConf.merge(config, layer)
        except OmegaConfBaseException as error:
            raise _one_line(error) from None
    return config


def _load_yaml(path: Path) -> DictConfig:
    """A YAML file of keys; a syntax error or a file that is not a mapping is a ConfigError."""
    try:
        layer = OmegaConf.load(path)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"config file {str(path)!r} is not valid YAML{line}") from None
    if not isinstance(layer, DictConfig):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys to values")
    return layer


def _value_for_section(schema: DictConfig, layer: Any, prefix: str = "") -> str | None:
    """The first key that ``layer`` sets to a plain value where ``schema`` has a section.

    OmegaConf's own error for this case names no key.
    """
    for key, value in layer.items() if isinstance(layer, dict) else ():
        node = schema.get(key) if isinstance(schema, DictConfig) and key in schema else None
        if isinstance(node, DictConfig):
            if not isinstance(value, dict):
                return f"{prefix}{key}"
            found = _value_for_section(node, value, f"{prefix}{key}.")
            if found is not None:
                return found
    return None


def _check_dotlist(overrides: list[str]) -> None:
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise ConfigError(f"override {item!r} is not of the form key=value")


def _one_line(error: OmegaConfBaseException) -> ConfigError:
    key = getattr(error, "full_key", None) or "config"
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "not in" in message or "Key '" in message and "not" in message:
        return ConfigError(f"unknown config key '{key}'")
    return ConfigError(f"{key}: {message}")


def load_config(
    config_file: str | Path | None = None, overrides: list[str] | None = None
) -> SimCLRConfig:
    """The pretraining config: schema defaults, then ``config_file``, then ``overrides``."""
    config: SimCLRConfig = build_config(SimCLRConfig, [], config_file, overrides)
    validate(config)
    return config


def build_config(
    schema: Any,
    sources: list[Any],
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
) -> Any:
    """An instance of the dataclass ``schema``: its defaults, ``sources``, the file, overrides."""
    sources = list(sources)
    if config_file is not None:
        sources.append(config_file)
    if overrides:
        sources.append(list(overrides))
    return OmegaConf.to_object(merge_config(schema, sources))


def to_yaml(config: Any) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(config))


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved config as YAML; it loads back with ``load_config(path)``."""
    Path(path).write_text(to_yaml(config))


def require(condition: bool, key: str, value: Any, allowed: str) -> None:
    """Raise a one-line ConfigError ``key=value is invalid: allowed`` unless ``condition``."""
    if not condition:
        raise ConfigError(f"{key}={value!r} is invalid: {allowed}")


def _check_probability(key: str, value: float) -> None:
    require(0.0 <= value <= 1.0, key, value, "must be a probability in [0, 1]")


def _check_choice(key: str, value: Any, choices: Any) -> None:
    require(value in choices, key, value, f"allowed: {', '.join(map(str, choices))}")


def _check_range(key: str, value: list[float], low: float, high: float, low_open: bool) -> None:
    ok = len(value) == 2 and value[0] <= value[1]
    ok = ok and (value[0] > low if low_open else value[0] >= low) and value[1] <= high
    bracket = "(" if low_open else "["
    require(ok, key, value, f"must be [min, max] with min <= max inside {bracket}{low}, {high}]")


def check_subset(key: str, value: float | None) -> None:
    if value is None:
        return
    fraction = 0 < value <= 1
    count = value > 1 and float(value).is_integer()
    require(fraction or count, key, value, "must be a fraction in (0, 1] or a whole count > 1")


def check_workers(key: str, value: int | None) -> None:
    """DataLoader workers: null (auto) or a count >= 0."""
    require(value is None or value >= 0, key, value, "must be null or >= 0")


def validate_data(data: DataConfig) -> None:
    """The checks of the ``data`` section that pretraining and evaluation share."""
    from simclr.data import DATASETS

    _check_choice("data.name", data.name, sorted(DATASETS))
    if data.name == "folder":
        require(data.path is not None, "data.path", data.path, "name=folder needs an image dir")
    require(data.image_size >= 8, "data.image_size", data.image_size, "must be >= 8")
    require(data.channels in (None, 1, 3), "data.channels", data.channels, "allowed: 1, 3, null")
    check_subset("data.subset", data.subset)
    check_subset("data.val_subset", data.val_subset)


def check_finite(section: Any, prefix: str = "") -> None:
    """Every number of a config section, lists and subsections included, is finite: an inf or
    nan learning rate, temperature or probability passes every comparison meant to catch it."""
    for item in fields(section):
        key, value = f"{prefix}{item.name}", getattr(section, item.name)
        if is_dataclass(value):
            check_finite(value, f"{key}.")
            continue
        for number in value if isinstance(value, list) else [value]:
            finite = not isinstance(number, float) or math.isfinite(number)
            require(finite, key, value, "must be a finite number")


def validate(config: SimCLRConfig) -> None:
    """Reject invalid values with a one-line :class:`ConfigError` naming the key."""
    from simclr.encoder import ENCODERS

    check_finite(config)

    data, aug = config.data, config.augment
    validate_data(data)
    require(data.batch_size >= 2, "data.batch_size", data.batch_size, "must be >= 2 (negatives)")
    check_workers("data.num_workers", data.num_workers)

    _check_range("augment.crop.scale", aug.crop.scale, 0.0, 1.0, low_open=True)
    _check_range("augment.crop.ratio", aug.crop.ratio, 0.0, math.inf, low_open=True)
    _check_probability("augment.flip.p", aug.flip.p)
    _check_probability("augment.color.p", aug.color.p)
    require(aug.color.strength >= 0, "augment.color.strength", aug.color.strength, "must be >= 0")
    require(
        aug.color.strength * 0.2 <= 0.5,
        "augment.color.strength",
        aug.color.strength,
        "must be <= 2.5 (hue jitter 0.2s cannot exceed 0.5)",
    )
    _check_probability("augment.grayscale.p", aug.grayscale.p)
    _check_probability("augment.blur.p", aug.blur.p)
    fraction = aug.blur.kernel_fraction
    require(0 < fraction <= 1, "augment.blur.kernel_fraction", fraction, "must be in (0, 1]")
    _check_range("augment.blur.sigma", aug.blur.sigma, 0.0, math.inf, low_open=True)
    _check_probability("augment.solarize.p", aug.solarize.p)
    _check_probability("augment.solarize.threshold", aug.solarize.threshold)
    for key in ("mean", "std"):
        value = getattr(aug.normalize, key)
        allowed = "must be null or a list of 1 or 3 numbers"
        require(value is None or len(value) in (1, 3), f"augment.normalize.{key}", value, allowed)
    if aug.normalize.std is not None:
        positive = all(s > 0 for s in aug.normalize.std)
        require(positive, "augment.normalize.std", aug.normalize.std, "must be > 0")

    _check_choice("encoder.name", config.encoder.name, sorted(ENCODERS))
    _check_choice("encoder.stem", config.encoder.stem, STEMS)
    if not config.encoder.residual:
        is_resnet = ENCODERS[config.encoder.name].family == "resnet"
        require(is_resnet, "encoder.residual", False, "residual=false needs a ResNet encoder")

    head = config.head
    _check_choice("head.type", head.type, HEAD_TYPES)
    require(head.output_dim >= 1, "head.output_dim", head.output_dim, "must be >= 1")
    hidden = head.hidden_dim
    require(hidden is None or hidden >= 1, "head.hidden_dim", hidden, "must be null or >= 1")
    require(head.layers >= 2, "head.layers", head.layers, "must be >= 2 for an mlp head")

    temperature = config.loss.temperature
    require(temperature > 0, "loss.temperature", temperature, "must be > 0")

    opt = config.optimizer
    _check_choice("optimizer.name", opt.name, OPTIMIZERS)
    _check_choice("optimizer.lr_scaling", opt.lr_scaling, LR_SCALINGS)
    require(opt.base_lr > 0, "optimizer.base_lr", opt.base_lr, "must be > 0")
    require(opt.weight_decay >= 0, "optimizer.weight_decay", opt.weight_decay, "must be >= 0")
    require(0 <= opt.momentum < 1, "optimizer.momentum", opt.momentum, "must be in [0, 1)")
    require(opt.warmup_epochs >= 0, "optimizer.warmup_epochs", opt.warmup_epochs, "must be >= 0")
    betas = opt.betas
    ok = len(betas) == 2 and all(0 <= beta < 1 for beta in betas)
    require(ok, "optimizer.betas", betas, "must be [beta1, beta2], each in [0, 1)")
    eta = opt.trust_coefficient
    require(eta > 0, "optimizer.trust_coefficient", eta, "must be > 0")
    require(config.probe.lr > 0, "probe.lr", config.probe.lr, "must be > 0")

    trainer = config.trainer
    require(trainer.max_epochs >= 1, "trainer.max_epochs", trainer.max_epochs, "must be >= 1")
    require(
        trainer.max_steps == -1 or trainer.max_steps >= 1,
        "trainer.max_steps",
        trainer.max_steps,
        "must be -1 (no limit) or >= 1",
    )
    _check_choice("trainer.precision", trainer.precision, PRECISIONS)
    every = trainer.checkpoint_every_n_epochs
    require(every >= 1, "trainer.checkpoint_every_n_epochs", every, "must be >= 1")
    every = trainer.val_every_n_epochs
    require(every >= 1, "trainer.val_every_n_epochs", every, "must be >= 1")
    every = trainer.log_every_n_steps
    require(every >= 1, "trainer.log_every_n_steps", every, "must be >= 1")
    limit = trainer.limit_val_batches
    fraction_or_count = 0 <= limit <= 1 or (limit > 1 and float(limit).is_integer())
    allowed = "a fraction in [0, 1] or a whole count of batches"
    require(fraction_or_count, "trainer.limit_val_batches", limit, allowed)
    every = trainer.last_checkpoint_every_n_steps
    require(every >= 1, "trainer.last_checkpoint_every_n_steps", every, "must be >= 1")
    require(config.run.out_dir != "", "run.out_dir", config.run.out_dir, "must not be empty")
    if config.run.name is not None:
        name = config.run.name
        require(name not in ("", ".", "..") and "/" not in name, "run.name", name, "a plain name")
