"""Tests of linear_eval/commands/: the eval, index, retrieve, embed and plot sub-commands,
run through ``simclr``'s command root without a subprocess."""

from __future__ import annotations

import errno
import json
import os
import shutil
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
    (result,) = map(json.loads, capsys.readouterr().out.splitlines())
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
    run_dir: Path, tmp_path: Path, synthetic, gallery_of_test_images
) -> None:
    folder, paths = gallery_of_test_images(12)
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
    [answer] = map(json.loads, capsys.readouterr().out.splitlines())
    assert answer["neighbours"][0]["item"] == str(query)  # the query itself
    assert answer["neighbours"][0]["class"] == folder.classes[3]

    embed_dir = tmp_path / "embed"
    assert main(["embed", *gallery, "--out", str(embed_dir)]) == 0  # default: train
    paths = (embed_dir / "paths.txt").read_text().splitlines()
    assert len(paths) == 200 and all(f"{folder.path}/train/" in p for p in paths)
    labels = np.load(embed_dir / "labels.npy")
    assert [folder.classes[label] for label in labels] == [Path(p).parent.name for p in paths]


def test_finetune_an_imagenet_layout_folder_with_an_encoder_pretrained_elsewhere(
    run_dir: Path, tmp_path: Path, synthetic, fashion_mnist_folder, capsys
) -> None:
    """Transfer, fine-tuned: the synthetic run's f on Fashion-MNIST images in class folders,
    trained on train/, measured on val/, its labels from the folder names."""
    folder = fashion_mnist_folder
    data = ["data.name=folder", f"data.path={folder.path}", "data.image_size=28"]
    settings = ["finetune.labels_per_class=2", "finetune.epochs=1", "finetune.batch_size=8"]
    arguments = ["--checkpoint", str(run_dir), *synthetic.eval_overrides, *data, *settings]
    out = tmp_path / "finetuned"
    assert main(["finetune", *arguments, "finetune.progress_bar=false", "--out", str(out)]) == 0
    report = json.loads((out / "finetune.json").read_text())
    assert (report["train_split"], report["test_split"]) == ("train", "val")
    assert report["test_images"] == 100 and report["labels"]["classes"] == len(folder.classes)
    assert report["labels"]["count"] == 2 * len(folder.classes)
    assert set(report["results"]) == {"fine-tuned", "from scratch", "linear probe"}


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
    from simclr.run.train import pretrain

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
    with pytest.warns(UserWarning, match="broken.png") as caught:
        code = main(["retrieve", str(broken), str(good), "--index", str(index_dir), "--json"])
    assert code == 0
    assert Path(caught[0].filename).parts[-2:] == ("cli", "__init__.py")  # named at the root
    captured = capsys.readouterr()
    assert [json.loads(line)["query"] for line in captured.out.splitlines()] == [str(good)]
    assert "skipped 1 of 2 query images" in captured.err


def test_retrieve_answers_a_folder_and_a_list_file_in_batches_one_json_line_each(
    run_dir: Path, tmp_path: Path, synthetic, save_png, index_of_train_split: Path, capsys
) -> None:
    images = synthetic.images("train").images
    folder = tmp_path / "queries"
    (folder / "sub").mkdir(parents=True)
    in_folder = [save_png(images[i], folder / "sub" / f"q{i}.png") for i in (3, 1, 2)]
    listed = [save_png(images[i], tmp_path / f"listed{i}.png") for i in (5, 6)]
    (tmp_path / "queries.txt").write_text(f"# queries\n{listed[0]}\n\n{listed[1]}\n")
    arguments = [str(folder), "--list", str(tmp_path / "queries.txt"), "--batch-size", "2"]
    capsys.readouterr()
    code = main(["retrieve", *arguments, "--index", str(index_of_train_split), "--json", "-k", "2"])
    assert code == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = [*sorted(map(str, in_folder)), *map(str, listed)]  # folder sorted, then the list
    assert [answer["query"] for answer in answers] == expected
    items = [answer["neighbours"][0]["item"] for answer in answers]
    assert items == [1, 2, 3, 5, 6]  # each query (a gallery image) finds itself


@pytest.mark.parametrize(
    ("queries", "message"),
    [
        (lambda t: [str(t)], "holds no image files"),
        (lambda t: ["--list", str(t / "missing.txt")], "--list"),
        (lambda t: [], "no query images"),
    ],
)
def test_retrieve_refuses_queries_it_cannot_find_in_one_line(
    tmp_path: Path, index_of_train_split: Path, queries, message: str, capsys
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["retrieve", *queries(empty), "--index", str(index_of_train_split)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and message in errors[0]


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
        (["finetune.label_subset=x.json", "finetune.labels_per_class=2"], "label_subset"),
        (["finetune.label_subset=missing.json"], "no such file"),
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


def test_appending_a_folder_to_an_index_equals_building_it_from_both(
    run_dir: Path, tmp_path: Path, synthetic, fashion_mnist_folder, capsys
) -> None:
    from linear_eval.features.vectors import exact_index, search
    from linear_eval.retrieval.store import load_index

    folder = fashion_mnist_folder.path
    common = ["--checkpoint", str(run_dir), *synthetic.eval_overrides, "data.image_size=28"]
    index_dir = tmp_path / "index"
    assert main(["index", *common, "--folder", str(folder / "train"), "--out", str(index_dir)]) == 0
    for _ in range(2):  # the second time, every image is already there
        assert (
            main(["index", *common, "--folder", str(folder / "val"), "--append", str(index_dir)])
            == 0
        )
    out = capsys.readouterr().out
    assert "added 100 of 100 images" in out and "added 0 of 100 images" in out
    appended = load_index(index_dir)  # its sha256 and count checked on loading
    # from scratch: the features of both folders (simclr embed), one exact index over them
    parts = []
    for name in ("train", "val"):
        embed_dir = tmp_path / f"embed-{name}"
        assert (
            main(["embed", *common, "--folder", str(folder / name), "--out", str(embed_dir)]) == 0
        )
        paths = (embed_dir / "paths.txt").read_text().splitlines()
        parts.append(
            (np.load(embed_dir / "embeddings.npy"), paths, np.load(embed_dir / "labels.npy"))
        )
    both = np.concatenate([part[0] for part in parts])
    assert appended.meta["paths"] == parts[0][1] + parts[1][1]
    classes = appended.meta["classes"]
    names = [Path(p).parent.name for p in appended.meta["paths"]]
    assert [classes[label] for label in appended.meta["labels"]] == names
    queries = both[::37]
    found = search(appended.index, queries, 10)
    exact = search(exact_index(both), queries, 10)
    assert np.array_equal(found[1], exact[1])
    np.testing.assert_allclose(found[0], exact[0], atol=1e-5)


def test_append_refuses_another_encoder_and_a_dataset_split_index(
    run_dir: Path, tmp_path: Path, synthetic, fashion_mnist_folder, index_of_train_split, capsys
) -> None:
    folder = fashion_mnist_folder.path / "val"
    common = [*synthetic.eval_overrides, "data.image_size=28", "--folder", str(folder)]
    split_index = ["index", "--checkpoint", str(run_dir), *common, "--append"]
    assert main([*split_index, str(index_of_train_split)]) == 2
    assert "only image folders join" in capsys.readouterr().err
    index_dir = tmp_path / "index"
    assert main(["index", "--checkpoint", str(run_dir), *common, "--out", str(index_dir)]) == 0
    before = (index_dir / "index.faiss").read_bytes()
    other = synthetic.make_run("seed5", seed=5)
    assert main(["index", "--checkpoint", str(other), *common, "--append", str(index_dir)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and "encoder" in errors[0]
    assert (index_dir / "index.faiss").read_bytes() == before  # left as it was


def test_a_second_eval_prints_the_same_table_without_refitting(
    run_dir: Path, synthetic, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from linear_eval.protocols import linear

    fit, fits = linear.train_linear_classifier, []
    monkeypatch.setattr(
        linear, "train_linear_classifier", lambda *a, **k: fits.append(1) or fit(*a, **k)
    )
    command = ["eval", "--checkpoint", str(run_dir), *synthetic.eval_overrides]
    assert main(command) == 0
    first, first_fits = capsys.readouterr().out, len(fits)
    assert first_fits > 0 and (run_dir / "features" / "results").is_dir()
    assert main(command) == 0
    second = capsys.readouterr().out
    assert len(fits) == first_fits and second == first and "linear top-1" in second
    report = json.loads((run_dir / "eval.json").read_text())
    cached = ["knn", "linear", "few_labels"]
    assert report["results"]["raw pixels"]["results_from_cache"] == cached
    assert "linear top-1, 10% labels (8)" in second  # few labels, in the same table
    assert main([*command, "linear.epochs=2"]) == 0  # another setting: fitted again
    assert len(fits) > first_fits


def test_retrieve_after_the_encoder_file_changed_gives_the_command_that_rebuilds_the_index(
    run_dir: Path, tmp_path: Path, synthetic, save_png, capsys
) -> None:
    import shlex

    import torch

    index_dir = tmp_path / "index"
    build = ["index", "--checkpoint", str(run_dir), "--out", str(index_dir), "--split", "test"]
    assert main([*build, *synthetic.eval_overrides, "data.subset=20", "seed=3"]) == 0
    query = save_png(synthetic.images("test").images[0], tmp_path / "query.png")
    # training went on: the exported encoder has new weights at the path the index recorded
    state = torch.load(run_dir / "encoder.pt")
    state["layer4.1.conv2.weight"] = state["layer4.1.conv2.weight"] * 1.5
    torch.save(state, run_dir / "encoder.pt")
    capsys.readouterr()
    retrieve = ["retrieve", str(query), "--index", str(index_dir), "--no-grid"]
    for checkpoint in ([], ["--checkpoint", str(run_dir)]):  # its own file, named or not
        assert main([*retrieve, *checkpoint]) == 2
        (error,) = capsys.readouterr().err.splitlines()
        assert f"the encoder at {run_dir / 'encoder.pt'} changed since the index was built" in error
        assert "query with --checkpoint" not in error
    command = shlex.split(error.split("rebuild the index with ")[1].strip("'"))
    assert command[:2] == ["simclr", "index"]
    assert command[2:] == [
        "--checkpoint",
        str(run_dir / "encoder.pt"),
        "--split",
        "test",
        "data.name=synthetic_eval",
        f"data.root={tmp_path / 'data'}",
        "data.subset=20",
        "data.image_size=16",
        "seed=3",
        "retrieval.index_type=flat",
        "--out",
        str(index_dir),
    ]
    assert main(command[1:]) == 0  # the command rebuilds the index the query then uses
    assert main(retrieve) == 0 and f"query {query}" in capsys.readouterr().out


def _listing(folder: Path) -> dict[str, bytes | None]:
    return {str(p): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def test_a_full_disk_under_the_feature_cache_is_one_line_and_writes_nothing(
    run_dir: Path, synthetic, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Once a SIGBUS in the memory map with a partial folder left: now refused before it."""
    before = _listing(run_dir)
    usage = shutil.disk_usage(run_dir)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1000))
    assert main(["eval", "knn", "--checkpoint", str(run_dir), *synthetic.eval_overrides]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("simclr eval: error: features.cache_dir ")
    assert "disk full" in err
    assert _listing(run_dir) == before


def test_a_read_only_out_is_refused_before_any_work(
    run_dir: Path, tmp_path: Path, synthetic, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # the tests run as root, where chmod leaves a folder writable: os.access answers for it
    real = os.access
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    monkeypatch.setattr(
        "simclr.run.paths.os.access",
        lambda path, mode: False if Path(path) == read_only else real(path, mode),
    )
    before = _listing(run_dir)
    out = ["--out", str(read_only / "out"), *synthetic.eval_overrides]
    for command in (["eval", "knn"], ["index"], ["embed"], ["finetune"], ["plot"]):
        assert main([*command, "--checkpoint", str(run_dir), *out]) == 2
        err = capsys.readouterr().err
        shown = read_only / ("out.png" if command[0] == "plot" else "out")  # plot: a PNG file
        assert err == (
            f"simclr {command[0]}: error: --out {shown}: {read_only} is not "
            "writable (permission denied)\n"
        )
    assert _listing(run_dir) == before and list(read_only.iterdir()) == []


def test_a_disk_filling_during_a_write_is_one_line_and_keeps_what_was_written(
    run_dir: Path, synthetic, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    arguments = ["eval", "knn", "--checkpoint", str(run_dir), *synthetic.eval_overrides]
    assert main(arguments) == 0
    written = (run_dir / "eval.json").read_bytes()
    target = run_dir / ".eval.json.tmp-1"

    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    monkeypatch.setattr("linear_eval.protocols.report.atomic_write", full)
    capsys.readouterr()
    assert main(arguments) == 2
    err = capsys.readouterr().err
    assert err == f"simclr eval: error: {target}: No space left on device (ENOSPC)\n"
    assert (run_dir / "eval.json").read_bytes() == written


def test_a_default_out_that_cannot_be_written_is_refused_before_extraction(
    run_dir: Path, tmp_path: Path, synthetic, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Without --out, index, embed and plot write under the run: a run folder that cannot be
    written is found before the features are extracted (once after, minutes later)."""
    real = os.access
    monkeypatch.setattr(
        "simclr.run.paths.os.access",
        lambda path, mode: False if Path(path) == run_dir else real(path, mode),
    )
    cache = tmp_path / "cache"
    settings = [*synthetic.eval_overrides, f"features.cache_dir={cache}"]
    for command, folder in (("index", "index"), ("embed", "embeddings"), ("plot", "plots")):
        assert main([command, "--checkpoint", str(run_dir), *settings]) == 2
        err = capsys.readouterr().err
        expected = f"--out {run_dir / folder}: {run_dir} is not writable (permission denied)"
        assert err == f"simclr {command}: error: {expected}\n"
        assert not cache.exists()  # nothing was extracted


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_the_index_size_checked_before_building_bounds_the_saved_index(
    kind: str, run_dir: Path, tmp_path: Path, synthetic, monkeypatch: pytest.MonkeyPatch
) -> None:
    import linear_eval.retrieval.indexing as indexing

    estimates = []
    estimate = indexing.index_bytes
    monkeypatch.setattr(
        indexing, "index_bytes", lambda *a: estimates.append(estimate(*a)) or estimates[-1]
    )
    out = tmp_path / "index"
    argv = ["index", "--checkpoint", str(run_dir), "--out", str(out), *synthetic.eval_overrides]
    assert main([*argv, f"retrieval.index_type={kind}", "retrieval.ef_search=16"]) == 0
    saved = (out / "index.faiss").stat().st_size
    total = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    assert saved <= estimates[0] <= 2 * total, (saved, estimates, total)


def test_file_and_class_names_are_printed_with_control_characters_escaped(
    run_dir: Path, tmp_path: Path, synthetic, save_png, capsys
) -> None:
    folder = tmp_path / "gallery"
    images = synthetic.images("test").images
    for number, name in enumerate(("cat\x1b[2J", "dog")):
        (folder / name).mkdir(parents=True)
        for i in range(3):
            save_png(images[3 * number + i], folder / name / f"x\x1b]0;title\x07{i}.png")
    index_dir = tmp_path / "index"
    common = ["--checkpoint", str(run_dir), *synthetic.eval_overrides]
    assert main(["index", *common, "--folder", str(folder), "--out", str(index_dir)]) == 0
    query = save_png(images[0], tmp_path / "query\x1b[31m.png")
    capsys.readouterr()
    assert main(["retrieve", str(query), "--index", str(index_dir), "--no-grid"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "query\\x1b[31m.png" in out and "(cat\\x1b[2J)" in out and "\\x07" in out
