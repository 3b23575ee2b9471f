"""The splits of an image folder: its split subfolders (the ImageNet layout) or a held-out part.

- ``DIR/train/CLASS/*.jpg`` with ``DIR/val/CLASS/*.jpg`` (and ``DIR/test/``, where present):
  each split is a subfolder, labelled by its class folders. Every labelled split must hold the
  same classes as ``train``, so a class has one index in every split.
- A folder without splits is the one split ``all``; with ``data.val_fraction`` it also has
  ``train`` and ``val``: a seeded, class-stratified, disjoint partition of ``all``.

Pretraining reads ``train`` wherever there is one, never the images evaluation measures on
(the paper pretrains on ImageNet's training set and reports on its validation set).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from simclr.data.images import holds_images, no_images_found
from simclr.errors import DataError

SPLIT_FOLDERS = ("train", "val", "test")  # the ImageNet layout's subfolders, in this order
WHOLE_FOLDER = "all"  # the split of a folder without split subfolders: every image below it
HELD_OUT_SEED = 0  # fixed, so pretraining and evaluation hold out the same images whatever
# their own seeds: a folder pretrained on is then evaluated on images pretraining never saw


@dataclass(frozen=True)
class FolderSplits:
    """An image folder's split names and the roles pretraining and evaluation give them (the
    fields of :class:`simclr.data.registry.DatasetSpec` that depend on the folder)."""

    splits: tuple[str, ...]
    pretrain_split: str
    eval_train_split: str | None
    eval_test_split: str | None


def classes_of_folder(folder: Path) -> list[str]:
    """The class folders of ``folder``: its immediate subfolders that hold an image, sorted."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and holds_images(p))


def subfolders_without_images(path: str | Path) -> str:
    """Why the folder at ``path`` (its ``train/`` where it has splits) has no class folders when
    it has subfolders: "train/cats/, train/dogs/ hold no image files (found 4 .heic; images are
    ...)"; "" when every subfolder holds an image or there is none. An error can then say what
    was found instead of asking for a layout the folder already has."""
    root = Path(path)
    parent = root / "train" if split_folders(root) else root
    empty = sorted(p for p in parent.iterdir() if p.is_dir() and not holds_images(p))
    if not empty:
        return ""
    names = _few([f"{p.relative_to(root)}/" for p in empty])
    verb = "holds" if len(empty) == 1 else "hold"
    return f"{names} {verb} {no_images_found(*empty).removeprefix('holds ')}"


def split_folders(path: str | Path) -> tuple[str, ...]:
    """The split subfolders of ``path`` (``train`` first); none when it has no ``train``."""
    root = Path(path)
    if not (root / "train").is_dir():
        return ()
    return tuple(name for name in SPLIT_FOLDERS if (root / name).is_dir())


def folder_splits(path: str | Path | None, val_fraction: float | None) -> FolderSplits:
    """The splits of the image folder at ``path``, its class sets checked across splits.

    A one-line DataError when ``path`` is not a directory, when a labelled split's classes
    differ from ``train``'s, or when ``val_fraction`` is asked of a folder that has splits.
    """
    root = Path(str(path))
    if not root.is_dir():
        raise DataError(f"data.path={str(path)!r} is not a directory")
    names = split_folders(root)
    if names:
        if val_fraction is not None:
            raise DataError(
                f"data.val_fraction={val_fraction:g} is for a folder without splits, but "
                f"data.path={str(path)!r} has {'/, '.join(names)}/: drop data.val_fraction"
            )
        labelled = _check_class_sets(root, names)
        test = next((name for name in ("val", "test") if name in labelled), None)
        return FolderSplits(names, "train", "train" if test else None, test)
    if val_fraction is None:
        return FolderSplits((WHOLE_FOLDER,), WHOLE_FOLDER, None, None)
    labelled = bool(classes_of_folder(root))
    return FolderSplits(
        (WHOLE_FOLDER, "train", "val"),
        "train",
        "train" if labelled else None,
        "val" if labelled else None,
    )


def _check_class_sets(root: Path, names: tuple[str, ...]) -> list[str]:
    """The labelled splits (those with class folders); refuses classes that differ from train's.

    A split without class folders (ImageNet's unlabelled test set, say) is unlabelled, not wrong.
    """
    train = set(classes_of_folder(root / "train"))
    labelled = ["train"] if train else []
    for name in names[1:]:
        classes = set(classes_of_folder(root / name))
        if not classes:
            continue
        if train and classes != train:
            missing, extra = sorted(train - classes), sorted(classes - train)
            differences = [f"{name}/ lacks {_few(missing)}" if missing else ""]
            differences.append(f"only in {name}/: {_few(extra)}" if extra else "")
            raise DataError(
                f"data.path={str(root)!r}: the class folders of {name}/ differ from train/'s "
                f"({'; '.join(d for d in differences if d)}): every split needs the same classes"
            )
        labelled.append(name)
    return labelled if train else []


def _few(names: list[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def held_out_split(
    labels: torch.Tensor, fraction: float, seed: int = HELD_OUT_SEED
) -> tuple[list[int], list[int]]:
    """(train, val) indices: ``fraction`` of each class (label -1 counts as one) held out as
    val, drawn with ``seed``. A class of two or more images has at least one image on each side,
    so val covers every class train has more than once; the two parts are disjoint and sorted."""
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for label in torch.unique(labels).tolist():
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)].tolist()
        count = len(members)
        held = min(max(round(fraction * count), 1), count - 1) if count >= 2 else 0
        val += members[:held]
        train += members[held:]
    return sorted(train), sorted(val)
