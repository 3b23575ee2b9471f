"""The validation split ``val`` of a registered dataset: a seeded, class-stratified part of its
labelled training split, held out of everything that trains.

Choosing a default, a recipe or a lever on the test split and then reporting on that same split
overstates what the choice is worth; so each registered dataset with a labelled training split
holds ``data.val_fraction`` of it (0.1 unless set: 6,000 of Fashion-MNIST's 60,000, 600 a class)
out as ``val``, the same rows whatever the run's seed (:data:`simclr.data.folders.HELD_OUT_SEED`).
``train`` is then the rest, and so is every split that begins with its rows (STL-10's
``train+unlabeled``): pretraining, the probes and the kNN bank never see ``val`` (pretraining
may, with ``data.pretrain_on_val``, as unlabelled images), the online probe and every selection
measure on it, and ``test`` is read only to report.
"""

from __future__ import annotations

import dataclasses

import torch

from simclr.data.folders import HELD_OUT_SEED, held_out_split
from simclr.data.registry import DatasetSpec

DEFAULT_VAL_FRACTION = 0.1  # of each class of the labelled training split
VAL_SPLIT = "val"
MEASURED_SPLITS = ("test", VAL_SPLIT)  # what evaluation measures on: to report, to choose


def held_out_fraction(fraction: float | None, spec: DatasetSpec) -> float | None:
    """The fraction ``data.val_fraction`` holds out of ``spec``'s training split: null gives the
    default where the dataset has a labelled training split, 0 gives none."""
    if spec.held_out_from is None or fraction == 0:
        return None
    return DEFAULT_VAL_FRACTION if fraction is None else fraction


def with_val_split(spec: DatasetSpec, fraction: float | None) -> DatasetSpec:
    """``spec`` with its ``val`` split, the one that chooses, when ``fraction`` holds one out."""
    if held_out_fraction(fraction, spec) is None:
        return spec
    return dataclasses.replace(spec, splits=(*spec.splits, VAL_SPLIT), eval_val_split=VAL_SPLIT)


def held_out_rows(labels: torch.Tensor, fraction: float) -> tuple[list[int], list[int]]:
    """(kept, held out): the rows of the training split with ``labels`` that stay ``train`` and
    those that are ``val``, class-stratified with the fixed seed."""
    return held_out_split(labels, fraction, HELD_OUT_SEED)


def source_split(spec: DatasetSpec, split: str) -> str:
    """The split whose files hold ``split``'s images: ``val`` is read from the training split."""
    return spec.held_out_from if split == VAL_SPLIT and spec.held_out_from else split


def split_identity(spec: DatasetSpec, split: str, fraction: float | None) -> str:
    """``split`` named with what it holds out, for caches: ``train`` without its val part is not
    the whole ``train`` (``train|val_fraction=0.1``)."""
    fraction = held_out_fraction(fraction, spec)
    touched = split == VAL_SPLIT or split in spec.held_out_within
    return f"{split}|val_fraction={fraction:g}" if fraction and touched else split
