"""The machinery of the two views t, t' ~ T (:class:`simclr.augment.SimCLRViews`): their random
parameters, the fused ops, Kornia's modules and the CUDA-graph capture.
"""
