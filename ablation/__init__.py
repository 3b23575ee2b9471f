"""Ablation sweeps: many pretraining runs that differ by config overrides, each evaluated."""
