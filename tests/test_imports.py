"""The house's import rules, read from the source with ast, and checked again at run time.

Data flows one way (config -> data -> views -> f -> g -> NT-Xent -> checkpoint -> frozen features
-> kNN / probe / retrieval -> sweeps) and the imports follow it:
- no module of ``simclr`` imports ``linear_eval`` or ``ablation``: the command root finds their
  commands through the ``simclr.commands`` entry points;
- no module of ``linear_eval`` reaches the training loop (``simclr.module``, ``simclr.run.train``),
  the Kornia views (``simclr.augment``) or ``kornia``, directly or through other modules;
- neither the module graph nor the graph of the folders has a cycle. A folder is a subpackage of
  ``simclr`` or ``linear_eval`` (``simclr.config``, ``simclr.data``, ``linear_eval.features``,
  ``linear_eval.protocols``, ...), each of their top-level modules on its own
  (``linear_eval.config``, ``linear_eval.commands``), or the package ``ablation``.

Every import statement counts, those inside functions too (they run when the function does);
imports under ``if TYPE_CHECKING:`` never run and are left out, except that no cycle may close
even through them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("simclr", "linear_eval", "ablation")
TRAINING_ONLY = ("simclr.module", "simclr.run.train", "simclr.augment", "kornia")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def imported_names(tree: ast.AST, typing_too: bool = False) -> set[str]:
    """Every module an import statement of ``tree`` names (``from a import b``: ``a`` and
    ``a.b``), except under ``if TYPE_CHECKING:`` unless ``typing_too``."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_only(node) and not typing_too:
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def import_graph(typing_too: bool = False) -> dict[str, set[str]]:
    """First-party module -> the first-party modules and third-party top-level names it imports
    (with ``typing_too``, those imported for type annotations only as well)."""
    files = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    modules = {module_name(path): path for path in files}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_names(ast.parse(path.read_text(), str(path)), typing_too):
            if imported in modules:
                targets.add(imported)
            elif imported.split(".")[0] not in PACKAGES:
                targets.add(imported.split(".")[0])
        targets.discard(name)
        graph[name] = targets
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """What importing ``start`` can run: its imports, theirs, and the packages above each."""
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        for target in graph.get(current, set()):
            parents = [".".join(target.split(".")[:i]) for i in range(1, target.count(".") + 1)]
            for name in [target, *parents]:
                if name not in seen and name != start:
                    seen.add(name)
                    todo.append(name)
    return seen


FOLDED = ("simclr", "linear_eval")  # packages whose subpackages and modules are folders


def folder(module: str) -> str:
    parts = module.split(".")
    if parts[0] not in FOLDED:
        return parts[0]
    return ".".join(parts[:2])


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_is_read_from_every_module(graph: dict[str, set[str]]) -> None:
    assert {
        "simclr.loss",
        "simclr.config.schema",
        "linear_eval.protocols.knn",
        "ablation.runner",
    } <= set(graph)
    assert "simclr.loss" in graph["simclr.module"]  # an edge the rules below rely on seeing
    assert "simclr.views.kornia_modules" in graph["simclr.augment"]
    assert "kornia" in graph["simclr.views.kornia_modules"]  # reached through simclr.augment


def test_linear_eval_subpackages_are_folders() -> None:
    assert (
        folder("linear_eval.protocols.knn")
        == folder("linear_eval.protocols")
        != folder("linear_eval.features.cache")
    )
    assert folder("linear_eval.config") == "linear_eval.config" != folder("linear_eval.commands")
    assert (
        folder("simclr.data.registry") == "simclr.data" and folder("ablation.runner") == "ablation"
    )


def test_the_core_never_imports_the_packages_built_on_it(graph: dict[str, set[str]]) -> None:
    upward = {
        (module, target)
        for module, targets in graph.items()
        if module.startswith("simclr")
        for target in targets
        if target.split(".")[0] in ("linear_eval", "ablation")
    }
    assert not upward


def test_evaluation_never_reaches_the_training_loop_or_kornia(graph: dict[str, set[str]]) -> None:
    reached = {
        (module, target)
        for module in graph
        if module.startswith("linear_eval")
        for target in reachable(graph, module)
        if target in TRAINING_ONLY
    }
    assert not reached


@pytest.mark.parametrize("typing_too", [False, True], ids=["run-time", "with-type-imports"])
def test_modules_and_folders_import_without_cycles(typing_too: bool) -> None:
    """Not even an import for type annotations only closes a circle (the package root's lazy
    names, ``simclr/__init__.py``, import nothing at run time and are left out)."""
    graph = import_graph(typing_too)
    if typing_too:
        graph = {module: targets for module, targets in graph.items() if module != "simclr"}
    first_party = {m: {t for t in ts if t in graph} for m, ts in graph.items()}
    folders: dict[str, set[str]] = {}
    for module, targets in first_party.items():
        edges = folders.setdefault(folder(module), set())
        edges.update(folder(target) for target in targets if folder(target) != folder(module))
    for name, edges in (("modules", first_party), ("folders", folders)):
        try:
            tuple(TopologicalSorter(edges).static_order())
        except CycleError as error:
            pytest.fail(f"{name} import each other: {' -> '.join(error.args[1])}")


def test_the_method_never_imports_the_machinery_that_runs_it(graph: dict[str, set[str]]) -> None:
    """simclr's rows (STYLE.md): the method (views, f, g, NT-Xent, LARS, the module) with its
    config and data sits below the run machinery (``simclr.run``) and the command line."""
    upward = {
        (module, target)
        for module, targets in graph.items()
        if module.startswith("simclr.") and not module.startswith(("simclr.run", "simclr.cli"))
        for target in targets
        if target.startswith(("simclr.run", "simclr.cli"))
    }
    assert not upward


# linear_eval's folders, each importing only from those before it: features <- protocols <-
# retrieval, finetune (which do not import each other); commands only dispatches to them
EVALUATION_ROWS = (
    ("linear_eval.features",),
    ("linear_eval.protocols",),
    ("linear_eval.retrieval", "linear_eval.finetune"),
)


def test_evaluation_imports_flow_one_way(graph: dict[str, set[str]]) -> None:
    row_of = {name: row for row, names in enumerate(EVALUATION_ROWS) for name in names}
    against = {
        (module, target)
        for module, targets in graph.items()
        if folder(module) in row_of
        for target in targets
        if folder(target) in row_of | {"linear_eval.commands": len(EVALUATION_ROWS)}
        and folder(target) != folder(module)
        and row_of.get(folder(target), len(EVALUATION_ROWS)) >= row_of[folder(module)]
    }
    assert not against


def test_evaluation_modules_load_no_kornia_and_no_training_loop() -> None:
    modules = sorted(module_name(p) for p in (ROOT / "linear_eval").rglob("*.py"))
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(set(sys.modules) & set({TRAINING_ONLY!r})))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "[]"


def test_retrieval_stands_on_the_features_not_on_the_protocols(graph: dict[str, set[str]]) -> None:
    """Retrieval searches feature vectors (linear_eval.features.vectors); the kNN protocol is a
    neighbour of it, not its foundation."""
    leaning = {
        (module, target)
        for module, targets in graph.items()
        if folder(module) == "linear_eval.retrieval"
        for target in targets
        if folder(target) == "linear_eval.protocols"
    }
    assert not leaning
