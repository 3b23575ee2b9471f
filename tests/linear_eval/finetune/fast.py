"""The fine-tuning tests' settings: one epoch of batch 8, no progress bar, one weight decay."""

from __future__ import annotations

from pathlib import Path

from linear_eval.features.encoders import LoadedEncoder, load_encoder

FAST = [
    "finetune.epochs=1",
    "finetune.batch_size=8",
    "finetune.progress_bar=false",
    "linear.weight_decays=[0.0]",
]


def load_fast(run_dir: Path, synthetic, *overrides: str) -> tuple[LoadedEncoder, object]:
    """The encoder of ``run_dir`` and the synthetic eval config with :data:`FAST` and
    ``overrides``."""
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config, *FAST, *overrides)
    return loaded, config
