"""Tests of linear_eval/commands.py: the eval, index, retrieve, embed and plot sub-commands,
run through ``simclr``'s command root without a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simclr.cli import main

pytestmark = pytest.mark.usefixtures("single_thread")


def test_eval_prints_a_table_and_writes_eval_json(run_dir: Path, synthetic, capsys) -> None:
    code = main(["eval", "knn", "--checkpoint", str(run_dir), *synthetic.eval_overrides])
    assert code == 0
    out = capsys.readouterr().out
    assert "pretrained" in out and "random init" in out and "raw pixels" in out
    report = json.loads((run_dir / "eval.json").read_text())
    assert report["mode"] == "knn" and set(report["results"]["pretrained"]["knn"]) == {
        "1",
        "5",
        "200",
    }


def test_eval_refuses_an_unknown_mode_and_a_bad_key(run_dir: Path, capsys) -> None:
    assert main(["eval", "nearest", "--checkpoint", str(run_dir)]) == 2
    assert main(["eval", "--checkpoint", str(run_dir), "knn.k=[0]"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "knn.k" in errors[1]


def test_index_then_retrieve_finds_the_query_itself(
    run_dir: Path, tmp_path: Path, synthetic, save_png, index_of_train_split: Path, capsys
) -> None:
    index_dir = index_of_train_split
    query = save_png(synthetic.images("train").images[7], tmp_path / "query.png")
    capsys.readouterr()
    assert main(["retrieve", str(query), "--index", str(index_dir), "-k", "3", "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    first = result["neighbours"][0]
    assert first["item"] == 7 and first["score"] == pytest.approx(1.0, abs=1e-4)
    assert Path(result["grid"]).read_bytes()[:4] == b"\x89PNG"

    assert main(["retrieve", str(query), "--index", str(index_dir), "--no-grid"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"query {query}") and "1.0000" in text


def test_retrieve_refuses_an_index_of_another_encoder(
    run_dir: Path, tmp_path: Path, synthetic, save_png, capsys
) -> None:
    other_run = synthetic.make_run(name="other", seed=1)
    index_dir = tmp_path / "index"
    overrides = synthetic.eval_overrides
    main(["index", "--checkpoint", str(run_dir), "--out", str(index_dir), *overrides])
    query = save_png(synthetic.images("test").images[0], tmp_path / "query.png")
    code = main(["retrieve", str(query), "--index", str(index_dir), "--checkpoint", str(other_run)])
    assert code == 2
    assert "built with encoder" in capsys.readouterr().err


def test_an_image_folder_gallery_and_embed_and_plot(
    run_dir: Path, tmp_path: Path, synthetic, save_png
) -> None:
    folder = tmp_path / "gallery"
    folder.mkdir()
    images = synthetic.images("test").images
    paths = [save_png(images[i], folder / f"img{i:02d}.png") for i in range(12)]
    index_dir = tmp_path / "folder_index"
    common = ["--checkpoint", str(run_dir), "--folder", str(folder), *synthetic.eval_overrides]
    assert main(["index", *common, "--out", str(index_dir)]) == 0
    meta = json.loads((index_dir / "index.json").read_text())
    assert meta["paths"] == [str(p) for p in paths] and meta["indices"] is None

    embed_dir = tmp_path / "embed"
    assert main(["embed", *common, "--out", str(embed_dir)]) == 0
    assert (embed_dir / "paths.txt").read_text().splitlines() == [str(p) for p in paths]
    assert np.load(embed_dir / "embeddings.npy").shape == (12, 512)

    png = tmp_path / "map.png"
    assert main(["plot", *common, "--method", "pca", "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_plot_refuses_an_unknown_method_in_one_line(run_dir: Path, tmp_path: Path, capsys):
    # --method has no argparse choices: the config's check names the key, exit status 2
    png = tmp_path / "map.png"
    code = main(["plot", "--checkpoint", str(run_dir), "--method", "mds", "--out", str(png)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "plot.method" in err and "'mds'" in err
    assert err.startswith("simclr plot: error: ")
    assert not png.exists()


@pytest.mark.slow
def test_pretrain_then_evaluate_the_real_checkpoint(synthetic, capsys) -> None:
    from simclr.train import pretrain

    config = synthetic.pretrain_config("run.name=real", "trainer.max_epochs=1")
    summary = pretrain(config, quiet=True)
    checkpoint = Path(summary.run_dir) / "checkpoints" / "last.ckpt"
    overrides = synthetic.eval_overrides
    assert main(["eval", "all", "--checkpoint", str(checkpoint), *overrides]) == 0
    report = json.loads((Path(summary.run_dir) / "eval.json").read_text())
    from_export = main(["eval", "knn", "--checkpoint", summary.encoder_path, *overrides])
    assert from_export == 0
    again = json.loads((Path(summary.run_dir) / "eval.json").read_text())
    # the exported encoder is the checkpoint's f: same fingerprint, cached features reused
    assert again["encoder_fingerprint"] == report["encoder_fingerprint"]
    assert again["results"]["pretrained"]["features_from_cache"]
    assert "linear" in again["results"]["pretrained"]


@pytest.mark.parametrize("k", ["0", "-5"])
def test_retrieve_refuses_a_k_below_one(
    run_dir: Path, tmp_path: Path, synthetic, save_png, capsys, k: str
) -> None:
    query = save_png(synthetic.images("train").images[0], tmp_path / "query.png")
    assert main(["retrieve", str(query), "--index", str(tmp_path / "none"), "-k", k]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"-k {k} is invalid" in err


def test_a_k_beyond_the_gallery_is_said_in_the_table(run_dir: Path, synthetic, capsys) -> None:
    # the synthetic training split holds 64 images
    overrides = [*synthetic.eval_overrides, "knn.k=[5,1000]"]
    code = main(["eval", "knn", "--checkpoint", str(run_dir), *overrides])
    assert code == 0
    out = capsys.readouterr().out
    assert "kNN k=1000 (all 64) top-1" in out and "kNN k=5 top-1" in out
    report = json.loads((run_dir / "eval.json").read_text())
    assert report["results"]["pretrained"]["knn"]["1000"]["neighbours"] == 64


def test_an_unreadable_query_is_skipped_and_counted(
    run_dir: Path, tmp_path: Path, synthetic, save_png, index_of_train_split: Path, capsys
) -> None:
    index_dir = index_of_train_split
    good = save_png(synthetic.images("train").images[7], tmp_path / "good.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    capsys.readouterr()
    with pytest.warns(UserWarning, match="broken.png"):
        code = main(["retrieve", str(broken), str(good), "--index", str(index_dir), "--json"])
    assert code == 0
    captured = capsys.readouterr()
    assert [entry["query"] for entry in json.loads(captured.out)] == [str(good)]
    assert "skipped 1 of 2 query images" in captured.err
