"""The SimCLR LightningModule (simclr/module.py): views on the device, steps, online probe."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from simclr.config.load import as_config
from simclr.data.encoded import EncodedImages, collate_encoded
from simclr.data.images import collate
from simclr.data.splits import load_split
from simclr.loss import nt_xent_loss
from simclr.module import SimCLR
from tests.simclr.jpegs import write_jpegs, write_png, write_truncated_jpeg

# the module logs through its trainer; these unit tests call the steps without one
pytestmark = pytest.mark.filterwarnings("ignore:.*self.log.*:UserWarning")

BATCH, SIZE = 6, 16


@pytest.fixture
def module(make_config, seeded) -> SimCLR:
    """Fashion-MNIST-shaped (1 channel) SimCLR with a probe over 10 classes."""
    return SimCLR.from_config(make_config("loss.temperature=0.5"), num_classes=10)


def uint8_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (BATCH, 1, SIZE, SIZE), generator=generator).byte()
    return images, torch.arange(BATCH) % 10


def test_training_batch_becomes_two_float_views(module: SimCLR) -> None:
    module.train()
    images, labels = uint8_batch()
    view1, view2, out_labels = module.on_after_batch_transfer((images, labels), 0)
    for view in (view1, view2):
        assert view.shape == (BATCH, 1, SIZE, SIZE) and view.dtype == torch.float32
    assert not torch.allclose(view1, view2)
    assert torch.equal(out_labels, labels)


def test_evaluation_batch_is_only_normalised(module: SimCLR) -> None:
    module.eval()
    images, labels = uint8_batch()
    normalised, out_labels = module.on_after_batch_transfer((images, labels), 0)
    # Fashion-MNIST's registered statistics
    torch.testing.assert_close(normalised, (images.float() / 255 - 0.2860) / 0.3530)
    assert torch.equal(out_labels, labels)


def test_training_step_returns_a_finite_loss(module: SimCLR) -> None:
    module.train()
    batch = module.on_after_batch_transfer(uint8_batch(), 0)
    loss = module.training_step(batch, 0)
    assert loss.dim() == 0 and torch.isfinite(loss) and loss.requires_grad
    loss.backward()
    assert all(p.grad is not None for p in module.encoder.parameters())


def test_a_batch_without_negatives_is_skipped(module: SimCLR) -> None:
    module.train()
    view = torch.rand(1, 1, SIZE, SIZE)
    assert module.training_step((view, view.clone(), torch.zeros(1, dtype=torch.long)), 0) is None


def test_probe_loss_sends_no_gradient_into_the_encoder(
    module: SimCLR, monkeypatch: pytest.MonkeyPatch
) -> None:
    module.train()
    batch = module.on_after_batch_transfer(uint8_batch(), 0)

    def no_contrast(z1, z2, temperature, gather):  # keeps z in the graph, with zero gradient
        return (z1.sum() + z2.sum()) * 0.0, torch.tensor(0.0)

    # training_step's own loss is then the probe's alone: any gradient in f came through h
    monkeypatch.setattr("simclr.module.nt_xent_loss", no_contrast)
    loss = module.training_step(batch, 0)
    assert loss.requires_grad and loss > 0
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.probe.parameters())
    encoder = module.encoder.named_parameters()
    leaked = [name for name, p in encoder if p.grad is not None and p.grad.any()]
    assert leaked == []


def test_encoder_gradient_is_that_of_the_contrastive_loss_alone(module: SimCLR) -> None:
    module.train()
    view1, view2, labels = module.on_after_batch_transfer(uint8_batch(), 0)
    module.training_step((view1, view2, labels), 0).backward()  # NT-Xent + probe
    with_probe = [p.grad.clone() for p in module.encoder.parameters()]
    module.zero_grad(set_to_none=True)

    projection = module.head(module.encoder(torch.cat([view1, view2])))
    nt_xent_loss(projection[:BATCH], projection[BATCH:], 0.5)[0].backward()
    for grad, p in zip(with_probe, module.encoder.parameters()):
        torch.testing.assert_close(grad, p.grad)


def test_forward_is_the_representation(module: SimCLR) -> None:
    module.eval()
    images = torch.randn(2, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    # h by hand: the last stage's feature map of f, average-pooled (SimCLR section 2.1) ...
    stage_outputs = []
    module.encoder.backbone.layer4.register_forward_hook(
        lambda layer, inputs, output: stage_outputs.append(output)
    )
    # ... and by a plain torchvision ResNet-18 given the same weights
    torchvision_f = torchvision.models.resnet18()
    # the default stem at this size (auto: pooled): a 3x3 stride-1 conv1, torchvision's max-pool
    torchvision_f.conv1 = nn.Conv2d(1, 64, kernel_size=3, stride=1, padding=1, bias=False)
    torchvision_f.fc = nn.Identity()
    torchvision_f.load_state_dict(module.encoder.backbone.state_dict(), strict=True)
    with torch.no_grad():
        representation = module(images)
        pooled = stage_outputs[-1].mean(dim=(2, 3))
        expected = torchvision_f.eval()(images)
    assert representation.shape == (2, 512)  # h, not the 128-d projection z = g(h)
    torch.testing.assert_close(representation, pooled)
    torch.testing.assert_close(representation, expected)


def test_hyperparameters_rebuild_the_same_module(module: SimCLR) -> None:
    rebuilt = SimCLR.from_config(module.hparams["config"], module.hparams["num_classes"])
    assert rebuilt.hparams == module.hparams
    rebuilt.load_state_dict(module.state_dict(), strict=True)


def test_no_probe_without_labels(make_config) -> None:
    assert SimCLR.from_config(make_config(), num_classes=0).probe is None
    assert SimCLR.from_config(make_config("probe.enabled=false"), num_classes=10).probe is None


# ----------------------------------------------------------------------------- unreadable batches


def test_a_batch_with_no_readable_image_is_skipped_and_counted(module: SimCLR) -> None:
    module.train()
    assert module.on_after_batch_transfer(None, 0) is None
    assert module.skipped_images == 0
    assert module.training_step(None, 0) is None
    assert module.skipped_images == module.batch_size == 8
    module.eval()
    assert module.on_after_batch_transfer(None, 0) is None
    assert module.validation_step(None, 0) is None


def test_images_left_out_of_a_batch_are_counted(module: SimCLR) -> None:
    module.train()
    images, labels = uint8_batch()  # 6 of the configured 8: two were unreadable
    loss = module.training_step(module.on_after_batch_transfer((images, labels), 0), 0)
    assert loss is not None and module.skipped_images == 2
    one = module.on_after_batch_transfer((images[:1], labels[:1]), 0)
    assert module.training_step(one, 0) is None  # no negatives, and 7 were unreadable
    assert module.skipped_images == 2 + 7


def test_jpeg_files_that_came_encoded_are_decoded_before_the_views(
    module: SimCLR, tmp_path: Path
) -> None:
    write_jpegs(tmp_path)
    write_png(tmp_path / "png.png")
    write_truncated_jpeg(tmp_path / "truncated.jpg")  # 8 files, the configured batch
    data = as_config(module.hparams["config"]).data
    data = dataclasses.replace(data, name="folder", path=str(tmp_path), channels=1)
    prepared = load_split(data, "all")  # 1 channel, SIZE px: as the module is configured
    with pytest.warns(UserWarning, match="truncated.jpg"):
        images, labels = collate([prepared[i] for i in range(len(prepared))])
    encoded = EncodedImages(prepared)
    batch = collate_encoded([encoded[i] for i in range(len(encoded))])
    module.eval()
    with pytest.warns(UserWarning, match="truncated.jpg"):
        normalised, out_labels = module.on_after_batch_transfer(batch, 0)
    torch.testing.assert_close(normalised, (images.float() / 255 - 0.2860) / 0.3530)
    assert torch.equal(out_labels, labels) and len(labels) == 7
    module.train()
    with pytest.warns(UserWarning, match="truncated.jpg"):
        views = module.on_after_batch_transfer(batch, 0)
    assert module.training_step(views, 0) is not None and module.skipped_images == 1
    only_corrupt = collate_encoded([encoded[len(encoded) - 1]])
    with pytest.warns(UserWarning, match="truncated.jpg"):
        assert module.on_after_batch_transfer(only_corrupt, 0) is None


# ----------------------------------------------------------------------------- composition


class TinyEncoder(nn.Module):
    """An encoder of one's own: one convolution and global average pooling."""

    feature_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def test_the_module_trains_the_blocks_it_is_handed_without_a_datamodule(seeded) -> None:
    import lightning as L

    from simclr.augment import SimCLRViews
    from simclr.config.schema import OptimizerConfig
    from simclr.head import ProjectionHead

    views = SimCLRViews(image_size=SIZE, channels=1, mean=(0.5,), std=(0.5,))
    encoder = TinyEncoder()
    optimizer = OptimizerConfig(name="sgd", base_lr=0.5, warmup_epochs=0.5)
    module = SimCLR(
        views,
        encoder,
        ProjectionHead(8, "mlp", projection_dim=4),
        0.2,
        batch_size=4,
        optimizer=optimizer,
    )
    images = torch.randint(0, 256, (32, 1, SIZE, SIZE), dtype=torch.uint8)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images, torch.zeros(32, dtype=torch.long)), batch_size=4
    )  # 8 batches an epoch
    before = [p.detach().clone() for p in encoder.parameters()]
    trainer = L.Trainer(
        max_steps=6,
        max_epochs=-1,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, loader)
    assert trainer.global_step == 6
    # the warm-up is half of Lightning's 8 batches an epoch, not half of the 6 steps planned
    assert module.planned_schedule.warmup == 4 and module.planned_schedule.end == 6
    assert module.learning_rate() == 0.5 * 4 / 256  # the global batch N = 4 of one process
    assert all(not torch.equal(a, b) for a, b in zip(before, encoder.parameters()))


def test_a_checkpoint_loads_back_and_a_foreign_one_is_refused_in_one_line(
    module: SimCLR, tmp_path: Path
) -> None:
    from simclr.errors import ConfigError

    path = tmp_path / "module.ckpt"
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}, path)
    loaded = SimCLR.load_from_checkpoint(path)
    assert loaded.hparams == module.hparams
    for name, value in module.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]), name
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": {"lr": 0.1}}, path)
    with pytest.raises(ConfigError, match=r"not a simclr pretraining checkpoint") as error:
        SimCLR.load_from_checkpoint(path)
    assert "\n" not in str(error.value)


def test_the_checkpoint_holds_what_checkpoints_written_before_composition_held(
    make_config,
) -> None:
    """The weights' names and shapes and the hyperparameters' names of a checkpoint that
    ``simclr pretrain`` wrote before the module composed its blocks: those checkpoints load."""
    import json

    before = json.loads((Path(__file__).parent / "checkpoint_before_composition.json").read_text())
    module = SimCLR.from_config(make_config("encoder.name=resnet18"), num_classes=10)
    shapes = {name: list(value.shape) for name, value in module.state_dict().items()}
    assert shapes == before["state_dict"]
    assert sorted(module.hparams) == before["hyper_parameters"]


class FlipViews(nn.Module):
    """Views of one's own: the images and their mirror, normalised; ``chunk_size`` recorded."""

    def __init__(self, take_chunks: bool) -> None:
        super().__init__()
        self.received: list = []
        if take_chunks:
            self.forward = self.forward_in_chunks  # the protocol: forward(images, chunk_size=None)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return images.float() / 255

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.received.append("no chunk_size")
        return self.normalize(images), self.normalize(images).flip(-1)

    def forward_in_chunks(self, images: torch.Tensor, chunk_size: int | None = None):
        self.received.append(chunk_size)
        return self.normalize(images), self.normalize(images).flip(-1)


@pytest.mark.parametrize("take_chunks", [True, False])
def test_views_of_ones_own_are_made_in_chunks_when_they_take_chunk_size(
    take_chunks: bool, recwarn: pytest.WarningsRecorder
) -> None:
    """SimCLRViews is not the only views that can be made in chunks: any views whose forward
    takes chunk_size gets it; others are made in one pass, and the module says so once."""
    from simclr.head import ProjectionHead

    views = FlipViews(take_chunks)
    module = SimCLR(views, TinyEncoder(), ProjectionHead(8, "mlp", projection_dim=4), chunk_size=2)
    warned = [str(w.message) for w in recwarn if "takes no chunk_size" in str(w.message)]
    assert len(warned) == (0 if take_chunks else 1)
    assert not warned or warned[0].startswith("chunk_size=2: FlipViews takes no chunk_size")
    images = torch.randint(0, 256, (4, 1, SIZE, SIZE), dtype=torch.uint8)
    first, second, labels = module.train().on_after_batch_transfer((images, torch.zeros(4)), 0)
    assert torch.equal(second, first.flip(-1)) and len(labels) == 4
    assert views.received == ([2] if take_chunks else ["no chunk_size"])
