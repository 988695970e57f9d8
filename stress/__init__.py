"""Fault, load and benchmark programs for qik; run with ``python -m stress``."""
