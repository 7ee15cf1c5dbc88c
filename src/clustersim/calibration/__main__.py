"""``python -m clustersim.calibration``: the same as ``clustersim-calibrate``."""

from clustersim.calibration.cli import main

raise SystemExit(main())
