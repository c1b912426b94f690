"""Training losses; each takes a localizer's output and the batch."""
