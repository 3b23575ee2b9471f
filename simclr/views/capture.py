"""The fused views replayed as CUDA graphs: a step's augmentation in four launches.

On a GPU the views of a small image are bound by kernel launches, not arithmetic. With a fixed
batch shape, the fused views of :class:`simclr.augment.SimCLRViews` are captured once per
shape and replayed: one graph draws the parameters and makes the crops and flips, one per
(view, jitter order) applies the colour jitter, and one the grayscale, blur, solarization and
normalisation. The jitter's order is drawn on the host each step (Kornia draws one per view)
and picks which of its graphs is replayed; at most 2 x 24 are captured, lazily, in one memory
pool. Random numbers inside the graphs come from torch's CUDA generator, which advances on
every replay, so ``torch.manual_seed`` still reproduces a run. Another batch shape (the last
smaller batch) and every CPU run take the eager path. A capture that fails falls back to the
eager path with one warning. ``capture="none"`` always runs eagerly.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Protocol

import torch

from simclr.config.augment import VIEW_CAPTURES
from simclr.views.parameters import JITTER_STEPS, ViewDistribution, ViewParameters


class FusedStages(Protocol):
    """The stages of the fused views that a capture records (:class:`simclr.augment.SimCLRViews`
    has them and hands itself to each call; nothing here builds views)."""

    distribution: ViewDistribution

    def fused(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]: ...
    def resized(self, images: torch.Tensor) -> torch.Tensor: ...
    def draw(self, images: torch.Tensor, groups: int | None = None) -> ViewParameters: ...
    def geometry(self, images: torch.Tensor, params: ViewParameters) -> torch.Tensor: ...
    def jitter_group(
        self, views: torch.Tensor, params: ViewParameters, group: int, order: Sequence[int]
    ) -> None: ...
    def finish(self, views: torch.Tensor, params: ViewParameters) -> torch.Tensor: ...


def capture_of(mode: str) -> CapturedViews | None:
    """The capture ``mode`` asks for (one of ``VIEW_CAPTURES``): None runs eagerly."""
    if mode not in VIEW_CAPTURES:
        raise ValueError(f"capture={mode!r}: expected one of {', '.join(VIEW_CAPTURES)}")
    return None if mode == "none" else CapturedViews()


class CapturedViews:
    """CUDA-graph replays of the fused views for the first batch shape seen on a GPU."""

    def __init__(self) -> None:
        self.graphs: GraphedViews | None = None
        self.failed = False

    def __call__(self, views: FusedStages, images: torch.Tensor):
        if self.failed or images.device.type != "cuda":
            return views.fused(images)
        if self.graphs is not None and not self.graphs.fits(images):
            return views.fused(images)  # another shape: the last smaller batch
        try:
            with torch.autocast("cuda", enabled=False):  # views are float32 either way
                if self.graphs is None:
                    self.graphs = GraphedViews(views, images)
                return self.graphs(views, images)
        except RuntimeError as error:  # an op that cannot be captured, or out of memory
            self.failed, self.graphs = True, None
            message = f"views not captured as CUDA graphs ({error}); eager from now on"
            warnings.warn(message, stacklevel=2)
            return views.fused(images)

    def __getstate__(self) -> dict:  # graphs belong to one process and device
        return {"graphs": None, "failed": self.failed}


class GraphedViews:
    """The captured graphs of one (shape, dtype, device) and their static tensors."""

    def __init__(self, views: FusedStages, images: torch.Tensor) -> None:
        self.key = (tuple(images.shape), images.dtype, images.device)
        self.pool = torch.cuda.graph_pool_handle()
        self.images = images.clone()
        side = torch.cuda.Stream()  # warm-up off the main stream, as torch.cuda.graph asks
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                views.fused(self.images)
        torch.cuda.current_stream().wait_stream(side)
        self.front = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.front, pool=self.pool):
            resized = views.resized(self.images)
            self.params = views.draw(resized)
            self.buffer = views.geometry(resized, self.params)
        self.back = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.back, pool=self.pool):
            self.output = views.finish(self.buffer, self.params)
        self.jitter_graphs: dict[tuple[int, tuple[int, ...]], torch.cuda.CUDAGraph] = {}

    def fits(self, images: torch.Tensor) -> bool:
        return (tuple(images.shape), images.dtype, images.device) == self.key

    def _jitter(self, views: FusedStages, group: int, order: tuple[int, ...]):
        graph = self.jitter_graphs.get((group, order))
        if graph is None:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self.pool):
                views.jitter_group(self.buffer, self.params, group, order)
            self.jitter_graphs[(group, order)] = graph
        return graph

    def __call__(self, views: FusedStages, images: torch.Tensor):
        self.images.copy_(images)
        self.front.replay()
        if views.distribution.color_p > 0:
            for group in range(len(self.params.orders)):
                order = tuple(torch.randperm(JITTER_STEPS).tolist())
                self._jitter(views, group, order).replay()
        self.back.replay()
        return self.output.clone().chunk(len(self.params.orders))
