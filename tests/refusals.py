"""The section walks' shared check (tests/simclr/cli and tests/linear_eval test_section_checks):
each invalid ``key=value`` refused in one line naming the key, before anything is written."""

from __future__ import annotations

from pathlib import Path

from simclr.cli import main


def written(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under ``root`` with its size, modification time and first bytes."""
    return {
        str(path): (path.stat().st_size, path.stat().st_mtime_ns, path.read_bytes()[:64])
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def refusals(argvs: dict[str, list[str]], root: Path, capsys) -> list[str]:
    """What went wrong for each ``override: argv`` of ``simclr``: an exit other than 2, other
    than one error line naming the override's key, or a file written under ``root``."""
    failures, before = [], written(root)
    for override, argv in argvs.items():
        key = override.split("=")[0]
        code = main(argv)
        errors = capsys.readouterr().err.strip().splitlines()
        if code != 2 or len(errors) != 1 or key not in errors[0]:
            failures.append(f"simclr {argv[0]} {override}: exit {code}, {errors}")
        if written(root) != before:
            failures.append(f"simclr {argv[0]} {override}: wrote files before refusing")
            before = written(root)  # each value's own writes, not the earlier ones'
    return failures
