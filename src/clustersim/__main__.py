"""``python -m clustersim``: the same as the ``clustersim`` command."""

from clustersim.cli import main

main()
