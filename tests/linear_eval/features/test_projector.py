"""Tests of linear_eval/features/projector.py: the files of ``simclr embed --projector`` read
back by TensorBoard's own projector plugin (its WSGI routes, as TensorBoard serves them) hold the
rows, metadata and images written; a sample is seeded and stated; the sprite stays in bounds."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format
from PIL import Image
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

import linear_eval.features.projector as projector
from linear_eval.features.encoders import raw_pixels
from linear_eval.features.extract import extract_features
from linear_eval.features.projector import export_projector, sample_rows, thumbnail_side
from simclr.cli import main

pytestmark = pytest.mark.usefixtures("single_thread")
ROUTE = "/data/plugin/projector"


def plugin_client(logdir: Path):
    """A werkzeug test client of TensorBoard's app with its projector plugin on ``logdir``,
    built as ``tensorboard --logdir`` builds it (an event multiplexer as data provider)."""
    from tensorboard.backend.application import TensorBoardWSGI
    from tensorboard.backend.event_processing.data_provider import MultiplexerDataProvider
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer
    from tensorboard.plugins.base_plugin import TBContext
    from tensorboard.plugins.projector.projector_plugin import ProjectorPlugin
    from werkzeug.test import Client
    from werkzeug.wrappers import Response

    multiplexer = EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    provider = MultiplexerDataProvider(multiplexer, str(logdir))
    context = TBContext(logdir=str(logdir), data_provider=provider, multiplexer=multiplexer)
    return Client(TensorBoardWSGI([ProjectorPlugin(context)]), Response)


def served(logdir: Path) -> dict:
    """What the projector's routes answer for its only embedding: config, tensor (float32
    rows), metadata (lines split at tabs) and the sprite (a PIL image)."""
    client = plugin_client(logdir)
    assert json.loads(client.get(f"{ROUTE}/runs").data) == ["."]
    config = json.loads(client.get(f"{ROUTE}/info?run=.").data)
    (embedding,) = config["embeddings"]
    rows, dim = map(int, embedding["tensorShape"])
    query = f"run=.&name={embedding['tensorName']}"
    tensor = client.get(f"{ROUTE}/tensor?{query}")
    metadata = client.get(f"{ROUTE}/metadata?{query}")
    sprite = client.get(f"{ROUTE}/sprite_image?{query}")
    assert tensor.status_code == metadata.status_code == sprite.status_code == 200
    return {
        "embedding": embedding,
        "tensor": np.frombuffer(tensor.data, np.float32).reshape(rows, dim),
        "metadata": [line.split("\t") for line in metadata.data.decode().splitlines()],
        "sprite": Image.open(io.BytesIO(sprite.data)),
    }


def cell(sprite: Image.Image, position: int, side: int) -> np.ndarray:
    columns = sprite.width // side
    top, left = (position // columns) * side, (position % columns) * side
    return np.asarray(sprite)[top : top + side, left : left + side]


def test_the_plugin_serves_every_row_its_metadata_and_its_image(tmp_path: Path, synthetic) -> None:
    config = synthetic.eval_config(None, f"data.name={synthetic.name}", "data.image_size=16")
    features = extract_features(raw_pixels(), config, "test", None, tmp_path / "cache")
    sample = sample_rows(len(features), 100, seed=0)
    record = export_projector(features, config, tmp_path / "projector", sample)
    assert record["points"] == record["of"] == 32 and not record["sampled"]

    text = (tmp_path / "projector" / "projector_config.pbtxt").read_text()
    parsed = text_format.Parse(text, ProjectorConfig())
    assert parsed.embeddings[0].sprite.image_path == "sprite.png"
    assert list(parsed.embeddings[0].tensor_shape) == [32, 256]

    answer = served(tmp_path / "projector")
    assert answer["embedding"]["sprite"]["singleImageDim"] == [16, 16]
    assert np.array_equal(answer["tensor"], features.representation[:])  # exact float32
    header, *rows = answer["metadata"]
    assert header == ["class", "label", "index", "row"] and len(rows) == 32
    assert rows[5] == ["class1", "1", "5", "5"]
    assert answer["sprite"].size == (6 * 16, 6 * 16)  # ceil(sqrt(32)) thumbnails a side
    images = synthetic.images("test").images
    for position in (0, 5, 31):
        assert np.array_equal(cell(answer["sprite"], position, 16), images[position, 0].numpy())


def test_a_sample_is_seeded_stated_and_served(run_dir: Path, tmp_path: Path, synthetic, capsys):
    out = tmp_path / "out"
    arguments = ["embed", "--checkpoint", str(run_dir), "--out", str(out), "--projector"]
    assert main([*arguments, "--projector-points", "5", *synthetic.eval_overrides]) == 0
    # 5 of the training split's 64 images, drawn by numpy's generator seeded with seed (0)
    expected = np.sort(np.random.default_rng(0).choice(64, 5, replace=False))
    stated = json.loads((out / "meta.json").read_text())["projector"]
    assert stated["sampled"] and (stated["points"], stated["of"], stated["seed"]) == (5, 64, 0)
    line = capsys.readouterr().out.splitlines()[-1]
    where = out / "projector"
    assert line == (
        f"projector: 5 of 64 images, sampled with seed 0 (at most 5), in {where} "
        f"(tensorboard --logdir {where})"
    )

    answer = served(where)
    header, *rows = answer["metadata"]
    assert [int(row[3]) for row in rows] == expected.tolist()
    labels = np.load(out / "labels.npy")
    assert [int(row[1]) for row in rows] == labels[expected].tolist()
    assert np.array_equal(answer["tensor"], np.load(out / "embeddings.npy")[expected])
    assert answer["sprite"].size == (3 * 16, 3 * 16)
    images = synthetic.images("train").images
    assert np.array_equal(cell(answer["sprite"], 4, 16), images[expected[4], 0].numpy())


def test_a_folder_gallery_names_each_point_by_its_file(
    run_dir: Path, tmp_path: Path, synthetic, gallery_of_test_images
) -> None:
    folder, _ = gallery_of_test_images(7, "img\t{}.png")  # a tab must not split the column
    out = tmp_path / "out"
    common = ["--checkpoint", str(run_dir), "--folder", str(folder), "--out", str(out)]
    assert main(["embed", *common, "--projector", *synthetic.eval_overrides]) == 0
    paths = (out / "paths.txt").read_text().splitlines()
    header, *rows = served(out / "projector")["metadata"]
    assert header == ["class", "label", "path", "row"]
    assert [row[2] for row in rows] == [p.replace("\t", " ") for p in paths]


def test_the_sprite_stays_within_the_limit(
    tmp_path: Path, synthetic, monkeypatch: pytest.MonkeyPatch
) -> None:
    for points in (1, 2, 10_000, 10_001, 65_536, 100_000):
        for image_side in (16, 28, 96, 224):
            side = thumbnail_side(points, image_side)
            assert 1 <= side <= image_side
            assert projector.grid_columns(points) * side <= projector.SPRITE_LIMIT
    monkeypatch.setattr(projector, "SPRITE_LIMIT", 40)  # 32 images of 16 px: 6 a side of 6 px
    config = synthetic.eval_config(None, f"data.name={synthetic.name}", "data.image_size=16")
    features = extract_features(raw_pixels(), config, "test", None, tmp_path / "cache")
    export_projector(features, config, tmp_path / "projector", sample_rows(32, 32, 0))
    answer = served(tmp_path / "projector")
    assert answer["embedding"]["sprite"]["singleImageDim"] == [6, 6]
    assert answer["sprite"].size == (36, 36)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--projector", "--projector-points", "0"], "--projector-points 0 is invalid"),
        (["--projector", "--projector-points", "100001"], "--projector-points 100001 is invalid"),
        (["--projector-points", "5"], "--projector-points is read only with --projector"),
        (["--projector"], "projector: is a file, not a folder"),
    ],
)
def test_bad_options_are_one_line_before_any_work(
    run_dir: Path, tmp_path: Path, synthetic, capsys, options: list[str], message: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "projector").write_text("in the way")
    cache = tmp_path / "cache"
    settings = [*synthetic.eval_overrides, f"features.cache_dir={cache}"]
    arguments = ["embed", "--checkpoint", str(run_dir), "--out", str(out), *options, *settings]
    assert main(arguments) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not cache.exists()  # nothing was extracted
