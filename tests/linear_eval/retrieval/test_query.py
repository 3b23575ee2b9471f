"""Tests of linear_eval/retrieval/query.py: query images read, encoded as the gallery was and
answered with their nearest gallery rows, a batch at a time; a 16-bit picture answered as its
8-bit original."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from linear_eval.features.encoders import load_encoder
from linear_eval.features.extract import extract_features
from linear_eval.retrieval.build import build_index
from linear_eval.retrieval.compatible import check_compatible, preprocessing_of
from linear_eval.retrieval.query import (
    gallery_images,
    query_features,
    query_paths,
    read_query,
    readable_queries,
    retrieve,
    retrieve_in_batches,
)
from simclr.errors import DataError

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("index_type", ["flat", "ivf"])
def test_a_gallery_image_retrieves_itself_first(run_dir: Path, synthetic, index_type: str) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(
        loaded.pretrain_config, f"retrieval.index_type={index_type}", "retrieval.nlist=4"
    )
    features = extract_features(loaded.extractor, config, "train", None, run_dir / "cache")
    gallery = build_index(features, loaded.extractor, config, loaded.source)
    assert gallery.meta["index_type"] == index_type

    rows = [0, 5, 17]
    images = [synthetic.images("train").images[row] for row in rows]
    queries = query_features(loaded.extractor, images, preprocessing_of(gallery))
    check_compatible(gallery, loaded.extractor, queries.shape[1])
    for row, hits in zip(rows, retrieve(gallery, queries, k=3)):
        assert hits[0]["row"] == row and hits[0]["item"] == row
        assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
        assert hits[0]["label"] == row % 4 and hits[0]["class"] == f"class{row % 4}"
        assert [h["rank"] for h in hits] == [1, 2, 3]
        assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    neighbours = gallery_images(gallery, [hits[0]["row"] for hits in retrieve(gallery, queries, 1)])
    assert all(torch.equal(n, i) for n, i in zip(neighbours, images))


@pytest.fixture
def queries(tmp_path: Path, synthetic, save_png) -> dict[str, Path]:
    """Two readable query files (images 3 and 7 of the training split) and an unreadable one."""
    images = synthetic.images("train").images
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return {
        "three": save_png(images[3], tmp_path / "three.png"),
        "broken": broken,
        "seven": save_png(images[7], tmp_path / "seven.png"),
    }


def test_a_query_is_read_as_uint8_with_the_channels_asked_for(queries, synthetic) -> None:
    grey = read_query(queries["seven"], channels=1)
    assert grey.dtype == torch.uint8 and torch.equal(grey, synthetic.images("train").images[7])
    colour = read_query(queries["seven"], channels=3)
    assert colour.shape == (3, synthetic.size, synthetic.size)
    assert all(torch.equal(channel, grey[0]) for channel in colour)


@pytest.mark.parametrize("name", ["broken", "missing"])
def test_an_unreadable_query_is_a_one_line_data_error(queries, tmp_path: Path, name: str):
    path = queries.get(name, tmp_path / "missing.png")
    with pytest.raises(DataError, match="cannot read query image") as error:
        read_query(path, channels=1)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_unreadable_queries_are_skipped_with_a_warning_naming_each(queries, synthetic, capsys):
    paths = [str(queries[name]) for name in ("three", "broken", "seven")]
    with pytest.warns(UserWarning, match="broken.png") as caught:
        kept, images = readable_queries(paths, channels=1)
    assert len(caught) == 1
    assert kept == [paths[0], paths[2]]
    train = synthetic.images("train").images
    assert torch.equal(images[0], train[3]) and torch.equal(images[1], train[7])
    assert capsys.readouterr().err == ""  # the count is the command's to print


def test_readable_queries_alone_are_neither_warned_about_nor_counted(queries, capsys) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept, images = readable_queries([str(queries["seven"])], channels=1)
    assert kept == [str(queries["seven"])] and len(images) == 1
    assert capsys.readouterr().err == ""


def test_when_no_query_is_readable_the_error_is_one_line(queries, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read query image") as one:
        readable_queries([str(queries["broken"])], channels=1)
    paths = [str(queries["broken"]), str(tmp_path / "missing.png")]
    with pytest.raises(DataError, match="none of the 2 query images is readable") as both:
        readable_queries(paths, channels=1)
    assert "broken.png" in str(both.value)
    assert "\n" not in str(one.value) and "\n" not in str(both.value)


def test_queries_are_answered_a_batch_at_a_time_in_order(
    gallery_of_test_split, tmp_path: Path, synthetic, save_png, capsys
) -> None:
    loaded, _, gallery = gallery_of_test_split
    images = synthetic.images("test").images
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    paths = [str(save_png(images[i], tmp_path / f"q{i}.png")) for i in (5, 2)]
    paths.insert(1, str(broken))
    paths.append(str(save_png(images[8], tmp_path / "q8.png")))
    with pytest.warns(UserWarning, match="broken.png"):
        answers = list(
            retrieve_in_batches(gallery, loaded, preprocessing_of(gallery), paths, 3, batch_size=2)
        )
    assert [path for path, _, _ in answers] == [paths[0], paths[2], paths[3]]
    assert [hits[0]["item"] for _, _, hits in answers] == [5, 2, 8]
    assert all(len(hits) == 3 for _, _, hits in answers)
    assert torch.equal(answers[1][1], images[2])
    assert capsys.readouterr().err == "skipped 1 of 4 query images\n"


def test_when_no_query_of_any_batch_is_readable_the_error_is_one_line(
    gallery_of_test_split, tmp_path: Path
) -> None:
    loaded, _, gallery = gallery_of_test_split
    paths = [str(tmp_path / f"missing{i}.png") for i in range(3)]
    batches = retrieve_in_batches(gallery, loaded, preprocessing_of(gallery), paths, 1, 2)
    with pytest.warns(UserWarning), pytest.raises(DataError, match="none of the 3") as error:
        list(batches)
    assert "\n" not in str(error.value)


def write_folder(images, labels, folder: Path, bits: int) -> list[Path]:
    """The uint8 (N, 1, H, W) ``images`` written as PNG files of ``bits`` bits per pixel in class
    folders: x as x in 8 bits, as x * 257 in 16 bits (the same picture); their paths."""
    paths = []
    for row, (image, label) in enumerate(zip(images, labels.tolist())):
        pixels = image[0].numpy()
        pixels = pixels if bits == 8 else pixels.astype(np.uint16) * 257
        (folder / f"class{label}").mkdir(parents=True, exist_ok=True)
        paths.append(folder / f"class{label}" / f"{row:03d}.png")
        Image.fromarray(pixels).save(paths[-1])
    return paths


def test_an_8_bit_and_a_16_bit_picture_have_the_same_features_and_neighbours(
    run_dir: Path, synthetic, tmp_path: Path
) -> None:
    split = synthetic.images("test")
    loaded = load_encoder(run_dir)
    features, galleries, queries = {}, {}, {}
    for bits in (8, 16):
        queries[bits] = write_folder(split.images, split.labels, tmp_path / f"png{bits}", bits)
        overrides = ["data.name=folder", f"data.path={tmp_path / f'png{bits}'}", "data.channels=1"]
        config = synthetic.eval_config(loaded.pretrain_config, *overrides)
        features[bits] = extract_features(loaded.extractor, config, "all", None, tmp_path / "c")
        galleries[bits] = build_index(features[bits], loaded.extractor, config, loaded.source)
    assert Image.open(queries[16][0]).mode == "I;16"
    assert np.array_equal(features[8].representation[:], features[16].representation[:])
    answers = {}
    for bits in (8, 16):  # a 16-bit query against the 8-bit gallery, and the other way round
        gallery = galleries[24 - bits]
        paths = [str(path) for path in queries[bits][:6]]
        preprocessing = preprocessing_of(gallery)
        answers[bits] = list(retrieve_in_batches(gallery, loaded, preprocessing, paths, 4, 3))
    for (_, image8, hits8), (_, image16, hits16) in zip(answers[8], answers[16]):
        assert torch.equal(image8, image16)
        assert [hit["row"] for hit in hits8] == [hit["row"] for hit in hits16]
        rows = [hit["row"] for hit in hits8]
        neighbours = zip(gallery_images(galleries[8], rows), gallery_images(galleries[16], rows))
        assert all(torch.equal(eight, sixteen) for eight, sixteen in neighbours)


def test_a_query_folder_finds_gif_and_webp_files_and_names_what_else_it_holds(tmp_path: Path):
    (tmp_path / "queries").mkdir()
    Image.new("L", (4, 4), 9).save(tmp_path / "queries" / "a.gif")
    Image.new("L", (4, 4), 9).save(tmp_path / "queries" / "b.webp")
    (tmp_path / "queries" / "c.txt").write_text("not an image")
    found = query_paths([str(tmp_path / "queries")])
    assert found == [str(tmp_path / "queries" / name) for name in ("a.gif", "b.webp")]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "c.txt").write_text("not an image")
    with pytest.raises(
        DataError, match=r"holds no image files \(found 1 \.txt; images are .*\.gif"
    ):
        query_paths([str(tmp_path / "notes")])
