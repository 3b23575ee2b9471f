"""The machinery that runs the method: the Trainer and its callbacks, launch, the run directory,
resume, preemption, divergence, progress and console, summary, loggers, checkpoints and export,
atomic writes and safe reads. Empty on purpose: importing a module here loads only what it needs.
"""
