"""avsl: audio-visual source localization (Dual Mean-Teacher and its baselines)."""

__version__ = "0.1.0"
