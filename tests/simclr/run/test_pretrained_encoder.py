"""simclr/run/pretrained.py's load_pretrained and simclr/preprocess.py's Preprocess: images as a
user has them (uint8 or float, one, a batch or a list of any sizes, grey or RGB) give the h that
``simclr embed`` writes for the same files; the model stays frozen; bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from simclr.cli import main
from simclr.errors import ConfigError, DataError
from simclr.module import SimCLR
from simclr.preprocess import Preprocess
from simclr.run.pretrained import PretrainedEncoder, load_encoder, load_pretrained
from tests.conftest import save_run

pytestmark = pytest.mark.usefixtures("single_thread")

# (height, width) of the gallery's files: smaller, larger, wider and taller than the run's 16 px
SIZES = [(16, 16), (20, 13), (9, 30), (40, 40), (7, 7)]
RUNS = {
    "1 channel": [],  # the synthetic dataset's own: grey, mean 0.3, std 0.3
    "3 channels": [
        "data.channels=3",
        "augment.normalize.mean=[0.2,0.3,0.4]",
        "augment.normalize.std=[0.2,0.25,0.3]",
    ],
}


def make_run(synthetic, name: str, *overrides: str) -> Path:
    """A run directory as ``simclr pretrain`` leaves it, untrained (seeded) weights, with its
    BatchNorm running statistics moved off (0, 1) so that eval mode shows in h."""
    config = synthetic.pretrain_config(*overrides)
    torch.manual_seed(0)
    module = SimCLR.from_config(config, num_classes=synthetic.classes)
    for key, buffer in module.encoder.named_buffers():
        if key.endswith("running_mean"):
            buffer.normal_(0.0, 0.1)
        elif key.endswith("running_var"):
            buffer.uniform_(0.5, 2.0)
    return save_run(module, config, synthetic.tmp_path / name)


def write_gallery(folder: Path, channels: int) -> None:
    """PNG files of :data:`SIZES`, seeded noise; in a 3-channel gallery every other one is
    grey (the project copies grey to RGB)."""
    folder.mkdir()
    generator = np.random.default_rng(channels)
    for number, (height, width) in enumerate(SIZES):
        grey = channels == 1 or number % 2 == 1
        shape = (height, width) if grey else (height, width, 3)
        pixels = generator.integers(0, 256, shape, dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"image{number}.png")


def read_png(path: Path) -> torch.Tensor:
    """A PNG file as a user decodes it: uint8 (1, H, W) if grey, (3, H, W) if colour."""
    with Image.open(path) as image:
        pixels = torch.from_numpy(np.array(image))
    return pixels[None] if pixels.dim() == 2 else pixels.permute(2, 0, 1)


def embed(run_dir: Path, folder: Path, out: Path, synthetic) -> tuple[np.ndarray, list[Path]]:
    """``simclr embed --folder``'s rows (float32 on disk) and the file of each row."""
    argv = ["embed", "--checkpoint", str(run_dir), "--folder", str(folder), "--out", str(out)]
    assert main([*argv, *synthetic.eval_overrides, "features.dtype=float32"]) == 0
    files = [Path(line) for line in (out / "paths.txt").read_text().splitlines()]
    return np.load(out / "embeddings.npy"), files


@pytest.fixture(params=list(RUNS), ids=list(RUNS))
def run_and_gallery(request, synthetic, tmp_path: Path) -> tuple[Path, Path, int]:
    overrides = RUNS[request.param]
    channels = 3 if overrides else 1
    folder = tmp_path / "gallery"
    write_gallery(folder, channels)
    return make_run(synthetic, "run", *overrides), folder, channels


# ----------------------------------------------------------------------------- h as embed's
def test_h_of_uint8_and_float_images_is_the_h_simclr_embed_writes(
    run_and_gallery, synthetic, tmp_path: Path
) -> None:
    run_dir, folder, channels = run_and_gallery
    expected, files = embed(run_dir, folder, tmp_path / "embed", synthetic)
    assert len(files) == len(SIZES)
    model = load_pretrained(run_dir)
    assert model.encoder.in_channels == channels
    images = [read_png(path) for path in files]
    assert {image.shape[0] for image in images} == ({1} if channels == 1 else {1, 3})
    tolerance = {"rtol": 1e-5, "atol": 1e-5}
    expected = torch.from_numpy(expected)
    assert expected.std(dim=0).mean() > 1e-2  # h tells the images apart: the test can fail
    h = model(images)  # a list of any sizes
    assert h.shape == (len(SIZES), model.feature_dim) and h.dtype == torch.float32
    torch.testing.assert_close(h, expected, **tolerance)
    torch.testing.assert_close(model([image / 255 for image in images]), expected, **tolerance)
    for image, row in zip(images, expected, strict=True):  # one image (C, H, W) at a time
        torch.testing.assert_close(model(image), row, **tolerance)
        torch.testing.assert_close(model(image.double() / 255), row, **tolerance)
        # k / 255 in float16 times 255 falls below k for half the levels: rounded, not truncated
        torch.testing.assert_close(model(image.half() / 255), row, **tolerance)
        torch.testing.assert_close(model(image.long()[None])[0], row, **tolerance)


def test_the_preprocessing_is_the_one_embed_records(
    run_and_gallery, synthetic, tmp_path: Path
) -> None:
    run_dir, folder, _ = run_and_gallery
    out = tmp_path / "embed"
    embed(run_dir, folder, out, synthetic)
    recorded = json.loads((out / "meta.json").read_text())["preprocessing"]
    preprocess = load_pretrained(run_dir).transforms()
    assert isinstance(preprocess, Preprocess)
    normalize = preprocess.normalize
    mean, std = normalize.mean.flatten().tolist(), normalize.std.flatten().tolist()
    assert preprocess.image_size == recorded["image_size"]
    assert preprocess.channels == recorded["channels"]
    assert mean == pytest.approx(recorded["mean"]) and std == pytest.approx(recorded["std"])
    assert normalize.enabled == recorded["normalize"]


def test_transforms_then_load_encoder_is_the_same_h(run_dir: Path) -> None:
    """The preprocessing alone, torchvision's way: ``transforms()`` before the plain network."""
    model = load_pretrained(run_dir)
    images = torch.randint(0, 256, (3, 1, 21, 17), dtype=torch.uint8)
    inputs = model.transforms()(images)
    assert inputs.shape == (3, 1, 16, 16) and inputs.dtype == torch.float32
    with torch.no_grad():
        torch.testing.assert_close(load_encoder(run_dir)(inputs), model(images), rtol=0, atol=0)


def test_each_source_gives_the_same_model(run_dir: Path) -> None:
    images = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    expected = load_pretrained(run_dir)(images)
    for path in (run_dir / "encoder.pt", run_dir / "checkpoints" / "last.ckpt"):
        torch.testing.assert_close(load_pretrained(path)(images), expected, rtol=0, atol=0)


# ----------------------------------------------------------------------------- frozen
def test_the_model_is_frozen_whatever_it_is_told(run_dir: Path) -> None:
    """Eval mode (BatchNorm's running statistics: an image's h does not depend on its batch),
    kept by ``.train()``, and no gradient, so h can feed a probe that is trained."""
    model = load_pretrained(run_dir).train()
    assert isinstance(model, PretrainedEncoder)
    assert not any(module.training for module in model.modules())
    assert not any(parameter.requires_grad for parameter in model.parameters())
    images = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)
    h = model(images)
    assert not h.requires_grad and h.std(dim=0).mean() > 1e-2
    torch.testing.assert_close(model(images[:1]), h[:1])
    assert not model.requires_grad_(True)(images).requires_grad  # no graph is ever built


def test_images_are_moved_to_the_models_device(run_dir: Path) -> None:
    """Resized where they are (the CPU, as in simclr embed), then moved: on the "meta" device,
    which computes shapes only, a model left on the CPU's tensors would fail."""
    model = load_pretrained(run_dir).to("meta")
    h = model(torch.randint(0, 256, (2, 1, 20, 20), dtype=torch.uint8))
    assert h.device == torch.device("meta") and h.shape == (2, model.feature_dim)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_h_is_the_cpus(run_dir: Path) -> None:
    model = load_pretrained(run_dir)
    images = torch.randint(0, 256, (4, 1, 23, 19), dtype=torch.uint8)
    expected = model(images)
    model.to("cuda")
    for on in ("cpu", "cuda"):  # resized on the CPU as embed does, or on the GPU
        h = model(images.to(on))
        assert h.device.type == "cuda"
        torch.testing.assert_close(h.cpu(), expected, rtol=1e-3, atol=1e-3)


def test_an_empty_batch_gives_no_rows(run_dir: Path) -> None:
    model = load_pretrained(run_dir)
    assert model(torch.zeros(0, 1, 9, 9, dtype=torch.uint8)).shape == (0, model.feature_dim)


# ----------------------------------------------------------------------------- refusals
def refusal(model, images) -> str:
    with pytest.raises(DataError) as error:
        model(images)
    message = str(error.value)
    assert "\n" not in message
    return message


GREY = torch.zeros(1, 8, 8, dtype=torch.uint8)


@pytest.mark.parametrize(
    ("images", "named", "allowed"),
    [
        (torch.zeros(2, 4, 8, 8), "shape (2, 4, 8, 8)", "C = 1 (grey) or 3 (RGB)"),
        (torch.zeros(8, 8), "shape (8, 8)", "(C, H, W) or (N, C, H, W)"),
        (torch.zeros(1, 2, 1, 8, 8), "shape (1, 2, 1, 8, 8)", "(C, H, W) or (N, C, H, W)"),
        (torch.zeros(1, 0, 8), "shape (1, 0, 8)", "H and W >= 1"),
        (torch.full((1, 8, 8), 300), "dtype torch.int64 hold values 300..300", "within 0..255"),
        (torch.full((1, 8, 8), -1, dtype=torch.int16), "values -1..-1", "within 0..255"),
        (torch.linspace(-2, 2, 64).view(1, 8, 8), "values -2..2", "float in [0, 1]"),
        (torch.full((1, 8, 8), float("nan")), "values nan..nan", "float in [0, 1]"),
        (torch.zeros(1, 8, 8, dtype=torch.bool), "dtype torch.bool", "uint8 0..255"),
        (GREY.numpy(), "type ndarray", "a torch.Tensor"),
        ([], "images=[]", "one image or more"),
        ([GREY, GREY[None]], "shape (1, 1, 8, 8)", "(C, H, W), C = 1 or 3, in a list"),
    ],
)
def test_bad_images_are_refused_in_one_line_naming_them(
    run_dir: Path, images, named: str, allowed: str
) -> None:
    message = refusal(load_pretrained(run_dir), images)
    assert named in message and allowed in message.split("invalid: allowed: ", 1)[1]


def test_the_preprocessing_alone_refuses_the_same(run_dir: Path) -> None:
    preprocess = load_pretrained(run_dir).transforms()
    assert "values 300..300" in refusal(preprocess, torch.full((1, 8, 8), 300))


def test_an_encoder_pt_without_its_runs_config_is_refused(run_dir: Path) -> None:
    (run_dir / "config.yaml").unlink()
    with pytest.raises(ConfigError) as error:
        load_pretrained(run_dir / "encoder.pt")
    assert str(error.value) == (
        f"encoder {run_dir / 'encoder.pt'}: the run's config.yaml is not beside it, so its image "
        "size and normalisation are unknown: copy it there, or use load_encoder and preprocess "
        "the images yourself"
    )
