"""benchmarks/lightly_variants.py without lightly (which this environment must not have): the
project's encoder loaded as lightly's environment loads it, the spec's images handed to
lightly's transform, and the kNN task's chunks, normalisation and first-ranked class, with a
stand-in for lightly's ``knn_predict`` that ranks by the nearest neighbour.

lightly's own loops (``throughput``, ``quality``) are not run here: with stand-ins for its
transform, head and loss they would test the stand-ins. The smoke tests of throughput.py and
quality.py run them where lightly's environment exists.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from simclr.encoder import Encoder

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"

# lightly.utils.benchmarking.knn_predict(feature, feature_bank, feature_labels, num_classes,
# knn_k, knn_t) returns every query's classes ranked; this one ranks first the class of the
# bank column with the largest dot product, and records what it was given
FAKE_BENCHMARKING = """\
import torch

calls = []


def knn_predict(feature, feature_bank, feature_labels, num_classes, knn_k, knn_t):
    calls.append(
        {
            "rows": len(feature),
            "feature_norms": feature.norm(dim=1),
            "bank_shape": tuple(feature_bank.shape),
            "bank_norms": feature_bank.norm(dim=0),
            "arguments": (num_classes, knn_k, knn_t),
        }
    )
    nearest = feature_labels[(feature @ feature_bank).argmax(dim=1)]
    others = (nearest[:, None] + torch.arange(1, num_classes)) % num_classes
    return torch.cat([nearest[:, None], others], dim=1)
"""


def load(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def variants(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """lightly_variants.py imported as its interpreter imports it: ``common`` beside it."""
    monkeypatch.setitem(sys.modules, "common", load(BENCHMARKS / "common.py", "common"))
    return load(BENCHMARKS / "lightly_variants.py", "benchmark_lightly_variants")


class RecordingTransform:
    """Stand-in for lightly's SimCLRTransform: keeps its arguments; two views of a PIL image,
    the pixels and the pixels + 1, as float tensors (C, H, W)."""

    made: list[dict] = []

    def __init__(self, **kwargs) -> None:
        RecordingTransform.made.append(kwargs)

    def __call__(self, image) -> list[torch.Tensor]:
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32))[None]
        return [pixels, pixels + 1]


@pytest.fixture
def fake_lightly(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """A ``lightly`` package of stand-ins in sys.modules for this test only."""
    RecordingTransform.made = []
    package = types.ModuleType("lightly")
    package.__version__ = "0.0-fake"
    package.__path__ = []
    transforms = types.ModuleType("lightly.transforms")
    transforms.SimCLRTransform = RecordingTransform
    utils = types.ModuleType("lightly.utils")
    utils.__path__ = []
    benchmarking = types.ModuleType("lightly.utils.benchmarking")
    exec(FAKE_BENCHMARKING, benchmarking.__dict__)  # noqa: S102 - the stand-in's source above
    for module in (package, transforms, utils, benchmarking):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    return types.SimpleNamespace(transforms=RecordingTransform.made, knn_calls=benchmarking.calls)


# ----------------------------------------------------------------------------- the encoder
@pytest.mark.parametrize(
    "reference",
    [
        lambda: Encoder("resnet18", "strided", 3, False),
        lambda: Encoder("cifar_resnet8", "small", 1, True, width=2, shortcut="B"),
    ],
    ids=["torchvision", "cifar_resnet"],
)
def test_build_encoder_builds_the_projects_encoder_from_its_description(
    variants, reference
) -> None:
    torch.manual_seed(0)
    reference = reference()
    description = json.loads(json.dumps(reference.describe()))  # as quality.py's spec holds it
    torch.manual_seed(0)
    built = variants.build_encoder({"encoder": description})
    assert isinstance(built, Encoder) and built.describe() == reference.describe()
    expected = reference.state_dict()
    assert list(built.state_dict()) == list(expected)
    assert all(torch.equal(t, expected[k]) for k, t in built.state_dict().items())


ENCODER_IN_LIGHTLYS_ENVIRONMENT = """\
import json, sys
for name in ("lightning", "pytorch_lightning", "kornia", "omegaconf"):
    sys.modules[name] = None  # not there: importing it raises ImportError
sys.path.insert(0, sys.argv[1])
import torch
import lightly_variants
torch.manual_seed(0)
description = {"name": "resnet18", "stem": "pooled", "in_channels": 1, "residual": True}
encoder = lightly_variants.build_encoder({"encoder": description})
torch.save(encoder.state_dict(), sys.argv[2])
package = sys.modules["simclr"]
print(json.dumps({
    "init_ran": hasattr(package, "__file__") or hasattr(package, "__all__"),
    "package_path": list(package.__path__),
    "encoder_file": sys.modules[type(encoder).__module__].__file__,
    "simclr_modules": sorted(m for m in sys.modules if m.split(".")[0] == "simclr"),
}))
"""


def test_the_encoder_loads_from_its_file_without_lightning_kornia_or_omegaconf(
    tmp_path: Path,
) -> None:
    """In a process without the project's dependencies, as in lightly's environment, the
    encoder comes from simclr/encoder.py without running simclr/__init__.py, and it is the
    project's encoder: the same weights from the same seed."""
    weights = tmp_path / "encoder.pt"
    command = [sys.executable, "-c", ENCODER_IN_LIGHTLYS_ENVIRONMENT, str(BENCHMARKS), weights]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report == {
        "init_ran": False,
        "package_path": [str(ROOT / "simclr")],
        "encoder_file": str(ROOT / "simclr" / "encoder.py"),
        # the small ResNets' module needs torch alone
        "simclr_modules": ["simclr", "simclr.backbones", "simclr.encoder", "simclr.small_resnets"],
    }
    torch.manual_seed(0)
    expected = Encoder("resnet18", "pooled", 1, True).state_dict()
    loaded = torch.load(weights, weights_only=True)
    assert list(loaded) == list(expected)
    assert all(torch.equal(t, expected[k]) for k, t in loaded.items())


# ----------------------------------------------------------------------------- the images
def test_simclr_transform_gets_the_specs_arguments_with_sigmas_as_a_tuple(
    variants, fake_lightly
) -> None:
    kwargs = {"input_size": 28, "sigmas": [0.1, 2.0], "normalize": {"mean": [0.5], "std": [0.2]}}
    variants.simclr_transform(kwargs)
    variants.simclr_transform({"input_size": 16})
    assert fake_lightly.transforms == [
        {"input_size": 28, "sigmas": (0.1, 2.0), "normalize": {"mean": [0.5], "std": [0.2]}},
        {"input_size": 16},
    ]
    assert type(fake_lightly.transforms[0]["sigmas"]) is tuple  # JSON made it a list
    assert kwargs["sigmas"] == [0.1, 2.0]  # the caller's spec is left as it was


def test_image_loader_batches_the_specs_images_through_lightlys_transform(
    variants, fake_lightly, tmp_path: Path
) -> None:
    images = np.random.default_rng(0).integers(0, 255, (10, 1, 4, 4), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    spec = {
        "images": str(tmp_path / "images.npy"),
        "transform": {"input_size": 4},
        "batch_size": 3,
        "workers": 0,
    }

    def order(seed: int) -> list[int]:
        loader = variants.image_loader(spec, torch.Generator().manual_seed(seed))
        indices = []
        for first, second in loader:
            assert first.shape == second.shape == (3, 1, 4, 4)
            assert torch.equal(second, first + 1)  # the transform's two views, in order
            for view in first.to(torch.uint8).numpy():
                (index,) = np.flatnonzero((images == view).all(axis=(1, 2, 3)))
                indices.append(int(index))
        return indices

    first = order(1)
    assert len(first) == 9 == len(set(first))  # three full batches, the last image dropped
    assert first != sorted(first)  # shuffled
    assert order(1) == first and order(2) != first  # by the generator
    assert fake_lightly.transforms[0] == {"input_size": 4}


# ----------------------------------------------------------------------------- kNN
def knn_spec(tmp_path: Path, repeats: int = 2) -> tuple[dict, np.ndarray]:
    """Features whose rows differ in length by up to 100x, so that the nearest row by dot
    product is not the nearest by angle; and the class of each query's nearest by angle."""
    generator = np.random.default_rng(3)
    train = generator.normal(size=(20, 4)) * generator.uniform(0.1, 10.0, size=(20, 1))
    train_labels = generator.integers(0, 5, size=20)
    test = generator.normal(size=(7, 4)) * generator.uniform(0.1, 10.0, size=(7, 1))
    np.savez(
        tmp_path / "features.npz",
        train=train.astype(np.float32),
        train_labels=train_labels,
        test=test.astype(np.float32),
    )
    expected = []
    for query in test:  # the nearest by cosine, row by row
        cosines = [
            (query * row).sum() / np.sqrt((query**2).sum() * (row**2).sum()) for row in train
        ]
        expected.append(train_labels[int(np.argmax(cosines))])
    nearest_by_dot = train_labels[(test @ train.T).argmax(axis=1)]
    assert (nearest_by_dot != np.array(expected)).any()  # so unnormalised rows would show
    spec = {
        "device": "cpu",
        "features": str(tmp_path / "features.npz"),
        "predictions": str(tmp_path / "predictions.npy"),
        "k": 4,
        "temperature": 0.07,
        "chunk": 3,
        "classes": 5,
        "repeats": repeats,
    }
    return spec, np.array(expected)


def test_knn_asks_lightly_per_chunk_of_normalised_queries_and_keeps_the_top_class(
    variants, fake_lightly, tmp_path: Path
) -> None:
    spec, expected = knn_spec(tmp_path)
    result = variants.knn(spec)
    np.testing.assert_array_equal(np.load(spec["predictions"]), expected)
    calls = fake_lightly.knn_calls
    assert [call["rows"] for call in calls] == [3, 3, 1] * 2  # every query, once per repeat
    for call in calls:
        assert call["bank_shape"] == (4, 20)  # (dimension, rows), as lightly's bank is
        assert call["arguments"] == (5, 4, 0.07)
        torch.testing.assert_close(call["feature_norms"], torch.ones(call["rows"]))
        torch.testing.assert_close(call["bank_norms"], torch.ones(20))
    assert len(result["seconds"]) == 2 and isinstance(result["peak_mib"], float)


def test_main_writes_the_tasks_result_and_this_interpreters_environment(
    variants, fake_lightly, tmp_path: Path
) -> None:
    spec, _ = knn_spec(tmp_path, repeats=1)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    variants.main(["knn", str(tmp_path / "spec.json"), str(tmp_path / "result.json")])
    result = json.loads((tmp_path / "result.json").read_text())
    assert set(result) == {"seconds", "peak_mib", "environment"} and len(result["seconds"]) == 1
    assert result["environment"]["lightly"] == "0.0-fake"  # the versions of lightly's side
    assert result["environment"]["torch"] == torch.__version__


def test_run_lightly_runs_this_file_as_a_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hand-off end to end: common.run_lightly starts lightly_variants.py under an
    interpreter that finds the stand-in lightly package, and reads back its result."""
    site = tmp_path / "site"
    (site / "lightly" / "utils").mkdir(parents=True)
    (site / "lightly" / "__init__.py").write_text('__version__ = "0.0-fake"\n')
    (site / "lightly" / "utils" / "__init__.py").write_text("")
    (site / "lightly" / "utils" / "benchmarking.py").write_text(FAKE_BENCHMARKING)
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    common = load(BENCHMARKS / "common.py", "benchmark_common_for_lightly_variants")
    spec, expected = knn_spec(tmp_path, repeats=1)
    result = common.run_lightly(Path(sys.executable), "knn", spec)
    np.testing.assert_array_equal(np.load(spec["predictions"]), expected)
    assert result["environment"]["lightly"] == "0.0-fake" and len(result["seconds"]) == 1
