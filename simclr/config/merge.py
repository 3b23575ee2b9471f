"""Configs from layers: a dataclass schema, then YAML files, dicts and ``key=value`` overrides.

OmegaConf merges each layer onto the structured schema and enforces its keys and types; its
errors become one-line :class:`ConfigError` s naming the key, classified by exception type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    InterpolationResolutionError,
    OmegaConfBaseException,
)

from simclr.config.recipes import recipe_file
from simclr.errors import ConfigError


def merge_config(schema: Any, sources: list[Any]) -> DictConfig:
    """Merge YAML files, dicts and ``key=value`` lists onto a structured schema.

    A source that is a ``str`` or ``Path`` names a YAML file or a shipped recipe (see
    :func:`simclr.config.recipes.recipe_file`), a ``list`` holds dotlist overrides,
    a ``dict``/``DictConfig`` is merged as it is. Raises :class:`ConfigError` on the first
    unknown key or wrong type, with the key's full name. Interpolations (``${other.key}``,
    ``${oc.env:NAME}``) are resolved here, so one naming an unset variable or a missing key is a
    ConfigError naming the key that holds it, not an error deep inside a run.
    """
    config = OmegaConf.structured(schema)
    for source in sources:
        try:
            if isinstance(source, (str, Path)):
                layer = _load_yaml(recipe_file(source))
            elif isinstance(source, list):
                _check_dotlist(source)
                layer = OmegaConf.from_dotlist(source)
            else:
                layer = OmegaConf.create(source)
            layer = _renamed(layer, getattr(schema, "RENAMED", {}))
            section = _value_for_section(config, OmegaConf.to_container(layer))
            if section is not None:
                raise ConfigError(f"{section}: is a section of keys, not a single value")
            config = OmegaConf.merge(config, layer)
        except OmegaConfBaseException as error:
            raise _one_line(error) from None
        except yaml.YAMLError:  # a value of a key=value override that YAML cannot read
            raise ConfigError(f"overrides {source!r}: a value is not valid YAML") from None
    try:
        OmegaConf.resolve(config)
    except OmegaConfBaseException as error:
        raise _one_line(error) from None
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
    """Write the resolved config as YAML; it loads back with the schema's loader."""
    Path(path).write_text(to_yaml(config))


_ABSENT = object()


def _renamed(layer: DictConfig, renamed: dict[str, str]) -> DictConfig:
    """``layer`` with each key of ``renamed`` (old dotted name -> new) moved to its new name; a
    layer that sets both names of one key is a ConfigError."""
    for old, new in renamed.items():
        value = OmegaConf.select(layer, old, default=_ABSENT)
        if value is _ABSENT:
            continue
        if OmegaConf.select(layer, new, default=_ABSENT) is not _ABSENT:
            raise ConfigError(f"{old} and {new} are one key ({old} is its name before): set {new}")
        parent, leaf = old.rsplit(".", 1)
        del OmegaConf.select(layer, parent)[leaf]
        OmegaConf.update(layer, new, value, force_add=True)
    return layer


def _load_yaml(path: Path) -> DictConfig:
    """A YAML file of keys; a syntax error or a file that is not a mapping is a ConfigError."""
    try:
        layer = OmegaConf.load(path)
    except UnicodeDecodeError as error:
        where = f"byte {error.start}"
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text (at {where})") from None
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
    """Unknown keys (key errors of the struct schema) and wrong values (validation errors)."""
    key = getattr(error, "full_key", None) or "config"
    if isinstance(error, InterpolationResolutionError):
        # oc.env and the other resolvers wrap their own error (a KeyError for an unset variable)
        cause = error.__cause__ or error.__context__
        detail = str(cause.args[0]) if cause is not None and cause.args else str(error)
        detail = detail.splitlines()[0] if detail else type(error).__name__
        return ConfigError(f"{key}: its interpolation cannot be resolved: {detail}")
    if isinstance(error, (ConfigKeyError, ConfigAttributeError)):
        return ConfigError(f"unknown config key '{key}'")
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    return ConfigError(f"{key}: {message}")
