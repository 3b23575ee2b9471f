"""Retrieval: a faiss index over a gallery's frozen features (its type, its calibrated search
knob, its files on disk and what a query must share with it), and queries answered with their
nearest gallery images (``simclr index``, ``simclr retrieve``)."""
