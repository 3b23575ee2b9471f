"""Write the API reference pages at build time, one per module of simclr/, linear_eval/ and
ablation/, found by walking the package folders (mkdocs-gen-files runs this; the pages never
exist on disk, so a module that is added, moved or removed is documented where it now lives).

Each page is a ``::: dotted.name`` directive for mkdocstrings; the navigation (``SUMMARY.md``,
read by mkdocs-literate-nav) mirrors the package tree.
"""

from __future__ import annotations

from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("simclr", "linear_eval", "ablation")

nav = mkdocs_gen_files.Nav()
for package in PACKAGES:
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "__pycache__" in parts or parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
            page = Path("reference", *parts, "index.md")
        else:
            page = Path("reference", *parts).with_suffix(".md")
        nav[parts] = page.relative_to("reference").as_posix()
        with mkdocs_gen_files.open(page, "w") as file:
            file.write(f"# `{'.'.join(parts)}`\n\n::: {'.'.join(parts)}\n")
        mkdocs_gen_files.set_edit_path(page, path.relative_to(ROOT))

with mkdocs_gen_files.open("reference/index.md", "w") as file:
    file.write("# API reference\n\nOne page per module, generated from its docstrings:\n\n")
    file.writelines(f"- [`{package}`]({package}/index.md)\n" for package in PACKAGES)
with mkdocs_gen_files.open("reference/SUMMARY.md", "w") as file:
    file.write("* [Overview](index.md)\n")
    file.writelines(nav.build_literate_nav())
