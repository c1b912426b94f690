"""Training loops, evaluation, logging and distributed set-up."""
