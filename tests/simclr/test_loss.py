"""NT-Xent (simclr/loss.py) against the paper's formula evaluated anchor by anchor."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from simclr.loss import NTXentLoss, nt_xent_loss

WORLD_SIZE = 2


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum() / (a.norm() * b.norm())


def naive_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Equation 1 of SimCLR, one anchor at a time, averaged over all 2N anchors."""
    z = torch.cat([z1, z2])
    n2 = z.shape[0]
    losses = []
    for i in range(n2):
        j = (i + n2 // 2) % n2  # the other view of the same image
        numerator = torch.exp(cosine(z[i], z[j]) / temperature)
        denominator = sum(torch.exp(cosine(z[i], z[k]) / temperature) for k in range(n2) if k != i)
        losses.append(-torch.log(numerator / denominator))
    return torch.stack(losses).mean()


def brute_force_accuracy(z1: torch.Tensor, z2: torch.Tensor) -> float:
    """Fraction of anchors whose most similar other projection is their positive."""
    z = torch.cat([z1, z2])
    n2 = z.shape[0]
    hits = 0
    for i in range(n2):
        best = max((k for k in range(n2) if k != i), key=lambda k: float(cosine(z[i], z[k])))
        hits += best == (i + n2 // 2) % n2
    return hits / n2


def random_views(n: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    # positives correlated with their anchors, so accuracy is neither 0 nor 1
    z2 = z1 + 1.5 * torch.randn(n, dim, generator=generator, dtype=torch.float64)
    return z1, z2


@pytest.mark.parametrize("temperature", [0.07, 0.5, 1.0])
@pytest.mark.parametrize("n, dim", [(2, 3), (5, 8), (9, 16)])
def test_loss_equals_the_formula_anchor_by_anchor(n: int, dim: int, temperature: float) -> None:
    z1, z2 = random_views(n, dim, seed=n * dim)
    loss, _ = nt_xent_loss(z1, z2, temperature)
    expected = naive_nt_xent(z1, z2, temperature)
    assert loss.dtype == torch.float64
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
@pytest.mark.parametrize("n, dim", [(3, 4), (6, 10)])
def test_gradient_equals_autograd_of_the_formula(n: int, dim: int, temperature: float) -> None:
    z1, z2 = random_views(n, dim, seed=7 + n)
    z1a, z2a = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    z1b, z2b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    nt_xent_loss(z1a, z2a, temperature)[0].backward()
    naive_nt_xent(z1b, z2b, temperature).backward()
    torch.testing.assert_close(z1a.grad, z1b.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(z2a.grad, z2b.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n, dim", [(4, 2), (8, 3), (16, 5)])
def test_accuracy_equals_brute_force_argmax(n: int, dim: int) -> None:
    z1, z2 = random_views(n, dim, seed=100 + n)
    _, accuracy = nt_xent_loss(z1, z2, 0.5)
    assert float(accuracy) == pytest.approx(brute_force_accuracy(z1, z2), abs=1e-12)


@pytest.mark.parametrize("n", [2, 4, 32])
def test_identical_projections_give_log_of_the_candidate_count(n: int) -> None:
    # every similarity is 1, so each anchor's softmax is uniform over its 2N - 1 candidates
    z = torch.ones(n, 6, dtype=torch.float64)
    loss, _ = nt_xent_loss(z, z.clone(), temperature=0.3)
    assert float(loss) == pytest.approx(math.log(2 * n - 1), rel=1e-12)


def test_low_precision_inputs_are_compared_in_float32() -> None:
    z1, z2 = random_views(8, 16, seed=3)
    loss, _ = nt_xent_loss(z1.bfloat16(), z2.bfloat16(), 0.1)
    expected = naive_nt_xent(z1.bfloat16().double(), z2.bfloat16().double(), 0.1)
    assert loss.dtype == torch.float32
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_autocast_does_not_lower_the_precision_of_the_similarities() -> None:
    z1, z2 = random_views(64, 32, seed=4)
    z1, z2 = z1.float(), z2.float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = nt_xent_loss(z1, z2, 0.1)
    expected = naive_nt_xent(z1.double(), z2.double(), 0.1)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_scale_of_the_projections_does_not_matter() -> None:
    z1, z2 = random_views(5, 4, seed=11)
    scales = torch.arange(1, 6, dtype=torch.float64).unsqueeze(1)
    torch.testing.assert_close(nt_xent_loss(z1, z2)[0], nt_xent_loss(z1 * scales, z2 * 7)[0])


@pytest.mark.parametrize("temperature", [0.0, -0.5])
def test_invalid_temperature_raises(temperature: float) -> None:
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="temperature"):
        nt_xent_loss(z, z, temperature)
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(temperature)


def test_mismatched_views_raise() -> None:
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        nt_xent_loss(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        nt_xent_loss(torch.randn(4), torch.randn(4))


def test_module_form_matches_the_function() -> None:
    z1, z2 = random_views(6, 5, seed=5)
    module_loss, module_accuracy = NTXentLoss(temperature=0.25)(z1, z2)
    loss, accuracy = nt_xent_loss(z1, z2, 0.25)
    assert torch.equal(module_loss, loss) and torch.equal(module_accuracy, accuracy)


@pytest.mark.parametrize("gather", [True, False])
def test_gather_without_a_process_group_is_single_process(gather: bool) -> None:
    z1, z2 = random_views(6, 5, seed=9)
    torch.testing.assert_close(
        nt_xent_loss(z1, z2, 0.5, gather=gather)[0], naive_nt_xent(z1, z2, 0.5)
    )


# ----------------------------------------------------------------------------- distributed

DISTRIBUTED_CASES = [(4, 3, 0.1), (3, 8, 0.5)]  # (images per rank, dimension, temperature)


def _distributed_worker(rank: int, init_file: str, out_dir: str) -> None:
    """One rank: NT-Xent on its half of every case's batch, with and without gathering."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    warnings.simplefilter("error", FutureWarning)  # the gather must not be a deprecated API
    try:
        results = {}
        for index, (n, dim, temperature) in enumerate(DISTRIBUTED_CASES):
            z1, z2 = random_views(WORLD_SIZE * n, dim, seed=index)
            rows = slice(rank * n, (rank + 1) * n)
            for gather in (True, False):
                own1, own2 = z1[rows].clone().requires_grad_(), z2[rows].clone().requires_grad_()
                loss, accuracy = nt_xent_loss(own1, own2, temperature, gather=gather)
                loss.backward()
                results[index, gather] = (loss.detach(), accuracy, own1.grad, own2.grad)
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def distributed_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Every rank's (loss, accuracy, grad z1, grad z2) from 2 CPU processes over gloo."""
    out_dir = tmp_path_factory.mktemp("distributed")
    init_file = out_dir / "init"
    mp.spawn(_distributed_worker, args=(str(init_file), str(out_dir)), nprocs=WORLD_SIZE)
    return [torch.load(out_dir / f"rank{r}.pt") for r in range(WORLD_SIZE)]


@pytest.mark.parametrize("case", range(len(DISTRIBUTED_CASES)))
def test_distributed_loss_and_gradient_equal_the_global_batch(
    distributed_results: list[dict], case: int
) -> None:
    n, dim, temperature = DISTRIBUTED_CASES[case]
    z1, z2 = random_views(WORLD_SIZE * n, dim, seed=case)
    z1.requires_grad_(), z2.requires_grad_()
    loss, accuracy = nt_xent_loss(z1, z2, temperature)
    loss.backward()

    ranks = [results[case, True] for results in distributed_results]
    # each rank averages over its own anchors; the mean over ranks is the global loss
    rank_loss = torch.stack([r[0] for r in ranks]).mean()
    torch.testing.assert_close(rank_loss, loss.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.stack([r[1] for r in ranks]).mean(), accuracy)
    for rank, (_, _, grad1, grad2) in enumerate(ranks):
        rows = slice(rank * n, (rank + 1) * n)
        assert grad1 is not None and grad2 is not None and grad1.abs().sum() > 0
        # a rank's own rows receive the gradient of every rank's loss (all_gather's backward
        # sums them), i.e. world_size times the global-loss gradient; DDP's averaging of the
        # parameter gradients then divides by world_size and recovers the global gradient
        torch.testing.assert_close(grad1, WORLD_SIZE * z1.grad[rows], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(grad2, WORLD_SIZE * z2.grad[rows], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", range(len(DISTRIBUTED_CASES)))
def test_distributed_without_gather_uses_only_local_negatives(
    distributed_results: list[dict], case: int
) -> None:
    n, dim, temperature = DISTRIBUTED_CASES[case]
    z1, z2 = random_views(WORLD_SIZE * n, dim, seed=case)
    for rank, results in enumerate(distributed_results):
        rows = slice(rank * n, (rank + 1) * n)
        expected = naive_nt_xent(z1[rows], z2[rows], temperature)
        torch.testing.assert_close(results[case, False][0], expected, rtol=1e-12, atol=1e-12)


def test_the_default_temperature_is_the_configs() -> None:
    """One default tau for the library and the config: a user of NTXentLoss() gets the
    default run's temperature."""
    import inspect

    from simclr.config.schema import LossConfig
    from simclr.loss import NTXentLoss

    default = LossConfig().temperature
    assert inspect.signature(nt_xent_loss).parameters["temperature"].default == default
    assert NTXentLoss().temperature == default
