"""``python -m clustersim.validation``: the same as ``clustersim-validate``."""

from clustersim.validation.cli import main

raise SystemExit(main())
