"""avsl: audio-visual source localization (Dual Mean-Teacher and its baselines).

The Python API (`avsl.load`, `avsl.evaluate`, `avsl.train`; see `avsl.api`) is imported on first
use, so `import avsl` stays light for the command line's `--version`.
"""

__version__ = "0.1.0"
_API = ("load", "evaluate", "train", "overlay", "localize_video", "TrainConfig", "Localization", "LocalizationModel")


def __getattr__(name: str):
    if name in _API:
        from avsl import api  # the package's public surface: the one upward import

        return getattr(api, name)
    raise AttributeError(f"module 'avsl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
