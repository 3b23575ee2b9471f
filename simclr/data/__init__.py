"""Datasets by name, read into uint8 images, and the DataModule that feeds pretraining.

- :mod:`simclr.data.registry`: every dataset is one :class:`DatasetSpec` entry of ``DATASETS``
  (its reader, channels, normalisation statistics and splits); adding a dataset is one entry;
- :mod:`simclr.data.readers`: the official formats (IDX, CIFAR's pickle batches, STL-10's binary
  files) and image folders, read into the dataset classes;
- :mod:`simclr.data.folders`: an image folder's splits: its ``train``/``val``/``test``
  subfolders (the ImageNet layout, one class index in all) or a seeded held-out part;
- :mod:`simclr.data.images`: the dataset classes, in memory or from files, and their collate;
- :mod:`simclr.data.encoded`: a folder's JPEG files handed over as bytes (``data.decode``), and
  :mod:`simclr.data.device_decode`: their batched decoding on the device the batch reached;
- :mod:`simclr.data.splits`: a configured split, its subset and its conversion to
  ``image_size`` and ``channels``; :mod:`simclr.data.workers`: how many loader workers;
- :mod:`simclr.data.datamodule`: the LightningDataModule of pretraining.

Datasets held in memory (Fashion-MNIST, CIFAR, STL-10) are converted once, when loaded, and a
batch is one gather from that uint8 tensor, so they need no DataLoader workers. Image folders are
decoded, converted and resized per image in workers, or, for JPEG files under ``data.decode``,
read there and decoded on the accelerator. Either way the module gets uint8 tensors; all
augmentation happens on the accelerator (:mod:`simclr.augment`).
"""
