"""Evaluation of a pretrained encoder f on frozen representations h.

Features are extracted once and cached (:mod:`linear_eval.features`; float16 on disk, float32
to every reader); the protocols (:mod:`linear_eval.protocols`: the linear probe, the weighted
kNN classifier, the 2-D map), retrieval (:mod:`linear_eval.retrieval`) and embedding export all
read those features and never change the encoder's weights; the probes' results are cached
beside the features. Fine-tuning on few labels (:mod:`linear_eval.finetune`) trains a copy of f.
The data flow one way, and so do the imports: ``features`` <- ``protocols`` <- ``retrieval``,
``finetune``; :mod:`linear_eval.commands` only parses the command line and dispatches.
"""
