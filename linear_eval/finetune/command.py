"""The work of ``simclr finetune``: one run on one label subset or a sweep over label fractions,
its tables printed and where they were written; the command is refused under an external
launcher."""

from __future__ import annotations

import os
from pathlib import Path

from linear_eval.config import EvalConfig
from linear_eval.features.encoders import LoadedEncoder
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


def finetune_and_report(
    loaded: LoadedEncoder, config: EvalConfig, out: str | Path | None = None, sweep: bool = False
) -> Path:
    """Fine-tune ``loaded`` with ``config`` beside its baselines in ``out`` (default:
    RUN/finetune/NAME), or with ``sweep`` at every fraction of ``finetune.sweep_fractions``;
    print the table of each run (and the sweep's table) and where the results went; that
    directory. The folder written is checked first."""
    check_folder_to_write("--out", out or loaded.run_dir / "finetune")
    if sweep:
        reports, sweep_dir = finetune_sweep(loaded, config, out)
        for report in reports:
            print(format_table(report) + "\n")
        print(format_sweep(reports))
        print(f"wrote {sweep_dir / 'sweep.json'} and {sweep_dir / 'label_efficiency.png'}")
        return sweep_dir
    report = finetune(loaded, config, out)
    print(format_table(report))
    print(f"wrote {Path(report['run_dir']) / 'finetune.json'}")
    return Path(report["run_dir"])
