"""The pretraining config schema (simclr/config/schema.py): its defaults, and each section's
check() refusing a bad value in one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from simclr.config import ConfigError, load_config
from simclr.config.augment import AugmentConfig
from simclr.config.schema import (
    EncoderConfig,
    HeadConfig,
    LoggingConfig,
    LossConfig,
    MLflowConfig,
    OptimizerConfig,
    ProbeConfig,
    RunConfig,
    SimCLRConfig,
    TrainerConfig,
    WandbConfig,
)
from simclr.data.config import DataConfig

DEFAULT_YAML = Path(__file__).resolve().parents[3] / "configs" / "default.yaml"


def test_default_yaml_equals_the_schema_defaults() -> None:
    from_yaml = OmegaConf.to_container(OmegaConf.load(DEFAULT_YAML))
    from_schema = OmegaConf.to_container(OmegaConf.structured(SimCLRConfig))
    assert from_yaml == from_schema
    assert load_config(DEFAULT_YAML) == load_config() == SimCLRConfig()


BAD_OVERRIDES = [
    (["loss.temperature=0"], "loss.temperature"),
    (["loss.temperature=-0.5"], "loss.temperature"),
    (["data.batch_size=1"], "data.batch_size"),
    (["augment.crop.scale=[0.0,1.0]"], "augment.crop.scale"),
    (["augment.crop.scale=[0.5,1.5]"], "augment.crop.scale"),
    (["augment.crop.scale=[0.9,0.1]"], "augment.crop.scale"),
    (["augment.crop.scale=[0.5]"], "augment.crop.scale"),
    (["encoder.name=resnet9"], "encoder.name"),
    (["encoder.stem=tiny"], "encoder.stem"),
    (["encoder.name=regnet_y_400mf", "encoder.stem=pooled"], "encoder.stem"),  # no max-pool
    (["encoder.name=densenet121", "encoder.residual=false"], "encoder.residual"),
    (["encoder.name=cifar_resnet21"], "encoder.name"),
    (["encoder.name=cifar_resnet2"], "encoder.name"),  # n = 0
    (["encoder.name=cifar_resnetx"], "encoder.name"),
    (["encoder.width=0"], "encoder.width"),
    (["encoder.width=-1"], "encoder.width"),
    (["encoder.width=1.5"], "encoder.width"),  # OmegaConf's int
    (["encoder.width=2"], "encoder.width"),  # resnet18: no width
    (["encoder.name=cifar_resnet1202", "encoder.width=8"], "encoder.width"),  # 4.9 GiB
    (["encoder.name=cifar_resnet6000002"], "encoder.name"),  # a million blocks a stage
    (["encoder.shortcut=C"], "encoder.shortcut"),
    (["encoder.shortcut=B"], "encoder.shortcut"),  # resnet18 keeps its own
    (["encoder.name=cifar_resnet20", "encoder.shortcut=a"], "encoder.shortcut"),
    (["encoder.name=cifar_resnet20", "encoder.stem=standard"], "encoder.stem"),
    (["encoder.name=cifar_resnet20", "encoder.stem=strided"], "encoder.stem"),
    (["encoder.name=cifar_resnet20", "encoder.stem=pooled"], "encoder.stem"),
    (["data.name=imagenet9"], "data.name"),
    (["data.name=folder"], "data.path"),
    (["head.type=deep"], "head.type"),
    (["optimizer.name=adam"], "optimizer.name"),
    (["optimizer.lr_scaling=cubic"], "optimizer.lr_scaling"),
    (["augment.flip.p=1.5"], "augment.flip.p"),
    (["augment.color.p=-0.1"], "augment.color.p"),
    (["augment.grayscale.p=2"], "augment.grayscale.p"),
    (["augment.blur.p=1.01"], "augment.blur.p"),
    (["augment.solarize.p=-1"], "augment.solarize.p"),
    (["data.subset=0"], "data.subset"),
    (["data.subset=-3"], "data.subset"),
    (["data.subset=2.5"], "data.subset"),
    (["data.val_subset=0"], "data.val_subset"),
    (["data.name=folder", "data.path=x", "data.val_fraction=1.5"], "data.val_fraction"),
    (["data.name=folder", "data.path=x", "data.val_fraction=1"], "data.val_fraction"),
    (["data.name=folder", "data.path=x", "data.val_fraction=-0.2"], "data.val_fraction"),
    (["data.val_fraction=nan"], "data.val_fraction"),
    (["data.pretrain_on_val=maybe"], "data.pretrain_on_val"),
    (["data.channels=2"], "data.channels"),
    (["data.decode=gpu"], "data.decode"),
    (["augment.pipeline=kornia"], "augment.pipeline"),
    (["augment.capture=graphs"], "augment.capture"),
    (["augment.views=1"], "augment.views"),
    (["augment.views=2.5"], "augment.views"),
    (["augment.view_size=3"], "augment.view_size"),
    (["augment.view_size=0"], "augment.view_size"),
    (["augment.small_views.count=-1"], "augment.small_views.count"),
    (["augment.small_views.size=2"], "augment.small_views.size"),
    (["augment.small_views.scale=[0,0.5]"], "augment.small_views.scale"),
    (["augment.small_views.scale=[0.5,0.1]"], "augment.small_views.scale"),
    (["augment.views=3", "trainer.chunk_size=64"], "trainer.chunk_size"),
    (["augment.small_views.count=2", "trainer.chunk_size=64"], "trainer.chunk_size"),
    (["trainer.max_steps=0"], "trainer.max_steps"),
    (["run.name=a/b"], "run.name"),
    (["optimizer.base_lr=inf"], "optimizer.base_lr"),
    (["loss.temperature=nan"], "loss.temperature"),
    (["augment.blur.sigma=[0.1,inf]"], "augment.blur.sigma"),
    (["optimizer.betas=[2,3]"], "optimizer.betas"),
    (["trainer.val_every_n_epochs=0"], "trainer.val_every_n_epochs"),
    (["trainer.limit_val_batches=-1"], "trainer.limit_val_batches"),
    (["trainer.log_every_n_steps=0"], "trainer.log_every_n_steps"),
    (["trainer.loggers=[csv,neptune]"], "trainer.loggers"),
    (["trainer.loggers=[csv,csv]"], "trainer.loggers"),
    (["trainer.loggers=csv"], "trainer.loggers"),
    (["logging.mlflow.experiment_name=''"], "logging.mlflow.experiment_name"),
    (["logging.wandb.projekt=simclr"], "logging.wandb.projekt"),
]


@pytest.mark.parametrize("overrides, key", BAD_OVERRIDES)
def test_bad_settings_fail_in_one_line_naming_the_key(overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(None, overrides)
    message = str(error.value)
    assert "\n" not in message
    assert f"'{key}'" in message or message.startswith(key)


# each section's own check(), called on the dataclass without loading anything
SECTION_CHECKS = [
    (DataConfig(image_size=4), "data.image_size=4"),
    (DataConfig(channels=2), "data.channels=2"),
    (DataConfig(decode="gpu"), "data.decode='gpu'"),
    (AugmentConfig(), None),
    (EncoderConfig(stem="tiny"), "encoder.stem='tiny'"),
    (EncoderConfig(width=0), "encoder.width=0"),
    (EncoderConfig(name="cifar_resnet20", shortcut="C"), "encoder.shortcut='C'"),
    (EncoderConfig(name="cifar_resnet21"), "encoder.name='cifar_resnet21'"),
    (HeadConfig(projection_dim=0), "head.projection_dim=0"),
    (HeadConfig(layers=1), "head.layers=1"),
    # sizes that allocate: refused from their widths before torch is asked for terabytes
    (HeadConfig(projection_dim=10**9), "head.projection_dim=1000000000"),
    (HeadConfig(type="linear", projection_dim=10**9), "head.projection_dim=1000000000"),
    (HeadConfig(hidden_dim=10**7), "head.hidden_dim=10000000"),
    (HeadConfig(layers=10**5), "head.layers=100000"),
    (LossConfig(temperature=0.0), "loss.temperature=0.0"),
    (OptimizerConfig(momentum=1.0), "optimizer.momentum=1.0"),
    (OptimizerConfig(trust_coefficient=0.0), "optimizer.trust_coefficient=0.0"),
    (ProbeConfig(lr=0.0), "probe.lr=0.0"),
    (TrainerConfig(max_epochs=0), "trainer.max_epochs=0"),
    (TrainerConfig(precision="8-bit"), "trainer.precision='8-bit'"),
    (RunConfig(out_dir=""), "run.out_dir=''"),
    (RunConfig(name=".."), "run.name='..'"),
    (TrainerConfig(loggers=["csv", "neptune"]), "trainer.loggers='neptune'"),
    (WandbConfig(project=" "), "logging.wandb.project=' '"),
    (WandbConfig(entity=""), "logging.wandb.entity=''"),
    (MLflowConfig(experiment_name=""), "logging.mlflow.experiment_name=''"),
    (MLflowConfig(run_name=""), "logging.mlflow.run_name=''"),
    (LoggingConfig(mlflow=MLflowConfig(tracking_uri="")), "logging.mlflow.tracking_uri=''"),
]


@pytest.mark.parametrize("section, refusal", SECTION_CHECKS)
def test_each_section_checks_its_own_values(section, refusal: str | None) -> None:
    if refusal is None:
        section.check()
        return
    with pytest.raises(ConfigError, match=f"^{refusal} is invalid: "):
        section.check()
    type(section)().check()  # its defaults pass


def test_the_whole_config_checks_every_section_and_finiteness() -> None:
    SimCLRConfig().check()
    config = SimCLRConfig()
    config.run.name = "a/b"
    with pytest.raises(ConfigError, match="run.name='a/b'"):
        config.check()
    config = SimCLRConfig()
    config.data.batch_size = 1
    with pytest.raises(ConfigError, match="data.batch_size=1"):
        config.check()
    config = SimCLRConfig()
    config.augment.crop.ratio = [0.75, float("inf")]  # inside (0, inf]: only finiteness fails
    with pytest.raises(ConfigError, match="augment.crop.ratio=.* must be a finite number"):
        config.check()


def test_a_cifar_resnet_of_a_depth_not_6n_plus_2_is_refused_saying_why() -> None:
    with pytest.raises(ConfigError) as error:
        load_config(None, ["encoder.name=cifar_resnet21"])
    assert str(error.value) == (
        "encoder.name='cifar_resnet21' is invalid: depth 21 is not 6n+2 for an integer n >= 1 "
        "(allowed: cifar_resnet8, 14, 20, 26, ...; the paper's: cifar_resnet20, 32, 44, 56, "
        "110, 1202)"
    )
    with pytest.raises(ConfigError, match="^encoder.name='resnet9' is invalid: allowed: .*"):
        load_config(None, ["encoder.name=resnet9"])  # an unknown name: the list


@pytest.mark.parametrize(
    "overrides",
    [
        ["encoder.name=cifar_resnet20"],
        ["encoder.name=cifar_resnet26", "encoder.width=2", "encoder.shortcut=B"],
        ["encoder.name=cifar_resnet8", "encoder.residual=false", "encoder.stem=small"],
        ["encoder.name=cifar_resnet1202", "encoder.width=4"],
    ],
)
def test_cifar_resnet_settings_load(overrides: list[str]) -> None:
    config = load_config(None, overrides)
    assert config.encoder.name == overrides[0].split("=")[1]
