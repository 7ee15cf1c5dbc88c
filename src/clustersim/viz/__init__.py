"""Interactive dashboard (Mesa SolaraViz) for clustersim.

The model never imports this package; the dashboard uses only the model's public API
(:func:`clustersim.config.load_config`, :class:`clustersim.model.ClusterModel` and what a
model records). Start it with the ``clustersim-dashboard`` command.
"""
