"""Case 4, failing S3: a fault-injecting proxy (``proxy.py``) between qik and moto injects
5xx answers, throttling, connection resets, slow answers, garbage bodies, refused
connections and black holes, from the start of a run or from a random request on.

Every run must end with the commands' own exit code and results, within a bound derived
from qik's S3 timeouts, with at most one warning, no traceback; and whatever reached the
bucket must verify (never a manifest that points at nothing).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from stress.faults import moto
from stress.faults.harness import Ctx, qik, tracebacks
from stress.faults.outcome import differences, outcome
from stress.faults.project import ARTIFACT_FOLDERS, Reference, make_project, make_reference
from stress.faults.proxy import Proxy
from stress.faults.report import CaseReport, Check, Trial

__all__ = ["run"]

TITLE = "failing S3: 5xx, throttling, resets, slow, garbage, refused, black holes (proxy)"
QUICK = (
    "5xx",
    "5xx-some",
    "throttle",
    "reset",
    "reset-some",
    "slow",
    "garbage",
    "refuse",
    "blackhole-connect",
)
FULL = (*QUICK, "blackhole-read")
TIMEOUTS = ("blackhole-connect", "blackhole-read")


def _bound(fault: str, baseline: float) -> float:
    """Seconds a run may take: one round of botocore's attempts per process that talks to
    S3 (the main process, then at most the pool workers at once), with slack for load."""
    from qik.store.s3 import CONNECT_TIMEOUT, MAX_ATTEMPTS, READ_TIMEOUT

    if fault in TIMEOUTS:
        per_call = MAX_ATTEMPTS * (CONNECT_TIMEOUT + READ_TIMEOUT) + 10
        return baseline + 2 * per_call + 15
    return baseline + 45


def run(ctx: Ctx) -> CaseReport:
    report = CaseReport("s3-faults", TITLE, "")
    server = moto.server()
    client = server.client()
    proxy = Proxy(server.port, rng=ctx.rng).start()
    try:
        template = make_project(
            ctx.fresh("template") / "repo",
            modules=2,
            size=64 << 10,
            gen_cache="remote",
            extra=moto.s3_toml(),
        )
        ref_bucket = server.new_bucket(client)
        ref_env = {**ctx.env, **moto.s3_env(server.endpoint, ref_bucket)}
        ref = make_reference(ctx, template, 0, env=ref_env)
        report.figures["uninterrupted cold run"] = f"{ref.seconds:.1f}s"
        repeats = ctx.scale(1, 4)
        faults = ctx.scale(QUICK, FULL)
        for n in range(repeats):
            for i, fault in enumerate(faults):
                direction = ("push", "pull")[(i + n) % 2] if ctx.mode == "quick" else None
                for way in (direction,) if direction else ("push", "pull"):
                    mid = ctx.mode == "full" and n % 2 == 1
                    row = report.check(f"{fault}{' mid-run' if mid else ''}")
                    _trial(ctx, template, ref, proxy, client, fault, way, mid, row)
                    ctx.log(f"s3-faults: {fault} {way}{' mid-run' if mid else ''}")
    finally:
        proxy.stop()
    return report


def _clone(ctx: Ctx, template: Path, name: str) -> Path:
    root = ctx.fresh(name) / "repo"
    shutil.copytree(template, root, symlinks=True)
    return root


def _trial(
    ctx: Ctx,
    template: Path,
    ref: Reference,
    proxy: Proxy,
    client: object,
    fault: str,
    way: str,
    mid: bool,
    row: Check,
) -> None:
    server = moto.server()
    bucket = server.new_bucket(client)
    env = {**ctx.env, **moto.s3_env(proxy.endpoint, bucket)}
    if way == "pull":  # a first machine fills the bucket through a healthy proxy
        proxy.set("ok")
        first = _clone(ctx, template, f"{fault}-first")
        filled = qik(first, env=env)
        if filled.code != ref.outcome.code:
            raise RuntimeError(f"could not fill the bucket: {filled.brief()}")
    root = _clone(ctx, template, f"{fault}-{way}")
    proxy.set(fault, fail_after=ctx.rng.randrange(1, 12) if mid else None)
    report = root.parent / "report.json"
    bound = _bound(fault, ref.seconds)
    done = qik(root, "--report", str(report), env=env, timeout=bound + 60)
    trial = Trial(f"{fault} {way}: {proxy.injected} of {proxy.requests} requests faulted")
    proxy.set("ok")
    trial.expect(not done.timed_out, f"hung: killed after {bound + 60:.0f}s")
    trial.expect(done.seconds <= bound, f"took {done.seconds:.0f}s, bound {bound:.0f}s")
    trial.expect(not tracebacks(done), f"traceback: {done.brief()}")
    trial.expect(done.code == ref.outcome.code, f"exit {done.code}: {done.brief()}")
    warnings = done.warnings()
    trial.expect(len(warnings) <= 1, f"{len(warnings)} warnings: {' | '.join(warnings)[:400]}")
    got = outcome(done.code, report, root, ARTIFACT_FOLDERS)
    for problem in differences(ref.outcome, got):
        trial.expect(False, problem)
    # The local store and whatever reached the bucket: never a manifest without its objects.
    stores = qik(root, ":cache", "verify", "--cache", "local", "--cache", "remote", env=env)
    trial.expect(stores.code == 0, f"verify: {stores.stdout.strip()[-300:]}")
    row.counts["slowest run (s)"] = max(row.counts.get("slowest run (s)", 0), round(done.seconds))
    row.count("runs with a warning" if warnings else "runs without")
    row.add(trial)
