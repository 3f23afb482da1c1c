"""Baseline models. Each file registers its model in ``dsta.core.registry`` on import, as DSTA's does; importing this
package imports them all (``dsta.models`` does, so the registry holds every model)."""

from baselines import dcpose, heatmap, rle  # noqa: F401
