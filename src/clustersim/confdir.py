"""Where the packaged Hydra configuration (``conf/``) is: a leaf module (it imports nothing of clustersim).

The configuration loader and the override checks both read the folder; neither needs the other for it.
"""

from __future__ import annotations

from pathlib import Path


def config_dir() -> str:
    """The folder of the packaged Hydra configuration (``conf/``)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parents[1] / "conf"):
        if (candidate / "config.yaml").is_file():
            return str(candidate)
    raise FileNotFoundError("the clustersim configuration folder conf/ was not found")


def safe_load(text: str) -> object:
    """``yaml.safe_load(text)`` through libyaml's parser when PyYAML has it (about 8 times faster; the same values)."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
