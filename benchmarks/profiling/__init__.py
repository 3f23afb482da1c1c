"""The pieces of ``python -m benchmarks.profile``, one concern per module.

* ``specs``: what to profile (a model config or an experiment of params.yaml -> ``ModelSpec``).
* ``steps``: the two ways of making one key-frame prediction (clip, streaming) and their inputs.
* ``flops``: parameters and fvcore GFLOPs with the handles fvcore lacks.
* ``memory``: peak memory of a forward pass and of a training step (CUDA and Linux CPU).
* ``timing``: timed calls with warm-up and device synchronisation.
* ``env``: the environment every result carries (device, torch, dtype, threads, commit).

``benchmarks/profile.py`` is the command line and the whole single-model profile built from them.
"""
