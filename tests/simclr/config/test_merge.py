"""Configs from layers (simclr/config/merge.py): a dataclass schema, then YAML files, dicts and
``key=value`` overrides; OmegaConf's errors as one line naming the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from simclr.config import ConfigError, SimCLRConfig, load_config
from simclr.config.merge import build_config, merge_config, save_config, to_yaml


@dataclass
class Inner:
    size: int = 3
    names: list[str] = field(default_factory=lambda: ["a"])


@dataclass
class Schema:
    rate: float = 0.5
    inner: Inner = field(default_factory=Inner)


def test_layers_are_merged_in_order_onto_the_schema(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("rate: 0.25\ninner:\n  size: 4\n")
    merged = merge_config(Schema, [{"inner": {"names": ["b", "c"]}}, recipe, ["inner.size=5"]])
    assert OmegaConf.to_container(merged) == {
        "rate": 0.25,
        "inner": {"size": 5, "names": ["b", "c"]},
    }
    built = build_config(Schema, [{"rate": 0.75}], recipe, ["inner.size=6"])
    assert built == Schema(rate=0.25, inner=Inner(size=6, names=["a"]))  # file after sources


def test_saved_config_loads_back(tmp_path: Path) -> None:
    config = load_config(None, ["encoder.stem=small", "augment.normalize.mean=[0.5]"])
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config
    assert (tmp_path / "config.yaml").read_text() == to_yaml(config)


# keys the schema does not have, values of the wrong type, a value where a section is, and an
# override that is not key=value: refused while merging, before any check of the values
BAD_LAYERS = [
    (["foo=1"], "foo"),
    (["data.foo=1"], "data.foo"),
    (["augment.crop.bar=1"], "augment.crop.bar"),
    (["augment=3"], "augment"),
    (["augment.crop=5"], "augment.crop"),
    (["data.batch_size=abc"], "data.batch_size"),
    (["data.image_size=1.5"], "data.image_size"),
    (["encoder.residual=maybe"], "encoder.residual"),
    (["loss.temperature=abc"], "loss.temperature"),
    (["loss.temperature"], "loss.temperature"),
    (["=0.5"], "=0.5"),
]


@pytest.mark.parametrize("overrides, key", BAD_LAYERS)
def test_unknown_keys_and_wrong_types_fail_in_one_line_naming_the_key(
    overrides: list[str], key: str
) -> None:
    with pytest.raises(ConfigError) as error:
        build_config(SimCLRConfig, [], None, overrides)
    message = str(error.value)
    assert "\n" not in message
    assert f"'{key}'" in message or message.startswith(key)


def test_errors_are_classified_by_type() -> None:
    with pytest.raises(ConfigError, match=r"^unknown config key 'inner\.width'$"):
        merge_config(Schema, [["inner.width=3"]])
    with pytest.raises(ConfigError, match=r"^unknown config key 'inner\.width'$"):
        merge_config(Schema, [{"inner": {"width": 3}}])
    with pytest.raises(ConfigError, match=r"^inner\.size: ") as error:
        merge_config(Schema, [["inner.size=big"]])
    assert "unknown" not in str(error.value)
    with pytest.raises(ConfigError, match=r"^inner: is a section of keys, not a single value$"):
        merge_config(Schema, [{"inner": 7}])


def test_a_bad_value_in_a_file_names_its_key(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("head:\n  type: mlp\n  widht: 3\n")
    with pytest.raises(ConfigError, match="unknown config key 'head.widht'"):
        load_config(recipe)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"config file '{missing}' does not exist"):
        load_config(missing)


def test_config_file_that_is_not_yaml_is_one_line_error(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [\n")
    with pytest.raises(ConfigError, match="not valid YAML at line 2"):
        load_config(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(scalar)


@pytest.mark.parametrize(
    ("override", "detail"),
    [
        ("run.name=${oc.env:SIMCLR_TEST_UNSET}", "SIMCLR_TEST_UNSET"),
        ("run.name=${missing.key}", "missing.key"),
        ("data.batch_size=${no_such_resolver:1}", "no_such_resolver"),
    ],
)
def test_an_interpolation_that_cannot_resolve_is_refused_at_load_naming_the_key(
    override: str, detail: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SIMCLR_TEST_UNSET", raising=False)
    key = override.split("=")[0]
    with pytest.raises(ConfigError) as refused:
        load_config(None, [override])
    message = str(refused.value)
    assert message.startswith(f"{key}: its interpolation cannot be resolved: ")
    assert detail in message and "\n" not in message


def test_interpolations_are_resolved_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMCLR_TEST_NAME", "from-env")
    config = load_config(
        None, ["run.name=${oc.env:SIMCLR_TEST_NAME}", "run.seed=${data.image_size}"]
    )
    assert (config.run.name, config.run.seed) == ("from-env", config.data.image_size)


def test_a_config_file_that_is_not_utf8_is_refused_in_one_line(tmp_path: Path) -> None:
    recipe = tmp_path / "latin1.yaml"
    recipe.write_bytes("run:\n  name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"^config file '.*latin1.yaml' is not UTF-8 text \(at"):
        load_config(recipe)


# ----------------------------------------------------------------------------- renamed keys
SAVED = Path(__file__).resolve().parents[1] / "saved"


@pytest.mark.parametrize(
    "source",
    [
        ["head.output_dim=64"],
        {"head": {"output_dim": 64}},  # a checkpoint's hyperparameters
        "yaml",
    ],
    ids=["override", "dict", "file"],
)
def test_a_renamed_key_is_read_by_its_old_name(source, tmp_path: Path) -> None:
    """head.output_dim, the name of head.projection_dim before 2026-12-08, still sets it."""
    if source == "yaml":
        source = tmp_path / "old.yaml"
        source.write_text("head:\n  output_dim: 64\n")
    config = build_config(SimCLRConfig, [source])
    assert config.head.projection_dim == 64
    assert "output_dim" not in OmegaConf.to_container(OmegaConf.structured(config))["head"]


def test_both_names_of_one_key_in_one_layer_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"^head.output_dim and head.projection_dim are one key"):
        load_config(None, ["head.output_dim=64", "head.projection_dim=32"])
    # in different layers, the later wins, as for any key
    assert load_config(None, ["head.output_dim=64"]).head.projection_dim == 64


def test_a_run_saved_before_the_rename_loads() -> None:
    """A run's config.yaml and its checkpoint, written by simclr before projection_dim (kept in
    tests/simclr/saved/: 2 steps of cifar_resnet20 with head.output_dim=8; the checkpoint
    without its optimizer state), load as they were."""
    import torch

    from linear_eval.features.encoders import load_encoder
    from simclr.module import SimCLR

    config = load_config(SAVED / "before_projection_dim.yaml")
    assert "output_dim" in (SAVED / "before_projection_dim.yaml").read_text()
    assert config.head.projection_dim == 8 and config.head.hidden_dim == 16
    saved = torch.load(SAVED / "before_projection_dim.ckpt", weights_only=True)
    assert saved["hyper_parameters"]["config"]["head"]["output_dim"] == 8  # the old name
    module = SimCLR.load_from_checkpoint(SAVED / "before_projection_dim.ckpt")  # strictly
    assert module.head.projection_dim == 8
    assert module.hparams["config"]["head"]["projection_dim"] == 8  # saved again: the new name
    assert load_encoder(SAVED / "before_projection_dim.ckpt").encoder.feature_dim == 64
