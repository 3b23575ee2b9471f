"""simclr/views/capture.py: the fused views replayed as CUDA graphs. Without a GPU every capture
mode runs the eager fused path (the same images for the same seed); on a GPU
(benchmarks/gpu_check.sh runs this file there) the replays are views of the right shape and law
that change per step."""

from __future__ import annotations

import warnings

import pytest
import torch

from simclr.augment import SimCLRViews
from simclr.views.capture import CapturedViews, capture_of

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def images(batch: int = 6, size: int = 20, device: str = "cpu") -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (batch, 3, size, size), generator=generator).byte().to(device)


@pytest.mark.parametrize("capture", ["auto", "cuda_graph"])
def test_without_a_gpu_every_capture_is_the_eager_fused_path(capture: str) -> None:
    outputs = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not a failed capture's fallback: no capture is tried
        for mode in ("none", capture):
            torch.manual_seed(1)
            outputs.append(torch.cat(SimCLRViews(16, 3, capture=mode)(images())))
    assert torch.equal(outputs[0], outputs[1])


def test_none_captures_nothing_and_a_bad_mode_is_refused() -> None:
    assert capture_of("none") is None
    assert isinstance(capture_of("auto"), CapturedViews)
    with pytest.raises(ValueError, match="capture='graphs'.*auto, cuda_graph, none"):
        capture_of("graphs")


def test_captured_views_pickle_without_their_graphs() -> None:
    """A module sent to spawned processes carries no graph of this process."""
    import pickle

    captured = CapturedViews()
    captured.graphs = object()
    assert pickle.loads(pickle.dumps(captured)).graphs is None


@needs_cuda
def test_graph_replays_are_fresh_views_of_the_same_law() -> None:
    views = SimCLRViews(16, 3, capture="cuda_graph", normalize=False).cuda()
    batch = images(device="cuda")
    torch.manual_seed(0)
    first = torch.cat(views(batch))
    assert views.capture.graphs is not None and not views.capture.failed
    second = torch.cat(views(batch))
    assert first.shape == second.shape == (12, 3, 16, 16)
    assert not torch.equal(first, second)  # new random numbers on every replay
    assert first.min() >= 0 and first.max() <= 1
    eager = torch.cat(SimCLRViews(16, 3, capture="none", normalize=False).cuda()(batch))
    # same law: the mean pixel of many views agrees with the eager path's
    many = torch.stack([torch.cat(views(batch)).mean() for _ in range(200)])
    assert abs(many.mean() - eager.mean()) < 0.05
    smaller = views(batch[:4])  # another shape takes the eager path
    assert smaller[0].shape == (4, 3, 16, 16)


def test_the_protocol_names_its_parameters_as_the_views_do() -> None:
    """FusedStages describes SimCLRViews' stages: the same methods, parameters of the same
    names, so a reader of either sees one vocabulary."""
    import inspect

    from simclr.augment import SimCLRViews
    from simclr.views.capture import FusedStages

    methods = [
        name
        for name, value in vars(FusedStages).items()
        if inspect.isfunction(value) and not name.startswith("_")
    ]
    assert set(methods) == {"fused", "resized", "draw", "geometry", "jitter_group", "finish"}
    for name in methods:
        protocol = list(inspect.signature(getattr(FusedStages, name)).parameters)
        views = list(inspect.signature(getattr(SimCLRViews, name)).parameters)
        assert protocol == views, name
