"""Baseline models, registered in the same registry as DSTA (importing this package registers them)."""
from baselines import dcpose, heatmap, rle  # noqa: F401
