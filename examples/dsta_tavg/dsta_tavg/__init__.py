"""A temporal-average video pose regressor: the worked example of a dsta-bench model plugin.

``plugin.py`` declares it (torch-free: the config composer and the reports read it), ``model.py`` is the network,
``configs/`` its Hydra configs. See the package's README.
"""
