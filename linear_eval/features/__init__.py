"""Frozen features: the extractors (the pretrained f and its baselines), the images'
preprocessing, h = f(x) extracted once per split (in one process or shared by several) and
cached on disk, read back as float32, and exported (``simclr embed``)."""
