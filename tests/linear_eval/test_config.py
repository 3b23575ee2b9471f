"""Tests of linear_eval/config.py: defaults, inheritance from the run, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from linear_eval.config import (
    EmbedConfig,
    EvalConfig,
    FeaturesConfig,
    KNNConfig,
    LinearConfig,
    PlotConfig,
    RetrievalConfig,
    adapt_to_encoder,
    load_eval_config,
)
from simclr.errors import ConfigError


def test_defaults_follow_the_protocols() -> None:
    config = load_eval_config()
    assert config.knn.k == [10, 20, 100, 200] and config.knn.temperature == 0.1
    assert config.data.name == "fashion_mnist"
    assert isinstance(config, EvalConfig)


def test_the_run_gives_data_and_normalisation_without_its_pretraining_subsets(synthetic) -> None:
    pretrain = synthetic.pretrain_config("data.subset=16", "augment.normalize.mean=[0.1]")
    config = load_eval_config(pretrain, None, ["data.val_subset=8"])
    assert config.data.name == pretrain.data.name and config.data.image_size == 16
    assert config.data.subset is None and config.data.val_subset == 8
    assert config.normalize.mean == [0.1]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("knn.k=[]", "knn.k"),
        ("knn.temperature=0", "knn.temperature"),
        ("linear.held_out_fraction=1.0", "linear.held_out_fraction"),
        ("linear.weight_decays=[-1.0]", "linear.weight_decays"),
        ("retrieval.index_type=lsh", "retrieval.index_type"),
        ("plot.method=mds", "plot.method"),
        ("knn.nope=1", "knn.nope"),
        ("data.subset=-2", "data.subset"),
        ("normalize.std=[0]", "normalize.std"),  # pretraining's check, named as eval names it
        ("normalize.mean=[0.1,0.2]", "normalize.mean"),
        ("features.devices=0", "features.devices"),
        *([] if torch.cuda.is_available() else [("features.device=cuda", "features.device")]),
    ],
)
def test_invalid_values_fail_with_the_key_named(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        load_eval_config(None, None, [override])
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        (FeaturesConfig(batch_size=0), "features.batch_size"),
        (KNNConfig(temperature=-1.0), "knn.temperature"),
        (LinearConfig(augment_crop_scale=[0.5, 0.1]), "linear.augment_crop_scale"),
        (RetrievalConfig(nprobe=0), "retrieval.nprobe"),
        (EmbedConfig(csv_max_rows=-1), "embed.csv_max_rows"),
        (PlotConfig(method="mds"), "plot.method"),
    ],
)
def test_each_section_checks_its_own_values(section: object, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        section.check()
    name = key.split(".")[0]
    with pytest.raises(ConfigError, match=key):  # and the whole config checks every section
        EvalConfig(**{name: section}).check()
    EvalConfig().check()  # the defaults pass


def test_a_yaml_file_is_merged_before_overrides(tmp_path: Path) -> None:
    path = tmp_path / "eval.yaml"
    path.write_text("knn:\n  k: [5]\n  temperature: 0.5\n")
    config = load_eval_config(None, path, ["knn.temperature=0.07"])
    assert config.knn.k == [5] and config.knn.temperature == 0.07


def test_another_dataset_is_preprocessed_for_the_encoder(tmp_path: Path, synthetic) -> None:
    pretrain = synthetic.pretrain_config()  # one channel, mean 0.3, std 0.3
    folder = load_eval_config(pretrain, None, ["data.name=folder", f"data.path={tmp_path}"])
    adapted = adapt_to_encoder(folder, 1, pretrain)
    assert adapted.data.channels == 1
    assert adapted.normalize.mean == [0.3] and adapted.normalize.std == [0.3]

    explicit = load_eval_config(
        pretrain, None, ["data.name=folder", f"data.path={tmp_path}", "normalize.mean=[0.5]"]
    )
    assert adapt_to_encoder(explicit, 1, pretrain).normalize.mean == [0.5]
    same = adapt_to_encoder(load_eval_config(pretrain), 1, pretrain)
    assert same.normalize.mean is None  # the pretraining dataset keeps its registered stats


@pytest.mark.parametrize("channels, encoder", [(3, 1), (1, 3)])
def test_channels_set_against_the_encoder_are_one_line_that_says_how(
    synthetic, channels: int, encoder: int
) -> None:
    pretrain = synthetic.pretrain_config()
    config = load_eval_config(pretrain, None, [f"data.channels={channels}"])
    with pytest.raises(ConfigError, match=f"data.channels={channels} does not fit") as error:
        adapt_to_encoder(config, encoder, pretrain)
    message = str(error.value)
    assert f"takes {encoder}-channel images" in message and "\n" not in message
    assert "drop the data.channels override" in message
    assert f"use an encoder pretrained on {channels}-channel images" in message
    fitting = load_eval_config(pretrain, None, [f"data.channels={encoder}"])
    assert adapt_to_encoder(fitting, encoder, pretrain).data.channels == encoder


@pytest.mark.parametrize(
    ("override", "instead"),
    [
        ("data.batch_size=64", "features.batch_size"),
        ("data.num_workers=3", "features.num_workers"),
        ("data.decode=device", "PIL"),
    ],
)
def test_a_data_key_evaluation_does_not_read_is_refused(
    tmp_path: Path, override: str, instead: str
) -> None:
    """Accepted and ignored would look like it worked: refused in one line that says what to set,
    as an override and from a --config file alike."""
    with pytest.raises(ConfigError, match=f"{override.split('=')[0]}=.*{instead}") as error:
        load_eval_config(None, None, [override])
    assert "\n" not in str(error.value)
    key, value = override.split("=")
    path = tmp_path / "eval.yaml"
    path.write_text(f"data:\n  {key.split('.')[1]}: {value}\n")
    with pytest.raises(ConfigError, match=key):
        load_eval_config(None, path)


def test_the_runs_own_data_settings_are_not_refused(synthetic) -> None:
    """A run pretrained with batch 64 and 3 workers evaluates: those came from the run."""
    pretrain = synthetic.pretrain_config("data.batch_size=64", "data.num_workers=3")
    config = load_eval_config(pretrain, None, ["knn.k=[5]"])
    assert config.data.batch_size == 64 and config.knn.k == [5]
