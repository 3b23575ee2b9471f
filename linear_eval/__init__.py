"""Evaluation of a pretrained encoder f on frozen representations h.

Features are extracted once and cached (:mod:`linear_eval.features`; float16 on disk, float32
to every reader); the linear probe (:mod:`linear_eval.linear`), the weighted kNN classifier
(:mod:`linear_eval.knn`), retrieval (:mod:`linear_eval.retrieval`), embedding export and the 2-D
map all read those features and never change the encoder's weights. The probes' results are
cached beside the features (:mod:`linear_eval.result_cache`).
"""
