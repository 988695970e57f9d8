"""A qik project's configuration: finding, loading and validating it.

``load_project`` turns ``qik.toml`` (or ``[tool.qik]`` in ``pyproject.toml``), module-level
``qik.toml`` files, context variables and profiles into a frozen
:class:`~qik.config.schema.Project`, or raises a ``ConfigError`` whose code is listed in
``ERROR_CODES``.
"""

from __future__ import annotations

from qik.config.codes import ERROR_CODES
from qik.config.load import find_root, load_project

__all__ = ["ERROR_CODES", "find_root", "load_project"]
