"""The pages themselves: README.md stays one page, every page is in the site's navigation, every
file, module and name they point at exists, the architecture page lists exactly the modules
there are, and CI runs the checks README.md gives. (The strict site build itself is one of those
checks: `python3 -m mkdocs build --strict`.)"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

from tests.docs.pages import (
    DOCS,
    ROOT,
    documentation_pages,
    fenced_blocks,
    inline_code,
    nav_pages,
    page_name,
)
from tests.docs.test_commands import parse_benchmark

PACKAGES = ("simclr", "linear_eval", "ablation")
LISTED_ROOTS = (*PACKAGES, "benchmarks")  # what the architecture page lists, module by module
REPOSITORY_PATH = re.compile(
    r"^(?:\./)?(?:simclr|linear_eval|ablation|benchmarks|configs|tests|docs|examples|\.ci)/\S*$"
)
BENCHMARKS = "quality|throughput|knn|retrieval|layers|views|augment|gpu_recipe"
RESULT_FILE = re.compile(rf"^(?:results/)?(?:{BENCHMARKS})\w*\.json$")  # benchmarks/results/
DOTTED = re.compile(r"^(?:simclr|linear_eval|ablation)(?:\.\w+)+")
NOT_MODULES = {"simclr.commands"}  # the entry-point group of sub-commands


def test_readme_is_one_page() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def test_every_page_is_in_the_navigation_and_every_entry_is_a_page() -> None:
    listed = nav_pages()
    written = [p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")]
    generated = [entry for entry in listed if entry.startswith("reference/")]
    assert generated == ["reference/"], "the API reference is generated (docs/gen_api.py)"
    assert sorted(entry for entry in listed if entry not in generated) == sorted(written)


def test_readme_links_point_at_files() -> None:
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    missing = [link for link in links if "://" not in link and not (ROOT / link).exists()]
    assert not missing


def expand(path: str) -> list[str]:
    """``a_{x,y}_b`` -> ``a_x_b``, ``a_y_b``."""
    match = re.search(r"\{([^{}]*)\}", path)
    if not match:
        return [path]
    options = match[1].split(",")
    return [e for o in options for e in expand(path[: match.start()] + o + path[match.end() :])]


def repository_paths(text: str) -> list[str]:
    """The repository files and folders that the inline code of a page names."""
    words = [w.strip("(),;:'\"") for span in inline_code(text) for w in span.split()]
    named = []
    for word in words:
        if "..." in word or "<" in word:
            continue  # an abbreviated or templated name
        if REPOSITORY_PATH.match(word) or word == "./setup.sh":
            named += expand(word.removeprefix("./"))
        elif RESULT_FILE.match(word):
            named += [f"benchmarks/results/{w.removeprefix('results/')}" for w in expand(word)]
    return named


@pytest.mark.parametrize("page", documentation_pages(), ids=page_name)
def test_every_repository_path_a_page_names_exists(page: Path) -> None:
    missing = [p for p in repository_paths(page.read_text()) if not list(ROOT.glob(p))]
    assert not missing


@pytest.mark.parametrize("page", documentation_pages(), ids=page_name)
def test_every_module_and_name_a_page_names_exists(page: Path) -> None:
    missing = []
    for span in inline_code(page.read_text()):
        for dotted in DOTTED.findall(span):
            if dotted not in NOT_MODULES and not resolves(dotted):
                missing.append(dotted)
    assert not missing


def resolves(dotted: str) -> bool:
    """Whether ``a.b.c`` is a module, or a name reachable from the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        try:
            for name in parts[cut:]:
                target = getattr(target, name)
        except AttributeError:
            return False
        return True
    return False


def existing_modules() -> set[str]:
    """Every module file (package ``__init__.py`` files as their folder) of the listed roots."""
    found = set()
    for root in LISTED_ROOTS:
        for path in (ROOT / root).rglob("*.py"):
            parts = path.relative_to(ROOT).parts
            if "__pycache__" in parts or any(part.startswith(".") for part in parts):
                continue  # caches, and hidden folders such as benchmarks/.venv-lightly
            relative = path.relative_to(ROOT).as_posix()
            found.add(relative[: -len("__init__.py")] if path.name == "__init__.py" else relative)
    return found


def listed_modules(text: str) -> set[str]:
    """The modules and packages a page names (folders that are not packages, such as the
    recipes' or the benchmarks', are not modules)."""
    words = {w for span in inline_code(text) for w in span.split()}
    pattern = re.compile(rf"^(?:{'|'.join(LISTED_ROOTS)})/(?:[\w/]*\.py|(?:\w+/)*)$")
    folders = {w for w in words if w.endswith("/") and (ROOT / w).is_dir()}
    plain = {w for w in folders if not (ROOT / w / "__init__.py").is_file()}
    return {w for w in words if pattern.match(w)} - plain


def test_the_architecture_page_lists_exactly_the_modules_there_are() -> None:
    listed = listed_modules((DOCS / "architecture.md").read_text())
    existing = existing_modules()
    assert sorted(existing - listed) == [], "modules the architecture page does not list"
    assert sorted(listed - existing) == [], "the architecture page lists what does not exist"


def test_the_readme_names_the_public_names() -> None:
    import simclr

    text = " ".join((ROOT / "README.md").read_text().split())
    sentence = text.split("The public names (`simclr.__all__`):")[1].split(";")[0]
    assert re.findall(r"`(\w+)`", sentence) == [n for n in simclr.__all__ if n != "__version__"]


def readme_checks() -> str:
    """The README's test command: the second line of its quick-start block."""
    (block,) = [b for b in fenced_blocks((ROOT / "README.md").read_text()) if "pytest" in b.text]
    (line,) = [line for line in block.text.splitlines() if "pytest" in line]
    return line.split("  #")[0].strip()


def test_ci_runs_setup_then_exactly_the_readme_checks() -> None:
    commands = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd ", "export "))
    ]
    assert commands == ["./setup.sh", readme_checks()]
    assert "mkdocs build --strict" in readme_checks()
    assert '".[dev,docs]"' in (ROOT / "setup.sh").read_text()


def test_the_site_is_built_into_an_ignored_folder() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    assert re.search(r"^site_dir: site$", config, re.M)
    assert "/site/" in (ROOT / ".gitignore").read_text().splitlines()


def benchmark_commands() -> list[tuple[str, list[str]]]:
    """Every ``python benchmarks/NAME.py ...`` a page shows, inline or fenced (one brace
    alternative each: ``{32-true,bf16-mixed}`` -> ``32-true``)."""
    found = []
    for page in documentation_pages():
        text = page.read_text()
        spans = inline_code(text) + [b.text for b in fenced_blocks(text)]
        for span in spans:
            for match in re.finditer(r"python3? (benchmarks/\w+\.py)([^`\n#]*)", span):
                arguments = re.sub(r"\{([^,}]*),[^}]*\}", r"\1", match[2])
                arguments = re.sub(r"<[^>]*>", "PLACEHOLDER", arguments)
                found.append((f"{page_name(page)}: {match[1]}{match[2]}", [match[1], arguments]))
    return found


@pytest.mark.parametrize("where, command", benchmark_commands(), ids=lambda v: str(v)[:90])
def test_every_benchmark_command_a_page_shows_parses(where: str, command: list[str]) -> None:
    script, arguments = command
    parse_benchmark(script, shlex.split(arguments))
