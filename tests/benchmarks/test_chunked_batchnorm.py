"""benchmarks/chunked_batchnorm.py: the shadow statistics are those of a run with
``running_stats="every_chunk"``, whose weights are the "last_chunk" run's; the population statistics
are what eval mode computes with them put in; one tiny run reports both choices."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "chunked_batchnorm.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("benchmark_chunked_batchnorm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny(script):
    """The default recipe at a global batch of 8 in chunks of 4, float32, and 16 random uint8
    images."""
    overrides = ["data.batch_size=8", "trainer.chunk_size=4", "trainer.precision=32-true"]
    config = script.load_config(None, [*overrides, "trainer.accelerator=cpu"])
    images = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator())
    return config, images


def test_the_shadow_holds_what_every_chunk_would_and_the_weights_do_not_depend_on_it(
    script, tiny
) -> None:
    config, images = tiny
    default = script.build(config)
    shadow = script.EveryChunkShadow(default)
    script.pretrain(default, config, images, steps=2)
    every_chunk = script.build(config)
    script.pretrain(every_chunk, config, images, steps=2, running_stats="every_chunk")
    for (name, weight), other in zip(default.named_parameters(), every_chunk.parameters()):
        assert torch.equal(weight, other), name  # trained twice: the same weights
    expected = script.running_statistics(every_chunk)
    assert shadow.updates() == 4  # 2 chunks a step, 2 steps
    for name, (mean, var) in shadow.statistics().items():
        torch.testing.assert_close(mean, expected[name][0], rtol=1e-5, atol=1e-6, msg=name)
        torch.testing.assert_close(var, expected[name][1], rtol=1e-5, atol=1e-6, msg=name)
    # and the choice changed them: the default's were updated twice, not 4 times
    default_mean = script.running_statistics(default)["encoder.backbone.bn1"][0]
    assert not torch.allclose(default_mean, expected["encoder.backbone.bn1"][0], rtol=1e-3)


def test_eval_mode_with_the_population_statistics_normalises_each_layer_by_them(
    script, tiny
) -> None:
    config, images = tiny
    module = script.build(config)
    script.pretrain(module, config, images, steps=1)
    before = script.running_statistics(module)
    population = script.population_statistics(module, images)
    for name, (mean, var) in script.running_statistics(module).items():
        assert torch.equal(mean, before[name][0]) and torch.equal(var, before[name][1]), name
    # the whole sample in training mode: each layer normalised by its own statistics
    with torch.no_grad(), script.unchanged_buffers(module):
        module.train()
        expected = module.encoder(module._layout(module.views.normalize(images)))
    with script.statistics_put_in(module, population):
        got = script.representations(module, images)
    torch.testing.assert_close(torch.from_numpy(got), expected, rtol=1e-4, atol=1e-4)
    for name, (mean, _) in script.running_statistics(module).items():
        assert torch.equal(mean, before[name][0]), name  # put in, then taken out
    errors = script.relative_errors(population, population)
    assert all(error == {"mean": 0.0, "var": 0.0} for error in errors.values())


def test_the_horizon_of_each_choice() -> None:
    spec = importlib.util.spec_from_file_location("benchmark_chunked_batchnorm", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    once = script.horizon(0.1, 1, chunk=64, batch=512)
    assert once["horizon_steps"] == 10.0 and once["horizon_images_trained"] == 5120
    every = script.horizon(0.1, 8, chunk=64, batch=512)  # 1 - 0.9^8 = 0.5695
    assert every["horizon_steps"] == pytest.approx(1.756, abs=1e-3)
    assert once["images_averaged"] == every["images_averaged"] == 640


@pytest.mark.slow
def test_one_tiny_run_reports_both_choices_against_the_population(
    tmp_path: Path, fashion_mnist_root: Path, run_script
) -> None:
    arguments = ["--batch", "12", "--chunk", "4", "--steps", "2", "--population", "64"]
    arguments += ["--queries", "32", "--k", "10", "5", "--data-root", str(fashion_mnist_root)]
    report = run_script("chunked_batchnorm.py", *arguments, out=tmp_path / "bn.json")
    assert [point["step"] for point in report["points"]] == [1, 2]  # end of warm-up, end
    final = report["points"][-1]
    assert final["updates"] == {"last_chunk": 2, "every_chunk": 6}
    for choice in ("last_chunk", "every_chunk"):
        found = final["choices"][choice]
        assert len(found["layers"]) == 21  # ResNet-18's 20 and the head's hidden one
        assert 0 <= found["summary"]["mean_median"] <= found["summary"]["mean_max"]
    assert set(report["knn_top1"]) == {"last_chunk", "every_chunk", "population"}
    for values in report["knn_top1"].values():
        assert set(values) == {"10", "5"} and all(0 <= v <= 1 for v in values.values())
    assert len(report["losses"]) == 2
