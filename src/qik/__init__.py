"""qik: a cached command runner for Python monorepos."""

__version__ = "0.3.0"
