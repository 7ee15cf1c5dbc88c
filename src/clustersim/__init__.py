"""clustersim: an agent-based model of regional innovation-cluster policy."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("clustersim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
