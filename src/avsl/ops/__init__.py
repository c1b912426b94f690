"""Small tensor helpers shared by data, models, losses and metrics."""
