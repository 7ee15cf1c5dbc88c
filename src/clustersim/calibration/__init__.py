"""Calibration by the simulated method of moments.

The model is run under the scenarios of a calibration specification
(``conf/calibration/piedmont.yaml``): its *moments* (monthly member counts, end-of-run KPIs,
the outcome of calls, measures on the firm microdata) are averaged over replications and
compared with observed *targets*. The objective is the weighted sum of squared relative
errors, each scaled by the target's tolerance. The search is a Latin hypercube over the
free parameters' plausible box followed by Nelder-Mead from the best design point, in the
unit cube and clipped to the box, under a hard budget of model evaluations. Common random
numbers: replication ``r`` of every scenario and every parameter vector is child ``r`` of
``SeedSequence(model_seed)``.

The package, by job: :mod:`~clustersim.calibration.spec` (the typed specification),
:mod:`~clustersim.calibration.moments` (the model's moments),
:mod:`~clustersim.calibration.search` (objective and search),
:mod:`~clustersim.calibration.outputs` (tables, the calibrated option, the results folder),
:mod:`~clustersim.calibration.cli` (``clustersim-calibrate``). Method and results:
``docs/CALIBRATION.md``.
"""

from clustersim.calibration.cli import main
from clustersim.calibration.moments import (
    read_moments,
    replicate_moments,
    scenario_config,
    simulated_moments,
)
from clustersim.calibration.outputs import (
    calibrated_config_text,
    calibration_table_markdown,
    write_calibrated_config,
    write_results,
)
from clustersim.calibration.search import CalibrationResult, calibrate, latin_hypercube, objective, target_table
from clustersim.calibration.spec import (
    DEFAULT_SPEC,
    CalibrationSpec,
    Method,
    Parameter,
    Target,
    load_spec,
    spec_from_dict,
)
from clustersim.study import Scenario

__all__ = [
    "DEFAULT_SPEC",
    "CalibrationResult",
    "CalibrationSpec",
    "Method",
    "Parameter",
    "Scenario",
    "Target",
    "calibrate",
    "calibrated_config_text",
    "calibration_table_markdown",
    "latin_hypercube",
    "load_spec",
    "main",
    "objective",
    "read_moments",
    "replicate_moments",
    "scenario_config",
    "simulated_moments",
    "spec_from_dict",
    "target_table",
    "write_calibrated_config",
    "write_results",
]
