"""clustersim: an agent-based model of regional innovation-cluster policy."""

import os
import sys
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("clustersim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

# Arrow's memory allocator, chosen before pyarrow is first imported (it reads the variable
# then, and only then; a value the user set is kept). On Linux the wheels carry jemalloc,
# which holds fewer idle pages than their default, mimalloc: the whole region's run writing
# its firm microdata 257.7 -> 250.4 MB peak, merging 2,000 runs 399 -> 350 MB, the same
# speed and the same bytes written (docs/PERFORMANCE.md, fifth pass). Arrow documents the
# variable ("Overriding the default memory pool", https://arrow.apache.org/docs/cpp/memory.html).
if sys.platform == "linux" and "pyarrow" not in sys.modules:
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")

__all__ = ["__version__"]
