"""NT-Xent, the normalized temperature-scaled cross-entropy loss of SimCLR (equation 1).

For a batch of N images the two views give 2N projections. For an anchor i whose positive (the
other view of the same image) is j:

    l(i, j) = -log( exp(sim(z_i, z_j) / tau) / sum_{k != i} exp(sim(z_i, z_k) / tau) )

with sim the cosine similarity; the 2(N-1) other projections are the negatives. The loss is
averaged over all 2N anchors, that is over both (i, j) and (j, i) (algorithm 1).

Distributed training: projections are all-gathered across ranks with torch's functional
collective ``all_gather_single_autograd``, whose backward sums every rank's gradient for each
rank's own rows (a reduce-scatter), so negatives come from the global batch. Each rank averages
l over its own anchors; the mean of the per-rank losses is the global loss, and DDP's gradient
averaging makes the parameter gradient exactly that of the global loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def _gather(tensor: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """All rows of ``tensor`` from every rank, in rank order; the gradient flows back.

    Written here because Lightning's ``all_gather(sync_grads=True)`` goes through
    ``torch.distributed.nn.functional.all_gather``, deprecated in torch 2.14 (a FutureWarning on
    every run); the functional collective is its non-deprecated equal.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor, 0, 1
    from torch.distributed._functional_collectives import all_gather_single_autograd

    gathered = all_gather_single_autograd(tensor.contiguous(), 0, dist.group.WORLD)
    return gathered, dist.get_rank(), dist.get_world_size()


class ContrastRows(NamedTuple):
    """The rows NT-Xent contrasts: this process's 2n normalised anchors (view 1 of its images,
    then view 2), the 2N normalised candidates of the global batch (view 1 of all, then view 2),
    and for each anchor the column of itself (excluded) and of its positive."""

    anchors: torch.Tensor
    candidates: torch.Tensor
    self_index: torch.Tensor
    positive_index: torch.Tensor


def contrast_rows(z1: torch.Tensor, z2: torch.Tensor, gather: bool = True) -> ContrastRows:
    """The anchors and candidates of the views ``z1``, ``z2`` (each (n, d)) in at least
    float32, gathered from every process with ``gather``; the gradient flows back to both."""
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(
            f"z1 and z2 must both be (n, d), got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    n = z1.shape[0]
    # at least float32: bf16 logits over thousands of negatives lose the positive's margin
    dtype = torch.promote_types(z1.dtype, torch.float32)
    z1 = F.normalize(z1.to(dtype), dim=1)
    z2 = F.normalize(z2.to(dtype), dim=1)
    if gather:
        all_z1, rank, world = _gather(z1)
        all_z2, _, _ = _gather(z2)
    else:
        all_z1, all_z2, rank, world = z1, z2, 0, 1
    total = n * world  # N, the global number of images
    local = torch.arange(n, device=z1.device) + rank * n
    return ContrastRows(
        anchors=torch.cat([z1, z2], dim=0),  # (2n, d): this rank's rows
        candidates=torch.cat([all_z1, all_z2], dim=0),  # (2N, d): view 1 of all, then view 2
        self_index=torch.cat([local, local + total]),
        positive_index=torch.cat([local + total, local]),
    )


def masked_logits(
    anchors: torch.Tensor, candidates: torch.Tensor, self_index: torch.Tensor, temperature: float
) -> torch.Tensor:
    """sim(anchor, candidate) / tau in float32, each anchor's own column at -inf (k != i)."""
    # autocast (bf16-mixed training) would otherwise run this matmul in bf16 again
    with torch.autocast(device_type=anchors.device.type, enabled=False):
        logits = anchors @ candidates.T / temperature
    rows = torch.arange(anchors.shape[0], device=anchors.device)
    logits[rows, self_index] = float("-inf")
    return logits


def nt_xent_loss(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1, gather: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """NT-Xent (SimCLR equation 1) of two views ``z1``, ``z2`` (each (n, d), row k of both
    from image k), averaged over (i, j) and (j, i) as in algorithm 1.

    Returns ``(loss, accuracy)``: the mean of l over this rank's 2n anchors, and the fraction
    of those anchors whose positive is the most similar of the 2N - 1 candidates (the
    contrastive top-1 accuracy). With ``gather`` and an initialised process group the
    candidates are the global batch of every rank.
    """
    if temperature <= 0:
        raise ValueError(f"temperature={temperature} is invalid: must be > 0")
    rows = contrast_rows(z1, z2, gather)
    logits = masked_logits(rows.anchors, rows.candidates, rows.self_index, temperature)
    loss = F.cross_entropy(logits, rows.positive_index)
    accuracy = (logits.argmax(dim=1) == rows.positive_index).float().mean()
    return loss, accuracy


def multi_view_nt_xent_loss(
    views: Sequence[torch.Tensor], temperature: float = 0.1, gather: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """NT-Xent over V >= 2 views of every image (``views``: V tensors (n, d), row k of each
    from image k): SwAV's multi-crop and more than two views applied to SimCLR.

    Every one of the Vn rows is an anchor and each other view of its image a positive; each
    positive p of anchor i is scored as in equation 1, against the V(N - 1) views of the other
    images as negatives (the other positives of i are left out of its denominator):

        l(i, p) = -log( exp(s_ip) / (exp(s_ip) + sum_{k of another image} exp(s_ik)) ),
        s = sim / tau

    averaged over every (anchor, positive) pair, as solo-learn's multi-crop SimCLR does. With
    V = 2 that is :func:`nt_xent_loss` exactly (one positive, 2(N - 1) negatives). Returns
    ``(loss, accuracy)``, accuracy the fraction of anchors whose most similar other row is a
    view of the same image; with ``gather`` the other images are the global batch's.
    """
    if temperature <= 0:
        raise ValueError(f"temperature={temperature} is invalid: must be > 0")
    shapes = {tuple(v.shape) for v in views}
    if len(views) < 2 or len(shapes) != 1 or views[0].dim() != 2:
        raise ValueError(
            f"views must be at least 2 tensors of one shape (n, d), got {sorted(shapes)}"
        )
    count, n = len(views), views[0].shape[0]
    dtype = torch.promote_types(views[0].dtype, torch.float32)
    z = F.normalize(torch.stack(views, dim=1).to(dtype), dim=2)  # (n, V, d)
    everyone, rank, world = _gather(z.flatten(1)) if gather else (z.flatten(1), 0, 1)
    total = n * world  # N, the global number of images
    anchors = z.transpose(0, 1).reshape(count * n, -1)  # view 1 of this rank's images, ...
    candidates = everyone.view(total, count, -1).transpose(0, 1).reshape(count * total, -1)
    device = anchors.device
    anchor_image = (torch.arange(n, device=device) + rank * n).repeat(count)
    candidate_image = torch.arange(total, device=device).repeat(count)
    itself = torch.arange(count, device=device).repeat_interleave(n) * total + anchor_image
    logits = masked_logits(anchors, candidates, itself, temperature)
    same_image = anchor_image[:, None] == candidate_image[None, :]
    negatives = torch.logsumexp(logits.masked_fill(same_image, float("-inf")), dim=1)
    positive = same_image & torch.isfinite(logits)  # the same image's views less itself
    positives = logits[positive].view(count * n, count - 1)
    loss = (torch.logaddexp(positives, negatives[:, None]) - positives).mean()
    accuracy = (candidate_image[logits.argmax(dim=1)] == anchor_image).float().mean()
    return loss, accuracy


class NTXentLoss(nn.Module):
    """NT-Xent, SimCLR equation 1, as a module with a fixed temperature tau: cosine similarity
    of the 2N projections, the other view of the same image as the positive and the 2(N - 1)
    others as negatives; ``forward(z1, z2)`` returns ``(loss, contrastive top-1 accuracy)``.
    With ``gather`` and an initialised process group, N is the global batch of all ranks.
    Given more than two views, ``forward(z1, z2, z3, ...)`` is :func:`multi_view_nt_xent_loss`."""

    def __init__(self, temperature: float = 0.1, gather: bool = True) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature={temperature} is invalid: must be > 0")
        self.temperature = temperature
        self.gather = gather

    def forward(
        self, z1: torch.Tensor, z2: torch.Tensor, *more: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if more:
            return multi_view_nt_xent_loss((z1, z2, *more), self.temperature, self.gather)
        return nt_xent_loss(z1, z2, self.temperature, self.gather)
