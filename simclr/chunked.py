"""NT-Xent over a batch of any size, in chunks, with the exact full-batch gradient.

Gradient caching (Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory
Limited Setup"): the loss couples every projection of the batch, but its gradient reaches the
weights only through the projections z. So

1. every chunk of views is embedded without autograd (no activations kept);
2. NT-Xent over all 2N projections (gathered from every process, as in one pass) gives the
   loss and its gradient with respect to each projection, dL/dz (the 2N x 2N similarities made
   a block of rows at a time, so that they too take the memory of one chunk);
3. each chunk is embedded again with autograd and backpropagated with its rows of dL/dz.

The weight gradient is the one-pass gradient of the whole batch, at the cost of one more forward
pass; memory is that of one chunk. The views are made once, before, and reused by both passes.

BatchNorm normalises each chunk by its own statistics, as each device does under DDP without
SyncBatchNorm. Its running statistics are updated by the second pass of every chunk (a momentum
update per chunk, so they follow the last two steps' images, not the last ten steps' weights),
or with ``running_stats="last_chunk"`` once a step, by the last chunk, as a DDP run keeps rank
0's; the first pass never updates them.

Written here because no library offers it for SimCLR (lightly, solo-learn and lightning-bolts
accumulate gradients, which for NT-Xent drops the negatives of the other micro-batches).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from simclr.loss import contrast_rows, masked_logits

# which passes update BatchNorm's running statistics: every chunk's second (the default:
# measured 3x closer to the population's statistics, benchmarks/chunked_batchnorm.py), or the
# last chunk's alone (one update a step, as a DDP run keeps rank 0's)
RUNNING_STATS = ("every_chunk", "last_chunk")


@dataclass
class ChunkedStep:
    """What a chunked step computed: the loss and contrastive accuracy of the whole batch (as
    :func:`simclr.loss.nt_xent_loss` returns them, detached) and what ``forward`` kept from the
    first pass (the views of image 1..n, then their second views), or None."""

    loss: torch.Tensor
    accuracy: torch.Tensor
    kept: torch.Tensor | None


@contextmanager
def unchanged_buffers(module: nn.Module | None) -> Iterator[None]:
    """``module``'s buffers (BatchNorm's running statistics and counts) as they were on entry,
    whatever the passes inside do to them."""
    if module is None:
        yield
        return
    saved = [(buffer, buffer.detach().clone()) for buffer in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


def chunk_bounds(n: int, chunk_size: int) -> list[tuple[int, int]]:
    """The images ``[start, stop)`` of each chunk: ``chunk_size`` each, the last one the rest."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} is invalid: must be >= 1")
    return [(start, min(start + chunk_size, n)) for start in range(0, n, chunk_size)]


def nt_xent_gradient(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float, gather: bool, block_rows: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """NT-Xent of the projections ``z1``, ``z2`` (as :func:`simclr.loss.nt_xent_loss`), its
    contrastive accuracy, and its gradient with respect to each: (loss, accuracy, dL/dz1,
    dL/dz2). The 2n x 2N similarity matrix is made ``block_rows`` anchors at a time, never
    whole, so that its memory does not grow with the square of the batch. No weight takes
    part: these backward passes are torch's own (no precision plugin, no DDP)."""
    z1, z2 = z1.detach().requires_grad_(), z2.detach().requires_grad_()
    rows = contrast_rows(z1, z2, gather)  # normalised and gathered, with their graph
    anchors = rows.anchors.detach().requires_grad_()
    candidates = rows.candidates.detach().requires_grad_()
    count = anchors.shape[0]
    loss, correct = anchors.new_zeros(()), anchors.new_zeros((), dtype=torch.long)
    grad_anchors, grad_candidates = torch.zeros_like(anchors), torch.zeros_like(candidates)
    for start in range(0, count, block_rows):
        block = slice(start, start + block_rows)
        logits = masked_logits(anchors[block], candidates, rows.self_index[block], temperature)
        positive = rows.positive_index[block]
        part = F.cross_entropy(logits, positive, reduction="sum") / count
        block_anchors, block_candidates = torch.autograd.grad(part, [anchors, candidates])
        grad_anchors += block_anchors
        grad_candidates += block_candidates
        loss += part.detach()
        correct += (logits.argmax(dim=1) == positive).sum()
    # through the normalisation and the gather (its backward sums every rank's share) to z
    torch.autograd.backward([rows.anchors, rows.candidates], [grad_anchors, grad_candidates])
    return loss, correct.float() / count, z1.grad, z2.grad


def nt_xent_in_chunks(
    forward: Callable[[torch.Tensor], Any],
    view1: torch.Tensor,
    view2: torch.Tensor,
    chunk_size: int,
    temperature: float = 0.1,
    *,
    gather: bool = True,
    backward: Callable[[torch.Tensor], None] = torch.Tensor.backward,
    no_sync: Callable[[], AbstractContextManager] = nullcontext,
    buffers_of: nn.Module | None = None,
    extra_loss: Callable[[torch.Tensor | None], torch.Tensor | None] | None = None,
    running_stats: str = "every_chunk",
) -> ChunkedStep:
    """NT-Xent (SimCLR equation 1) of the views ``view1``, ``view2`` (row k of both from image
    k), its weight gradient accumulated into ``.grad`` as one pass over the whole batch would,
    ``chunk_size`` images (their two views together) at a time (gradient caching, Gao et al.
    2021).

    ``forward(views)`` maps a chunk's views to their projections z, or to ``(z, kept)``: what
    it keeps (an online probe's detached h, say) is returned from the first pass. ``backward``
    is called with a scalar whose gradient is the cached one (Lightning's ``manual_backward``,
    which applies the precision plugin); ``no_sync`` wraps every backward but the last (DDP's
    ``no_sync``: the gradients are averaged once, over the accumulated ones). ``buffers_of``
    names the module whose running statistics the second pass of every chunk updates
    (``running_stats="every_chunk"``), or that of the last chunk alone (``"last_chunk"``); the
    first pass never does. ``extra_loss`` (given what was kept) is added to the
    last backward, so every weight gets its gradient in that one synchronised pass.
    """
    if running_stats not in RUNNING_STATS:
        raise ValueError(
            f"running_stats={running_stats!r} is invalid: must be one of {', '.join(RUNNING_STATS)}"
        )
    n = view1.shape[0]
    chunks = chunk_bounds(n, chunk_size)

    def embed(start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = forward(torch.cat([view1[start:stop], view2[start:stop]]))
        return out if isinstance(out, tuple) else (out, None)

    firsts, seconds, kept1, kept2 = [], [], [], []
    with torch.no_grad(), unchanged_buffers(buffers_of):
        for start, stop in chunks:
            z, kept = embed(start, stop)
            firsts.append(z[: stop - start])
            seconds.append(z[stop - start :])
            if kept is not None:
                kept1.append(kept[: stop - start])
                kept2.append(kept[stop - start :])
    loss, accuracy, grad1, grad2 = nt_xent_gradient(
        torch.cat(firsts), torch.cat(seconds), temperature, gather, block_rows=2 * chunk_size
    )
    kept_all = torch.cat(kept1 + kept2) if kept1 else None
    extra = extra_loss(kept_all) if extra_loss is not None else None

    for index, (start, stop) in enumerate(chunks):
        last = index == len(chunks) - 1
        keeps_buffers = not last and running_stats == "last_chunk"
        with (
            nullcontext() if last else no_sync(),
            unchanged_buffers(buffers_of) if keeps_buffers else nullcontext(),
        ):
            z, _ = embed(start, stop)
            cached = torch.cat([grad1[start:stop], grad2[start:stop]])
            # a scalar whose gradient with respect to z is exactly the cached dL/dz
            dtype = torch.promote_types(z.dtype, torch.float32)  # bf16 products would round
            surrogate = (z.to(dtype) * cached.to(dtype)).sum()
            if last and extra is not None:
                surrogate = surrogate + extra
            backward(surrogate)
    return ChunkedStep(loss.detach(), accuracy.detach(), kept_all)
