"""NT-Xent in chunks with cached gradients (simclr/chunked.py): the weight gradient and the loss
of a chunked step are the one-pass step's, in one process and in two; BatchNorm in training
mode normalises each chunk by itself and updates its running statistics once a step (or once
a chunk, when asked)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from simclr.chunked import chunk_bounds, nt_xent_in_chunks
from simclr.encoder import Encoder
from simclr.head import ProjectionHead
from simclr.loss import nt_xent_loss

BATCH = 64  # the global batch of the equality tests
TEMPERATURE = 0.2


def model(seed: int = 0) -> nn.Module:
    """f and g as the project builds them, small: a ResNet-18 of the small stem on 8-px images
    (BatchNorm in f and in g's hidden layer), float32."""
    torch.manual_seed(seed)
    encoder = Encoder("resnet18", in_channels=1, stem="small")
    return nn.Sequential(encoder, ProjectionHead(encoder.feature_dim, "mlp", 64, 16))


def views(count: int = BATCH, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(count, 1, 8, 8, generator=generator), torch.randn(
        count, 1, 8, 8, generator=generator
    )


def gradients(net: nn.Module) -> dict[str, torch.Tensor]:
    found = {name: p.grad.detach().clone() for name, p in net.named_parameters()}
    net.zero_grad(set_to_none=True)
    return found


def one_pass(net: nn.Module, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
    """The unchunked step: every view through f and g at once, the loss, one backward."""
    z = net(torch.cat([view1, view2]))
    n = view1.shape[0]
    loss, _ = nt_xent_loss(z[:n], z[n:], TEMPERATURE)
    loss.backward()
    return loss.detach()


def separate_groups(net: nn.Module, view1, view2, chunk_size: int) -> torch.Tensor:
    """The one-pass step with BatchNorm's batch statistics taken per chunk: each chunk through
    the network on its own, the graphs all kept, one loss, one backward (memory of the whole
    batch: the reference the chunked step must equal)."""
    firsts, seconds = [], []
    for start, stop in chunk_bounds(view1.shape[0], chunk_size):
        z = net(torch.cat([view1[start:stop], view2[start:stop]]))
        firsts.append(z[: stop - start])
        seconds.append(z[stop - start :])
    loss, _ = nt_xent_loss(torch.cat(firsts), torch.cat(seconds), TEMPERATURE)
    loss.backward()
    return loss.detach()


def assert_same_gradients(got: dict, expected: dict, rtol: float = 1e-5) -> None:
    assert got.keys() == expected.keys()
    for name, grad in expected.items():
        scale = float(grad.abs().max())
        assert scale > 0, name  # every weight takes part
        torch.testing.assert_close(got[name], grad, rtol=rtol, atol=rtol * scale, msg=name)


@pytest.mark.parametrize("chunk_size", [8, 16, 64, 10])  # 10: the last chunk holds the other 4
def test_with_batchnorm_at_running_statistics_the_gradient_is_the_one_pass_gradient(
    chunk_size: int,
) -> None:
    net = model().eval()  # BatchNorm uses its running statistics: chunks cannot change them
    view1, view2 = views()
    loss = one_pass(net, view1, view2)
    expected = gradients(net)
    step = nt_xent_in_chunks(net, view1, view2, chunk_size, TEMPERATURE)
    torch.testing.assert_close(step.loss, loss, rtol=1e-6, atol=0)
    assert_same_gradients(gradients(net), expected)


@pytest.mark.parametrize("chunk_size", [8, 16, 10])
def test_with_batchnorm_training_a_chunk_is_its_own_batchnorm_group(chunk_size: int) -> None:
    reference = model().train()
    net = copy.deepcopy(reference)
    view1, view2 = views()
    loss = separate_groups(reference, view1, view2, chunk_size)
    expected = gradients(reference)
    step = nt_xent_in_chunks(net, view1, view2, chunk_size, TEMPERATURE, buffers_of=net)
    torch.testing.assert_close(step.loss, loss, rtol=1e-6, atol=0)
    assert_same_gradients(gradients(net), expected)
    # and it is not the one-pass step, whose statistics are the whole batch's
    whole = copy.deepcopy(reference)
    one_pass(whole, view1, view2)
    conv = "0.backbone.conv1.weight"
    assert not torch.allclose(gradients(whole)[conv], expected[conv], rtol=1e-3)


def test_with_last_chunk_the_running_statistics_are_updated_once_a_step() -> None:
    net = model().train()
    view1, view2 = views()
    last_only = copy.deepcopy(net)
    with torch.no_grad():  # what one update from the last chunk (images 48..63) gives
        last_only(torch.cat([view1[48:], view2[48:]]))
    nt_xent_in_chunks(
        net, view1, view2, 16, TEMPERATURE, buffers_of=net, running_stats="last_chunk"
    )
    expected = dict(last_only.named_buffers())
    for name, buffer in net.named_buffers():
        torch.testing.assert_close(buffer, expected[name], rtol=1e-6, atol=1e-7, msg=name)
    tracked = [b for n, b in net.named_buffers() if n.endswith("num_batches_tracked")]
    assert tracked and all(int(count) == 1 for count in tracked)


def one_batchnorm(features: int = 3) -> nn.Module:
    """A BatchNorm layer and a linear map: its running statistics can be computed by hand."""
    torch.manual_seed(0)
    return nn.Sequential(nn.BatchNorm1d(features, momentum=0.1), nn.Linear(features, 4))


@pytest.mark.parametrize("running_stats", ["last_chunk", "every_chunk"])
def test_the_running_statistics_take_one_momentum_update_per_chosen_pass(
    running_stats: str,
) -> None:
    net = one_batchnorm().train()
    generator = torch.Generator().manual_seed(2)
    view1 = 3.0 + 2.0 * torch.randn(20, 3, generator=generator)
    view2 = -1.0 + 0.5 * torch.randn(20, 3, generator=generator)
    bounds = chunk_bounds(20, 6)  # 6, 6, 6 and 2 images
    chosen = bounds if running_stats == "every_chunk" else bounds[-1:]
    mean, var = torch.zeros(3), torch.ones(3)
    for start, stop in chosen:  # x <- (1 - momentum) x + momentum x_chunk, var unbiased
        batch = torch.cat([view1[start:stop], view2[start:stop]])
        mean = 0.9 * mean + 0.1 * batch.mean(dim=0)
        var = 0.9 * var + 0.1 * batch.var(dim=0, unbiased=True)
    nt_xent_in_chunks(
        net, view1, view2, 6, TEMPERATURE, buffers_of=net, running_stats=running_stats
    )
    norm = net[0]
    torch.testing.assert_close(norm.running_mean, mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(norm.running_var, var, rtol=1e-5, atol=1e-6)
    assert int(norm.num_batches_tracked) == len(chosen)


def test_the_choice_of_running_statistics_leaves_the_gradient_as_it_was() -> None:
    view1, view2 = views(20)
    found = []
    for running_stats in ("last_chunk", "every_chunk"):
        net = model().train()
        nt_xent_in_chunks(
            net, view1, view2, 8, TEMPERATURE, buffers_of=net, running_stats=running_stats
        )
        found.append(gradients(net))
    for name, grad in found[0].items():
        torch.testing.assert_close(found[1][name], grad, rtol=0, atol=0, msg=name)


def test_an_unknown_choice_of_running_statistics_is_refused() -> None:
    net = one_batchnorm()
    with pytest.raises(ValueError, match="running_stats='every_step' is invalid: must be one of"):
        nt_xent_in_chunks(net, torch.ones(4, 3), torch.ones(4, 3), 2, running_stats="every_step")


def test_what_forward_keeps_comes_back_in_view_order_and_the_extra_loss_trains() -> None:
    net = model().eval()
    probe = nn.Linear(16, 3)
    view1, view2 = views(12)
    labels = torch.arange(12) % 3
    kept_seen = []

    def extra(kept: torch.Tensor) -> torch.Tensor:
        kept_seen.append(kept)
        return nn.functional.cross_entropy(probe(kept), labels.repeat(2))

    step = nt_xent_in_chunks(
        lambda x: (net(x), net(x).detach()), view1, view2, 5, TEMPERATURE, extra_loss=extra
    )
    with torch.no_grad():
        expected = torch.cat([net(view1), net(view2)])
    torch.testing.assert_close(step.kept, expected)
    assert kept_seen[0] is step.kept
    assert probe.weight.grad is not None and probe.weight.grad.abs().sum() > 0


def test_a_bad_chunk_size_is_refused() -> None:
    view1, view2 = views(4)
    for bad in (0, -3):
        with pytest.raises(ValueError, match=f"chunk_size={bad} is invalid"):
            nt_xent_in_chunks(model(), view1, view2, bad)


# ----------------------------------------------------------------------------- two processes
WORLD_SIZE = 2


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    """One rank of a DDP model: its half of the global batch in chunks of 8, the gradient
    synchronised once (DDP's no_sync on every chunk but the last)."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        net = nn.parallel.DistributedDataParallel(model().eval())
        view1, view2 = views()
        half = slice(rank * BATCH // 2, (rank + 1) * BATCH // 2)
        step = nt_xent_in_chunks(net, view1[half], view2[half], 8, TEMPERATURE, no_sync=net.no_sync)
        grads = {name.removeprefix("module."): p.grad for name, p in net.named_parameters()}
        torch.save({"loss": step.loss, "grads": grads}, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_in_chunks_take_the_gradient_of_one_process_with_the_whole_batch(
    tmp_path: Path,
) -> None:
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD_SIZE)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD_SIZE)]
    net = model().eval()
    loss = one_pass(net, *views())
    expected = gradients(net)
    # the mean of the ranks' losses is the global loss; DDP averaged the gradients
    torch.testing.assert_close(
        torch.stack([r["loss"] for r in ranks]).mean(), loss, rtol=1e-6, atol=0
    )
    for result in ranks:
        assert_same_gradients(result["grads"], expected)
