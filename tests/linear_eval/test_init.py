"""Tests of linear_eval/__init__.py: the evaluation library's public names, loaded on first use;
below the command modules nothing takes an ``argparse.Namespace``."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import linear_eval

ROOT = Path(__file__).resolve().parents[2]
# the work of each command, typed: what a user calls instead of the command line
COMMANDS = {
    "report_evaluation": "eval",
    "finetune_and_report": "finetune",
    "index_gallery": "index",
    "append_folder": "index",
    "answer_queries": "retrieve",
    "serve": "serve",
    "embed_gallery": "embed",
    "plot_gallery": "plot",
}


def test_every_public_name_imports_and_is_documented() -> None:
    namespace: dict = {}
    exec("from linear_eval import *", namespace)  # noqa: S102 - the star import a user writes
    for name in linear_eval.__all__:
        value = getattr(linear_eval, name)
        assert value is namespace[name] and inspect.getdoc(value), name
    with pytest.raises(AttributeError, match="no attribute 'KNN'"):
        linear_eval.KNN  # noqa: B018
    assert set(COMMANDS) <= set(linear_eval.__all__)
    assert {"WeightedKNNClassifier", "OnlineProbe", "knn_classify", "linear_probe"} <= set(
        linear_eval.__all__
    )


def test_importing_the_package_loads_no_torch_and_no_config_library() -> None:
    code = (
        "import sys, linear_eval; print(sorted({'torch', 'omegaconf', 'faiss'} & set(sys.modules)))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.stdout.strip() == "[]", completed.stderr[-2000:]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_work_of_a_command_takes_typed_arguments(name: str) -> None:
    """No parameter of a command's work is the parsed command line."""
    parameters = inspect.signature(getattr(linear_eval, name)).parameters
    assert "args" not in parameters and parameters, name


def test_only_the_command_modules_name_a_namespace() -> None:
    naming = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "linear_eval").rglob("*.py")
        if re.search(r"\bNamespace\b", path.read_text())
    }
    assert naming and all(path.startswith("linear_eval/commands/") for path in naming), naming
