"""The evaluation protocols on frozen features: the weighted kNN classifier, the linear probe
(on cached features, or through f on cropped and flipped images), their metrics and cached
results, the table and ``eval.json`` of ``simclr eval``, and the 2-D map of ``simclr plot``."""
