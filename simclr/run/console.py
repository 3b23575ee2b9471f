"""What a run prints: the project's lines and real warnings, not Lightning's chatter.

Lightning writes notes through its loggers (a product tip, the fraction of validation batches
used, how it estimates the steps, that it restores a checkpoint) and warnings that a user of
this project can do nothing about (a deprecation inside Lightning's own code, the checkpoint
directory a resumed run writes into by design). They are dropped by message; anything else
Lightning says stays visible.
"""

from __future__ import annotations

import logging
import re
import warnings

# notes a person running ``simclr pretrain`` has no use for; the project prints its own
# scale line (precision included), resume line and summary
LIGHTNING_NOTES = (
    r"💡 Tip:",
    r"`Trainer\(limit_val_batches=1(\.0)?\)` was configured",
    r"Loading `train_dataloader` to estimate",
    r"Using (bfloat16|16bit) Automatic Mixed Precision",
    r"Restoring states from the checkpoint",
    r"Restored all states from the checkpoint",
    r"`weights_only` was not set",
)
LIGHTNING_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated",  # inside Lightning's _pytree
    r"Checkpoint directory .* exists and is not empty",  # a resumed run writes there on purpose
    # simclr.run.resume restores the sampler's place in the epoch (a test holds it bit for bit)
    r"You're resuming from a checkpoint that ended before the epoch ended",
)
_NOTES = re.compile("|".join(LIGHTNING_NOTES))


class _DropNotes(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _NOTES.search(record.getMessage()) is None


def quiet_lightning() -> None:
    """Drop Lightning's notes and its warnings listed above (idempotent)."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, _DropNotes) for f in handler.filters):
                handler.addFilter(_DropNotes())
    for message in LIGHTNING_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
