"""Validation: outputs that were not calibration targets, side by side with public figures.

The calibrated model (the default configuration) is run under the scenarios of a
validation specification (``conf/validation/piedmont.yaml``). Each *item* names a measure
read from one run (a summary KPI, members of a cluster at a date, the outcome of the calls
of one line, a share of members by size class, a network statistic, a turnover
comparison) and, where one exists, the public figure it is compared with. Replication
``r`` of every scenario is child ``r`` of ``SeedSequence(seed)``, as in the calibration.
Each measure is summarised by its mean over replications, the 95% t interval of that mean
and the 2.5-97.5 percentiles of the replications (where one history would fall); the
verdict says whether the public figure is matched. Nothing here is tuned to the public
figures: the model's parameters are those of the configuration.

The package, by job: :mod:`~clustersim.validation.spec` (the typed specification),
:mod:`~clustersim.validation.measures` (what one run gives),
:mod:`~clustersim.validation.network` (the network against a random graph),
:mod:`~clustersim.validation.run` (the runs), :mod:`~clustersim.validation.tables`
(comparison and verdicts), :mod:`~clustersim.validation.report` and
:mod:`~clustersim.validation.figures` (the outputs), :mod:`~clustersim.validation.cli`
(``clustersim-validate``). Method and results: ``docs/VALIDATION.md``.
"""

from clustersim.errors import SpecError
from clustersim.validation.cli import main
from clustersim.validation.report import comparison_markdown, report_markdown, write_results
from clustersim.validation.run import ValidationResult, validate_model
from clustersim.validation.spec import ValidationSpec, load_spec, spec_from_dict
from clustersim.validation.tables import VERDICTS, verdict

__all__ = [
    "VERDICTS",
    "SpecError",
    "ValidationResult",
    "ValidationSpec",
    "comparison_markdown",
    "load_spec",
    "main",
    "report_markdown",
    "spec_from_dict",
    "validate_model",
    "verdict",
    "write_results",
]
