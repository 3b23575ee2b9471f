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


def test_eval_index_retrieve_and_embed_an_imagenet_layout_folder(
    run_dir: Path, tmp_path: Path, synthetic, fashion_mnist_folder, capsys
) -> None:
    folder = fashion_mnist_folder
    data = ["data.name=folder", f"data.path={folder.path}", "data.image_size=28"]
    common = ["--checkpoint", str(run_dir), *synthetic.eval_overrides, *data]
    assert main(["eval", "knn", *common, "--out", str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report" / "eval.json").read_text())
    assert (report["train_split"], report["test_split"]) == ("train", "val")
    assert report["results"]["pretrained"]["test"]["images"] == 100

    gallery = ["--checkpoint", str(run_dir), "--folder", str(folder.path), "data.image_size=28"]
    gallery += synthetic.eval_overrides
    index_dir = tmp_path / "index"
    assert main(["index", *gallery, "--split", "val", "--out", str(index_dir)]) == 0
    assert "indexed 100 images of folder/val" in capsys.readouterr().out
    query = next((folder.path / "val" / folder.classes[3]).iterdir())
    assert main(["retrieve", str(query), "--index", str(index_dir), "--json", "-k", "1"]) == 0
    [answer] = json.loads(capsys.readouterr().out)
    assert answer["neighbours"][0]["item"] == str(query)  # the query itself
    assert answer["neighbours"][0]["class"] == folder.classes[3]

    embed_dir = tmp_path / "embed"
    assert main(["embed", *gallery, "--out", str(embed_dir)]) == 0  # default: train
    paths = (embed_dir / "paths.txt").read_text().splitlines()
    assert len(paths) == 200 and all(f"{folder.path}/train/" in p for p in paths)
    labels = np.load(embed_dir / "labels.npy")
    assert [folder.classes[label] for label in labels] == [Path(p).parent.name for p in paths]


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


def test_finetune_prints_the_three_methods_and_writes_json(
    run_dir: Path, synthetic, tmp_path: Path, capsys
) -> None:
    out_dir = tmp_path / "finetuned"
    settings = ["finetune.labels_per_class=2", "finetune.epochs=1", "finetune.batch_size=8"]
    arguments = ["--checkpoint", str(run_dir), "--out", str(out_dir), *synthetic.eval_overrides]
    assert main(["finetune", *arguments, *settings, "finetune.progress_bar=false"]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[:2] for line in out.splitlines()[3:6]]
    assert [row[0] for row in rows] == ["fine-tuned", "from", "linear"]
    report = json.loads((out_dir / "finetune.json").read_text())
    assert list(report["results"]) == ["fine-tuned", "from scratch", "linear probe"]
    assert f"{100 * report['results']['linear probe']['top1']:.2f}" in out.splitlines()[5]
    assert report["labels"]["count"] == 8 and (out_dir / "label_subset.json").is_file()


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        (["finetune.label_fraction=0"], "finetune.label_fraction"),
        (["finetune.label_fraction=1.5"], "finetune.label_fraction"),
        (["finetune.labels_per_class=99"], "finetune.labels_per_class"),
        (["finetune.label_fraction=0.5", "finetune.labels_per_class=2"], "labels_per_class"),
        (["finetune.sweep_epochs=[3]"], "finetune.sweep_epochs"),  # 3 sweep fractions
        (["finetune.devices=0"], "finetune.devices"),
    ],
)
def test_finetune_refuses_bad_labels_in_one_line_before_any_work(
    run_dir: Path, synthetic, settings: list[str], key: str, capsys
) -> None:
    arguments = ["finetune", "--checkpoint", str(run_dir), *synthetic.eval_overrides, *settings]
    assert main(arguments) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and key in errors[0]
    assert not (run_dir / "finetune").exists()


def test_finetune_under_an_external_launcher_says_to_use_its_own_processes(
    run_dir: Path, synthetic, monkeypatch, capsys
) -> None:
    for name, value in {"RANK": "0", "WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "x"}.items():
        monkeypatch.setenv(name, value)  # what torchrun --nproc-per-node 2 sets
    arguments = ["finetune", "--checkpoint", str(run_dir), *synthetic.eval_overrides]
    assert main(arguments) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and "finetune.devices=N" in errors[0]
    assert not (run_dir / "finetune").exists()
