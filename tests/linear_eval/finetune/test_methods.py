"""Tests of linear_eval/finetune/methods.py: fine-tuning and training from scratch share every
setting but their initial weights."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from linear_eval.finetune.methods import FINE_TUNED, FROM_SCRATCH
from linear_eval.finetune.run import finetune
from tests.linear_eval.finetune.fast import load_fast

pytestmark = pytest.mark.usefixtures("single_thread")


def test_scratch_and_pretrained_share_every_setting_but_the_initial_weights(synthetic) -> None:
    # run_dir's untrained f is torch's init under seed 0: the scratch baseline's own weights
    run_dir = synthetic.make_run("seed5", seed=5)
    loaded, config = load_fast(run_dir, synthetic, "finetune.labels_per_class=2")
    report = finetune(loaded, config)
    resolved = {}
    for method in (FINE_TUNED, FROM_SCRATCH):
        path = Path(report["results"][method]["run_dir"]) / "config.yaml"
        resolved[method] = OmegaConf.to_container(OmegaConf.load(path))
    tuned, scratch = resolved[FINE_TUNED], resolved[FROM_SCRATCH]
    assert tuned["init_fingerprint"] == loaded.extractor.fingerprint
    assert scratch["init_fingerprint"] != tuned["init_fingerprint"]
    assert {k for k in tuned if tuned[k] != scratch[k]} == {"init", "init_fingerprint"}
    assert tuned["resolved_epochs"] == 1 and tuned["finetune"]["labels_per_class"] == 2
