"""A real S3-compatible server for the tests: moto in server mode, in a subprocess, over
HTTP on 127.0.0.1 (never an in-process mock), started as the stress suite starts its own.
One per session; tests that must stop a server mid-run start their own with
``start_moto``."""

from __future__ import annotations

from stress.faults.moto import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, free_port, launch

__all__ = ["ACCESS_KEY", "REGION", "SECRET_KEY", "MotoServer", "free_port", "start_moto"]


def start_moto(timeout: float = 30.0) -> MotoServer:
    return launch(timeout)
