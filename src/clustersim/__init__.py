"""clustersim: an agent-based model of regional innovation-cluster policy."""

import os
import sys
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("clustersim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


def _arrow_has_jemalloc() -> bool:
    """Whether the installed pyarrow was built with jemalloc (its build header says so), without importing it."""
    from importlib.util import find_spec

    try:
        spec = find_spec("pyarrow")
        folders = list(spec.submodule_search_locations or []) if spec is not None else []
        for folder in folders:
            header = os.path.join(folder, "include", "arrow", "util", "config.h")
            if os.path.isfile(header):
                with open(header, encoding="utf-8", errors="replace") as f:
                    return any(line.split() == ["#define", "ARROW_JEMALLOC"] for line in f)
    except (ImportError, OSError, ValueError):
        pass
    return False


# Arrow's memory allocator, chosen before pyarrow is first imported (it reads the variable
# then, and only then; a value the user set is kept). On Linux the wheels carry jemalloc,
# which holds fewer idle pages than their default, mimalloc: the whole region's run writing
# its firm microdata 257.7 -> 248.8 MB peak, merging 2,000 runs 399 -> 350 MB, the same
# speed and the same bytes written (docs/PERFORMANCE.md, fifth pass). Arrow documents the
# variable ("Overriding the default memory pool", https://arrow.apache.org/docs/cpp/memory.html);
# a build without jemalloc would warn about it at every import, so it is named only when the
# installed pyarrow's build header says the build has it.
if (
    sys.platform == "linux"
    and "pyarrow" not in sys.modules
    and "ARROW_DEFAULT_MEMORY_POOL" not in os.environ
    and _arrow_has_jemalloc()
):
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "jemalloc"

__all__ = ["__version__"]
