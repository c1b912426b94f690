"""Encoders and localizers behind a registry."""
