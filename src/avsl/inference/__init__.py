"""Predictors (something -> maps), rendering and reports."""
