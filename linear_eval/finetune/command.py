"""The work of ``simclr finetune``: refused under an external launcher, then one run on one label
subset or a sweep over label fractions, its tables printed and where they were written."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from linear_eval.features.gallery import load
from linear_eval.finetune.report import format_sweep, format_table
from linear_eval.finetune.run import finetune
from linear_eval.finetune.sweep import finetune_sweep
from simclr.errors import ConfigError
from simclr.run.launch import launcher_variables_set
from simclr.run.paths import check_folder_to_write


def refuse_external_launcher(command: str) -> None:
    """One copy per process would train and write the same run directory: the command starts
    its own processes instead (finetune.devices)."""
    world = int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", "1")))
    if launcher_variables_set() and world > 1:
        raise ConfigError(
            f"simclr {command} was started as {world} processes by a launcher (torchrun, srun): "
            "run it once and set finetune.devices=N, it starts its N processes itself"
        )


def finetune_and_report(args: argparse.Namespace) -> Path:
    """Fine-tune the encoder of ``args`` (``checkpoint``, ``config``, ``overrides``, ``out``,
    ``sweep``: the options of ``simclr finetune``) beside its baselines, print the table of each
    run (and with ``--sweep`` the sweep's table) and where the results went; that directory."""
    refuse_external_launcher("finetune")
    if args.out:
        check_folder_to_write("--out", args.out)
    loaded, config = load(args)
    if not args.out:  # RUN/finetune/NAME
        check_folder_to_write("--out", loaded.run_dir / "finetune")
    if args.sweep:
        reports, sweep_dir = finetune_sweep(loaded, config, args.out)
        for report in reports:
            print(format_table(report) + "\n")
        print(format_sweep(reports))
        print(f"wrote {sweep_dir / 'sweep.json'} and {sweep_dir / 'label_efficiency.png'}")
        return sweep_dir
    report = finetune(loaded, config, args.out)
    print(format_table(report))
    print(f"wrote {Path(report['run_dir']) / 'finetune.json'}")
    return Path(report["run_dir"])
