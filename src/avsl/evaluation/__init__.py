"""Evaluation and reporting: the protocol run over a predictor's maps (`evaluate`), a dataset
folder scored through one path (`folder`), and the report page (`report`)."""
