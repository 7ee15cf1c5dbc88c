"""clustersim's Hydra sweeper plugin (``hydra/sweeper=clustersim``): Hydra's basic sweeper, faster to start."""
