"""More than two views, smaller views and SwAV's multi-crop (augment.views, augment.view_size,
augment.small_views): what the views are, and that every view reaches NT-Xent."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from simclr.augment import MultiCropViews, SimCLRViews, build_views
from simclr.config.augment import AugmentConfig, SmallViewsConfig
from simclr.loss import multi_view_nt_xent_loss
from simclr.module import SimCLR
from tests.simclr.test_augment import config_with, random_images

pytestmark = pytest.mark.filterwarnings("ignore:.*self.log.*:UserWarning")


def test_each_of_v_views_is_its_own_draw_of_t() -> None:
    """Only the flip on: every view of every image is the image or its mirror, and the views
    of one image are drawn independently (some differ)."""
    images = random_images(32, 1)
    views = SimCLRViews.from_config(config_with("flip"), 16, 1, [0.0], [1.0], views=4)
    torch.manual_seed(0)
    made = views(images)
    assert len(made) == 4
    floats = images.float() / 255
    for view in made:
        same = (view == floats).flatten(1).all(1)
        mirrored = (view == floats.flip(-1)).flatten(1).all(1)
        assert bool((same | mirrored).all())
    assert any(not torch.equal(made[0], other) for other in made[1:])


@pytest.mark.parametrize("chunk_size", [3, 5])
def test_v_views_made_in_chunks_are_the_views_of_the_whole_batch(chunk_size: int) -> None:
    images = random_images(10, 3, size=20)
    config = config_with("crop", "flip", "color", "grayscale", "blur", normalize=True)
    views = SimCLRViews.from_config(config, 16, 3, [0.5] * 3, [0.25] * 3, views=3)
    torch.manual_seed(4)
    whole = views(images)
    torch.manual_seed(4)
    chunked = views(images, chunk_size=chunk_size)
    assert len(chunked) == len(whole) == 3
    for made, expected in zip(chunked, whole):
        torch.testing.assert_close(made, expected, rtol=1e-6, atol=1e-6)


def test_views_at_view_size_and_small_views_at_their_side() -> None:
    config = AugmentConfig(views=3, view_size=12, small_views=SmallViewsConfig(count=2))
    views = build_views(config, 28, 1, [0.5], [0.25])
    assert isinstance(views, MultiCropViews)
    shapes = [tuple(view.shape) for view in views(random_images(4, 1, size=28))]
    # 96/224 of 12 px is 5 px
    assert shapes == [(4, 1, 12, 12)] * 3 + [(4, 1, 5, 5)] * 2
    assert views.small.distribution.crop_scale == (0.05, 0.14)
    images = random_images(4, 1, size=28)
    torch.testing.assert_close(views.normalize(images), views.views.normalize(images))


def test_small_crops_cover_the_fraction_of_the_image_asked_for() -> None:
    """The small views' crop boxes cover between 5 % and 14 % of the image (SwAV's scale)."""
    config = AugmentConfig(small_views=SmallViewsConfig(count=6, size=12))
    small = build_views(config, 28, 1, [0.5], [0.25]).small
    images = torch.zeros(500, 1, 28, 28)
    boxes = small.draw(images).box
    area = boxes[:, 2] * boxes[:, 3] / 28**2
    assert area.shape == (6 * 500,)
    assert float(area.min()) >= 0.05 - 0.01 and float(area.max()) <= 0.14 + 0.01


def test_the_default_augment_section_makes_the_papers_two_views() -> None:
    views = build_views(AugmentConfig(), 28, 1, [0.5], [0.25])
    assert isinstance(views, SimCLRViews) and views.count == 2 and views.image_size == 28


def test_smaller_views_train_while_validation_images_keep_their_size(make_config, seeded) -> None:
    module = SimCLR.from_config(make_config("augment.view_size=12"), num_classes=10)
    images, labels = random_images(6, 1, size=16), torch.arange(6)
    module.train()
    view1, view2, _ = module.on_after_batch_transfer((images, labels), 0)
    assert view1.shape == view2.shape == (6, 1, 12, 12)
    assert torch.isfinite(module.training_step((view1, view2, labels), 0))
    module.eval()
    normalised, _ = module.on_after_batch_transfer((images, labels), 0)
    assert normalised.shape == (6, 1, 16, 16)


def test_every_view_reaches_the_loss_with_its_own_image(make_config, seeded) -> None:
    """The step's loss is NT-Xent over every view, each view embedded on its own (BatchNorm on
    its running statistics, so that how views are grouped into passes cannot matter)."""
    config = make_config("augment.views=3", "augment.small_views.count=2", "probe.enabled=false")
    module = SimCLR.from_config(config)
    module.train()
    images = random_images(6, 1, size=16)
    *views, labels = module.on_after_batch_transfer((images, torch.arange(6)), 0)
    assert [v.shape[-1] for v in views] == [16, 16, 16, 7, 7]
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.eval()
    loss = module.training_step((*views, labels), 0)
    projections = [module.head(module.encoder(view)) for view in views]
    expected, _ = multi_view_nt_xent_loss(projections, config.loss.temperature, gather=False)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)
