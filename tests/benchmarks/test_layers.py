"""benchmarks/layers.py: every layer of g on a run's frozen h, the last one being z."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from simclr.module import SimCLR
from simclr.run.torch_files import read_torch_file

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "layers.py"


def load_script():
    spec = importlib.util.spec_from_file_location("benchmark_layers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_layer_of_the_head_ends_in_the_modules_own_z(run_dir: Path, synthetic) -> None:
    layers = load_script()
    config = synthetic.pretrain_config()
    head = layers.head_of(run_dir, config, 512)
    h = np.random.default_rng(0).normal(size=(6, 512)).astype(np.float32)
    outputs = layers.layer_outputs(head, h)
    assert list(outputs) == ["h", "g[1] Linear", "g[2] BatchNorm1d", "g[3] ReLU", "g[4] Linear = z"]
    assert (outputs["g[3] ReLU"] >= 0).all()
    # the truth: the training module's own head, loaded from the same checkpoint, in eval mode
    module = SimCLR.from_config(config, num_classes=synthetic.classes)
    module.load_state_dict(read_torch_file(run_dir / "checkpoints" / "last.ckpt")["state_dict"])
    with torch.no_grad():
        z = module.eval().head(torch.from_numpy(h)).numpy()
    np.testing.assert_allclose(outputs["g[4] Linear = z"], z, rtol=1e-5, atol=1e-6)


def test_every_layer_gets_a_knn_accuracy(run_dir: Path) -> None:
    results = load_script().evaluate_layers(run_dir, (3,), 0.1)
    assert list(results)[0] == "h" and list(results)[-1].endswith("= z")
    for row in results.values():
        assert 0.0 <= row["knn_top1"]["3"] <= 1.0
