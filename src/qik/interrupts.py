"""Ctrl-C and SIGTERM: recorded when they arrive, so a run stops even if the exception
their handler raised was swallowed.

A signal handler's exception surfaces wherever the main thread happens to be. Raised inside
a weakref callback, a ``__del__`` or an import lock's callback, Python prints "Exception
ignored in ..." and goes on: the Ctrl-C was lost and the run went to its end (found by a
black-box audit, about one Ctrl-C in ten pressed while the pool started). The scheduler
calls :func:`check` on every turn of its loop, and qik's exit code says what arrived.
"""

from __future__ import annotations

import signal

__all__ = [
    "Terminated",
    "check",
    "exit_code",
    "on_sigint",
    "on_sigterm",
    "quiet_when_swallowed",
    "received",
]

received: list[int] = []  # the stop signals that arrived, in order


class Terminated(BaseException):
    """SIGTERM arrived: stop like Ctrl-C, but exit 143."""


def on_sigint(signum: int, frame: object) -> None:
    received.append(signal.SIGINT)
    raise KeyboardInterrupt


def on_sigterm(signum: int, frame: object) -> None:
    received.append(signal.SIGTERM)
    raise Terminated()


def quiet_when_swallowed() -> None:
    """No "Exception ignored in ..." report for a stop signal's exception that Python
    swallowed: ``check`` raises it again where it can stop the run."""
    import sys

    default = sys.unraisablehook

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt | Terminated):
            return
        default(unraisable)

    sys.unraisablehook = hook


def check() -> None:
    """Raise again for a stop signal that arrived, in case its exception was lost."""
    if signal.SIGTERM in received:
        raise Terminated()
    if received:
        raise KeyboardInterrupt


def exit_code() -> int | None:
    """130 after a Ctrl-C, 143 after SIGTERM, None when neither arrived."""
    if signal.SIGTERM in received:
        return 143
    return 130 if received else None
