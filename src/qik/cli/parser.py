"""The argument parser of the meta commands: its usage errors are coded, as every
mistake qik can point at is (``error[usage]``, exit 2), instead of argparse's own text."""

from __future__ import annotations

import argparse
from typing import NoReturn

from qik.errors import usage_error

__all__ = ["Parser"]


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise usage_error(self.prog, message)
