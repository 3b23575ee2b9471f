"""NT-Xent over more than two views (simclr.loss.multi_view_nt_xent_loss: multi-crop and V
views) against its formula evaluated anchor by anchor and positive by positive, against the
paper's two-view loss, and 2 gloo processes against one."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from simclr.loss import NTXentLoss, multi_view_nt_xent_loss, nt_xent_loss

WORLD_SIZE = 2


def many_views(count: int, n: int, dim: int, seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    anchor = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    # views correlated through their image, so accuracy is neither 0 nor 1
    return [
        anchor + torch.randn(n, dim, generator=generator, dtype=torch.float64) for _ in range(count)
    ]


def naive_multi_view(views: list[torch.Tensor], temperature: float) -> torch.Tensor:
    """Each (anchor, positive) pair scored against the other images' views only."""
    z = [torch.nn.functional.normalize(v, dim=1) for v in views]
    count, n = len(z), z[0].shape[0]
    losses = []
    for u in range(count):
        for i in range(n):
            e = [torch.exp(z[u][i] @ z[w].T / temperature) for w in range(count)]
            negatives = sum(e[w][k] for w in range(count) for k in range(n) if k != i)
            for v in range(count):
                if v != u:
                    losses.append(-torch.log(e[v][i] / (e[v][i] + negatives)))
    return torch.stack(losses).mean()


def naive_accuracy(views: list[torch.Tensor]) -> float:
    z = [torch.nn.functional.normalize(v, dim=1) for v in views]
    rows = [(u, i) for u in range(len(z)) for i in range(z[0].shape[0])]
    hits = 0
    for u, i in rows:
        others = [(w, k) for w, k in rows if (w, k) != (u, i)]
        w, k = max(others, key=lambda r: float(z[u][i] @ z[r[0]][r[1]]))
        hits += k == i
    return hits / len(rows)


@pytest.mark.parametrize(
    "count, n, dim, temperature", [(3, 4, 5, 0.5), (4, 3, 2, 0.1), (6, 2, 8, 1.0)]
)
def test_loss_and_accuracy_equal_the_formula(count: int, n: int, dim: int, temperature: float):
    views = many_views(count, n, dim, seed=count)
    loss, accuracy = multi_view_nt_xent_loss(views, temperature, gather=False)
    torch.testing.assert_close(loss, naive_multi_view(views, temperature))
    assert float(accuracy) == pytest.approx(naive_accuracy(views))


def test_gradient_equals_autograd_of_the_formula() -> None:
    views = [v.requires_grad_() for v in many_views(3, 4, 3, seed=1)]
    multi_view_nt_xent_loss(views, 0.3, gather=False)[0].backward()
    ours = [v.grad.clone() for v in views]
    for v in views:
        v.grad = None
    naive_multi_view(views, 0.3).backward()
    for mine, truth in zip(ours, (v.grad for v in views)):
        torch.testing.assert_close(mine, truth)


def test_two_views_are_the_papers_loss() -> None:
    """With V = 2 each anchor has one positive and 2(N - 1) negatives: equation 1."""
    z1, z2 = many_views(2, 7, 6, seed=2)
    torch.testing.assert_close(
        multi_view_nt_xent_loss([z1, z2], 0.2, gather=False),
        nt_xent_loss(z1, z2, 0.2, gather=False),
    )


def test_identical_views_give_the_log_of_the_negatives_plus_one() -> None:
    """All rows equal: every term is -log(1 / (1 + V(N - 1)))."""
    count, n = 4, 5
    views = [torch.ones(n, 3)] * count
    loss, _ = multi_view_nt_xent_loss(views, 0.5, gather=False)
    assert float(loss) == pytest.approx(math.log(1 + count * (n - 1)))


def test_the_module_form_takes_any_number_of_views() -> None:
    views = many_views(3, 4, 5, seed=3)
    torch.testing.assert_close(
        NTXentLoss(0.4, gather=False)(*views), multi_view_nt_xent_loss(views, 0.4, gather=False)
    )


@pytest.mark.parametrize(
    "views",
    [[torch.ones(3, 2)], [torch.ones(3, 2), torch.ones(4, 2)], [torch.ones(3), torch.ones(3)]],
)
def test_views_of_other_shapes_are_refused(views: list[torch.Tensor]) -> None:
    with pytest.raises(ValueError, match="views must be at least 2 tensors of one shape"):
        multi_view_nt_xent_loss(views)


def test_a_temperature_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="temperature=0"):
        multi_view_nt_xent_loss(many_views(3, 2, 2, seed=0), 0)


# ----------------------------------------------------------------------------- distributed

CASES = [(3, 3, 4, 0.2), (5, 2, 3, 0.5)]  # (views, images per rank, dimension, temperature)


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        results = {}
        for index, (count, n, dim, temperature) in enumerate(CASES):
            views = many_views(count, WORLD_SIZE * n, dim, seed=index)
            own = [v[rank * n : (rank + 1) * n].clone().requires_grad_() for v in views]
            loss, accuracy = multi_view_nt_xent_loss(own, temperature)
            loss.backward()
            results[index] = (loss.detach(), accuracy, [v.grad for v in own])
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out_dir = tmp_path_factory.mktemp("multi_view")
    mp.spawn(_worker, args=(str(out_dir / "init"), str(out_dir)), nprocs=WORLD_SIZE)
    return [torch.load(out_dir / f"rank{r}.pt") for r in range(WORLD_SIZE)]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_two_processes_contrast_the_global_batch(two_processes: list[dict], case: int) -> None:
    """Every rank's views meet the other rank's as negatives: the mean of the ranks' losses is
    one process's loss over the global batch, and each rank's rows get world_size times the
    global gradient (DDP's averaging divides it back)."""
    count, n, dim, temperature = CASES[case]
    views = [v.requires_grad_() for v in many_views(count, WORLD_SIZE * n, dim, seed=case)]
    loss, accuracy = multi_view_nt_xent_loss(views, temperature)
    loss.backward()
    ranks = [results[case] for results in two_processes]
    torch.testing.assert_close(torch.stack([r[0] for r in ranks]).mean(), loss.detach())
    torch.testing.assert_close(torch.stack([r[1] for r in ranks]).mean(), accuracy)
    for rank, (_, _, grads) in enumerate(ranks):
        rows = slice(rank * n, (rank + 1) * n)
        for grad, view in zip(grads, views):
            torch.testing.assert_close(grad, WORLD_SIZE * view.grad[rows])
