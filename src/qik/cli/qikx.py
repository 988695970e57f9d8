"""``qikx TOOL[@SPACE] ARGS...``: run any executable inside a space's environment."""

from __future__ import annotations

import os
import shutil

from qik.errors import QikError

__all__ = ["run_qikx"]


def run_qikx(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: qikx TOOL[@SPACE] ARGS...")
        return 0 if argv else 2
    tool, _, space = argv[0].partition("@")
    if space and space != "default":
        raise QikError(
            f"space {space!r}: only the default (active) environment can run tools yet",
            code="unknown-space",
            hint="run the tool in the default space: qikx TOOL ARGS...",
        )
    path = shutil.which(tool)
    if path is None:
        raise QikError(
            f"no executable named {tool!r} in the environment",
            code="tool-not-found",
            hint="install the tool into the environment, or check its name",
        )
    os.execv(path, [tool, *argv[1:]])
    return 0  # not reached: execv replaces this process
