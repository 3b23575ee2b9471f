"""The config schema of simclr/config.py and the CLI's refusal of bad settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from simclr.cli import main
from simclr.config import ConfigError, SimCLRConfig, load_config, save_config

DEFAULT_YAML = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"


def test_default_yaml_equals_the_schema_defaults() -> None:
    from_yaml = OmegaConf.to_container(OmegaConf.load(DEFAULT_YAML))
    from_schema = OmegaConf.to_container(OmegaConf.structured(SimCLRConfig))
    assert from_yaml == from_schema
    assert load_config(DEFAULT_YAML) == load_config() == SimCLRConfig()


def test_overrides_are_applied_with_their_types() -> None:
    config = load_config(
        None,
        [
            "loss.temperature=0.5",
            "data.batch_size=32",
            "augment.crop.scale=[0.2,1.0]",
            "encoder.residual=false",
            "data.subset=1000",
            "head.hidden_dim=64",
        ],
    )
    assert config.loss.temperature == 0.5
    assert config.data.batch_size == 32
    assert config.augment.crop.scale == [0.2, 1.0]
    assert config.encoder.residual is False
    assert config.data.subset == 1000
    assert config.head.hidden_dim == 64
    assert config.optimizer == SimCLRConfig().optimizer  # everything else keeps its default


def test_file_then_overrides(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("loss:\n  temperature: 0.1\ndata:\n  name: cifar10\n  batch_size: 64\n")
    config = load_config(recipe, ["loss.temperature=0.7"])
    assert (config.loss.temperature, config.data.name, config.data.batch_size) == (
        0.7,
        "cifar10",
        64,
    )
    assert config.head == SimCLRConfig().head


def test_saved_config_loads_back(tmp_path: Path) -> None:
    config = load_config(None, ["encoder.stem=small", "augment.normalize.mean=[0.5]"])
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config


BAD_OVERRIDES = [
    (["foo=1"], "foo"),
    (["data.foo=1"], "data.foo"),
    (["augment.crop.bar=1"], "augment.crop.bar"),
    (["augment=3"], "augment"),
    (["augment.crop=5"], "augment.crop"),
    (["data.batch_size=abc"], "data.batch_size"),
    (["data.image_size=1.5"], "data.image_size"),
    (["encoder.residual=maybe"], "encoder.residual"),
    (["loss.temperature=abc"], "loss.temperature"),
    (["loss.temperature=0"], "loss.temperature"),
    (["loss.temperature=-0.5"], "loss.temperature"),
    (["data.batch_size=1"], "data.batch_size"),
    (["augment.crop.scale=[0.0,1.0]"], "augment.crop.scale"),
    (["augment.crop.scale=[0.5,1.5]"], "augment.crop.scale"),
    (["augment.crop.scale=[0.9,0.1]"], "augment.crop.scale"),
    (["augment.crop.scale=[0.5]"], "augment.crop.scale"),
    (["encoder.name=resnet9"], "encoder.name"),
    (["encoder.stem=tiny"], "encoder.stem"),
    (["encoder.name=densenet121", "encoder.residual=false"], "encoder.residual"),
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
    (["data.channels=2"], "data.channels"),
    (["trainer.max_steps=0"], "trainer.max_steps"),
    (["run.name=a/b"], "run.name"),
    (["loss.temperature"], "loss.temperature"),
    (["optimizer.base_lr=inf"], "optimizer.base_lr"),
    (["loss.temperature=nan"], "loss.temperature"),
    (["augment.blur.sigma=[0.1,inf]"], "augment.blur.sigma"),
    (["optimizer.betas=[2,3]"], "optimizer.betas"),
    (["trainer.val_every_n_epochs=0"], "trainer.val_every_n_epochs"),
    (["trainer.limit_val_batches=-1"], "trainer.limit_val_batches"),
    (["trainer.log_every_n_steps=0"], "trainer.log_every_n_steps"),
    (["=0.5"], "=0.5"),
]


@pytest.mark.parametrize("overrides, key", BAD_OVERRIDES)
def test_bad_settings_fail_in_one_line_naming_the_key(overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(None, overrides)
    message = str(error.value)
    assert "\n" not in message
    assert f"'{key}'" in message or message.startswith(key)


def test_a_bad_value_in_a_file_names_its_key(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("head:\n  type: mlp\n  widht: 3\n")
    with pytest.raises(ConfigError, match="unknown config key 'head.widht'"):
        load_config(recipe)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"config file '{missing}' does not exist"):
        load_config(missing)


@pytest.mark.parametrize(
    "arguments", [["loss.temperature=0"], ["data.foo=1"], ["trainer.max_epochs"]]
)
def test_cli_refuses_bad_overrides_before_any_work(tmp_path: Path, capsys, arguments: list) -> None:
    argv = ["pretrain", f"run.out_dir={tmp_path / 'runs'}", "run.name=bad", *arguments]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("simclr pretrain: error: ") and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_cli_refuses_a_data_error_before_any_work(tmp_path: Path, capsys) -> None:
    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    for index in range(3):
        Image.new("RGB", (8, 8), (index, 0, 0)).save(images / f"{index}.png")
    argv = [
        "pretrain",
        "data.name=folder",
        f"data.path={images}",
        "data.batch_size=8",
        "data.num_workers=0",
        f"run.out_dir={tmp_path / 'runs'}",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "data.batch_size=8" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_cli_refuses_to_resume_what_is_not_a_run(tmp_path: Path, capsys) -> None:
    assert main(["pretrain", "--resume", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_config_file_that_is_not_yaml_is_one_line_error(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [\n")
    with pytest.raises(ConfigError, match="not valid YAML at line 2"):
        load_config(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(scalar)
