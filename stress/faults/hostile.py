"""Case 5, hostile shared cache: manifests and objects planted in an S3 bucket and in the
committed repo cache (``.qik/``), as a malicious pull request or bucket writer would.

One run covers many variants at once: every module's runnable gets its own hostile result.
Each must be rejected (the command runs and produces its real artifact), nothing may be
written outside the repository (nor into ``.git``), and the run must proceed with exit 0.
Results that are valid but sly (setuid bits, a symlink at the destination) may replay, with
the setuid bits dropped and the link replaced rather than written through.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from stress.faults import moto
from stress.faults.harness import Ctx, git, make_repo, qik, tracebacks
from stress.faults.outcome import outcome
from stress.faults.report import CaseReport, Trial

__all__ = ["run"]

TITLE = "hostile shared cache: traversal, symlinks, bad types, bombs, bad JSON, forged signatures"
SIGN_KEY = "the-real-key"
Doc = dict[str, Any]


@dataclass(frozen=True)
class Planted:
    """What to put in the cache for one runnable: a manifest's bytes and its objects."""

    manifest: bytes
    objects: dict[str, bytes]  # digest -> stored frame


class Plant:
    """Builds hostile results for the runnable ``name`` of module ``module``."""

    def __init__(self, name: str, module: str, dep_hash: str, root: Path, bomb: int) -> None:
        self.name, self.module, self.dep_hash, self.root = name, module, dep_hash, root
        self.bomb = bomb
        self.objects: dict[str, bytes] = {}

    def obj(self, content: bytes) -> dict[str, object]:
        digest = hashlib.sha256(content).hexdigest()
        self.objects[digest] = _frame(content)
        return {"digest": digest, "size": len(content)}

    def art(self, path: str, content: bytes = b"", mode: int = 0o644) -> dict[str, object]:
        # Content unique to the runnable: variants planted side by side must not share
        # an object (a good copy from one would make another's bad copy good).
        content = content or f"evil from {self.name}\n".encode()
        return {"path": path, **self.obj(content), "mode": mode}

    def doc(self, **changes: object) -> Doc:
        base: Doc = {
            "format": 1,
            "runnable": self.name,
            "dep_hash": self.dep_hash,
            "exit_code": 0,
            "duration": 0.5,
            "qik_version": "0.3.0",
            "created": time.time(),
            "log": self.obj(f"a hostile log of {self.name}\n".encode()),
            "artifacts": [self.art(f"{self.module}/out/data.bin")],
            "deps": {},
            "signature": None,
            "inputs": None,
        }
        base.update(changes)
        return base

    def done(self, doc: Doc | bytes) -> Planted:
        data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        return Planted(data, dict(self.objects))


_UNSEALED = '"sha256:' + "0" * 64 + '"'


def _sealed(doc: Doc) -> bytes:
    """``doc`` in format 2, with a checksum that matches (so what is tested is the rest)."""
    text = json.dumps({**doc, "format": 2, "checksum": _UNSEALED[1:-1]})
    digest = hashlib.sha256(text.encode()).hexdigest()
    return text.replace(_UNSEALED, f'"sha256:{digest}"').encode()


def _frame(content: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3, write_content_size=True).compress(content)


def _declaring(frame: bytes, declared: int) -> bytes:
    """``frame`` with its header's content size field (RFC 8878 3.1.1.1) set to
    ``declared``: the header lies, the blocks stay."""
    descriptor = frame[4]
    single_segment = (descriptor >> 5) & 1
    at = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3]
    width = {0: 1 if single_segment else 0, 1: 2, 2: 4, 3: 8}[descriptor >> 6]
    assert width in (4, 8), f"a {width}-byte size field"
    return frame[:at] + declared.to_bytes(width, "little") + frame[at + width :]


def _bomb_frame(size: int, declared: int) -> bytes:
    """A frame of ``size`` zero bytes whose header claims ``declared`` bytes."""
    return _declaring(_frame(b"\0" * size), declared)


def _sign(doc: Doc, key: str, dep_hash: str | None = None) -> Doc:
    from qik.store.manifest import Manifest, sign

    manifest = Manifest.from_bytes(json.dumps({**doc, "signature": None}).encode())
    signed = sign(manifest, key.encode())
    if dep_hash is None:
        return {**doc, "signature": signed.signature}
    moved = sign(
        Manifest.from_bytes(json.dumps({**doc, "dep_hash": dep_hash}).encode()), key.encode()
    )
    return {**doc, "signature": moved.signature}


# -- the variants: name -> how to plant it (every one must be rejected) -------------------


def _variants(outside: Path) -> dict[str, Callable[[Plant], Planted]]:
    abs_target = str(outside / "absolute" / "evil.txt")

    def path(p: str) -> Callable[[Plant], Planted]:
        return lambda pl: pl.done(pl.doc(artifacts=[pl.art(p.format(m=pl.module))]))

    def field(**changes: object) -> Callable[[Plant], Planted]:
        return lambda pl: pl.done(pl.doc(**changes))

    def bomb(pl: Plant) -> Planted:
        frame = _bomb_frame(pl.bomb, 1000)
        digest = hashlib.sha256(pl.name.encode()).hexdigest()
        doc = pl.doc(
            artifacts=[
                {
                    "path": f"{pl.module}/out/data.bin",
                    "digest": digest,
                    "size": 1000,
                    "mode": 0o644,
                }
            ]
        )
        pl.objects[digest] = frame
        return pl.done(doc)

    def huge_frame(pl: Plant) -> Planted:
        # The header claims ~4 GB, the frame holds a few bytes: a truncated download.
        frame = _declaring(_frame(pl.name.encode() * 20000), 0xFFFF0000)
        digest = hashlib.sha256(pl.name.encode()).hexdigest()
        pl.objects[digest] = frame
        art = {
            "path": f"{pl.module}/out/data.bin",
            "digest": digest,
            "size": 0xFFFF0000,
            "mode": 0o644,
        }
        return pl.done(pl.doc(artifacts=[art]))

    def huge_declared(pl: Plant) -> Planted:
        art = pl.art(f"{pl.module}/out/data.bin")
        return pl.done(pl.doc(artifacts=[{**art, "size": 1 << 40}]))

    def raw(text: bytes | Callable[[Plant], bytes]) -> Callable[[Plant], Planted]:
        return lambda pl: pl.done(text(pl) if callable(text) else text)

    def dup(pl: Plant) -> Planted:
        a = pl.art(f"{pl.module}/out/data.bin")
        return pl.done(pl.doc(artifacts=[a, a]))

    def nested(pl: Plant) -> Planted:
        return pl.done(
            pl.doc(artifacts=[pl.art(f"{pl.module}/out"), pl.art(f"{pl.module}/out/x")])
        )

    def other_hash(pl: Plant) -> Planted:
        return pl.done(pl.doc(dep_hash="ab" * 32))

    def bad_log_digest(pl: Plant) -> Planted:
        log = pl.obj(b"log")
        return pl.done(pl.doc(log={**log, "digest": hashlib.sha256(b"other").hexdigest()}))

    def wrong_content(pl: Plant) -> Planted:
        doc = pl.doc()
        art = doc["artifacts"][0]
        # Same size, other bytes: only the digest can tell.
        pl.objects[art["digest"]] = _frame(b"X" * art["size"])
        return pl.done(doc)

    return {
        "path traversal ../": path("../outside/evil.txt"),
        "path traversal m/../../": path("{m}/../../outside/evil.txt"),
        "absolute path": path(abs_target),
        "symlinked parent": path("{m}/link/evil.txt"),
        "symlinked grandparent": path("{m}/link/deeper/evil.txt"),
        ".git path": path(".git/hooks/post-checkout"),
        ".GIT path (case)": path("{m}/.GIT/config"),
        "backslash path": path("{m}\\..\\..\\outside\\evil.txt"),
        "empty segment": path("{m}//out/data.bin"),
        "NUL in path": path("{m}/out/data.bin\u0000.txt"),
        "duplicate paths": dup,
        "path inside another": nested,
        "exit_code as string": field(exit_code="0"),
        "size negative": field(log={"digest": "0" * 64, "size": -1}),
        "size as float": field(log={"digest": "0" * 64, "size": 1.0}),
        "mode as string": lambda pl: pl.done(
            pl.doc(artifacts=[{**pl.art(f"{pl.module}/out/data.bin"), "mode": "644"}])
        ),
        "artifacts as object": field(artifacts={}),
        "missing key": lambda pl: pl.done({k: v for k, v in pl.doc().items() if k != "deps"}),
        "unknown key": field(extra="x"),
        "format 3": field(format=3),
        "format 2, no checksum": field(format=2),
        "format 2, changed after its checksum": raw(
            lambda pl: _sealed(pl.doc()).replace(b'"exit_code": 0', b'"exit_code": 1')
        ),
        "format 2, inline log not its digest": raw(
            lambda pl: _sealed(pl.doc(log={**pl.obj(b"real\n"), "text": "fake\n"}))
        ),
        "format 2, inline artifact": raw(
            lambda pl: _sealed(
                pl.doc(artifacts=[{**pl.art(f"{pl.module}/out/data.bin"), "text": "evil"}])
            )
        ),
        "true as exit code": field(exit_code=True),
        "dep_hash of another result": other_hash,
        "huge declared size": huge_declared,
        "size over the format limit": field(log={"digest": "0" * 64, "size": (1 << 40) + 1}),
        "frame claims 4 GB, holds little": huge_frame,
        "decompression bomb": bomb,
        "object with other content": wrong_content,
        "log digest mismatch": bad_log_digest,
        "invalid JSON": raw(b'{"format": 1, "runnable": '),
        "not UTF-8": raw(b'{"format": 1, "runnable": "\xff\xfe"}'),
        "NaN": raw(lambda pl: json.dumps(pl.doc(duration=float("nan"))).encode()),
        "duplicate JSON keys": raw(
            lambda pl: json.dumps(pl.doc()).encode()[:-1] + b', "exit_code": 1}'
        ),
        "deep nesting": raw(b"[" * 200_000 + b"]" * 200_000),
        "lone surrogate": raw(lambda pl: json.dumps(pl.doc(runnable="\ud800")).encode()),
        "over 16 MiB": raw(b" " * (17 << 20) + b"{}"),
        "empty file": raw(b""),
    }


def _sly(pl: Plant, signed: bool) -> Planted:
    """Valid, but sly: setuid bits, and an artifact where the repo holds a symlink."""
    content = pl.root.joinpath(f"{pl.module}/src/data.bin").read_bytes()
    setuid = pl.art(f"{pl.module}/out/data.bin", content, 0o6755)
    trap = pl.art(f"{pl.module}/trap.txt", b"replaced the link\n")
    doc = pl.doc(artifacts=[setuid, trap])
    return pl.done(_sign(doc, SIGN_KEY) if signed else doc)


def _signature_variants() -> dict[str, Callable[[Plant], Planted]]:
    return {
        "unsigned": lambda pl: pl.done(pl.doc()),
        "signed with another key": lambda pl: pl.done(_sign(pl.doc(), "another-key")),
        "signature of another dep hash": lambda pl: pl.done(
            _sign(pl.doc(), SIGN_KEY, dep_hash="cd" * 32)
        ),
        "signed, then exit code changed": lambda pl: pl.done(
            {**_sign(pl.doc(exit_code=1), SIGN_KEY), "exit_code": 0}
        ),
        "unknown algorithm": lambda pl: pl.done(pl.doc(signature="md5:" + "0" * 32)),
        "zero MAC": lambda pl: pl.done(pl.doc(signature="hmac-sha256:" + "0" * 64)),
    }


def _toml(modules: int, cache: str, signed: bool) -> str:
    names = ", ".join(f'"m{i}"' for i in range(modules))
    s3 = moto.s3_toml(extra='sign-key = "{ctx.sign}"' if signed else "")
    head, _, tables = s3.partition("\n[")
    return f"""{head}
modules = [{names}]

[commands.build]
exec = "mkdir -p {{module.dir}}/out && cp {{module.dir}}/src/data.bin {{module.dir}}/out/data.bin"
deps = ["{{module.dir}}/src/**"]
artifacts = ["{{module.dir}}/out/data.bin"]
cache = "{cache}"

[{tables}
"""


def _repo(root: Path, modules: int, cache: str, signed: bool) -> Path:
    files: dict[str, str | bytes] = {"qik.toml": _toml(modules, cache, signed)}
    for i in range(modules):
        files[f"m{i}/src/data.bin"] = os.urandom(1000 + i)
    make_repo(root, files, ignore="m*/out/\n")
    for i in range(modules):
        # Committed symlinks out of the repository: a restore must not write through them.
        (root / f"m{i}/link").symlink_to("../../outside")
        (root / f"m{i}/trap.txt").symlink_to("../../outside/victim.txt")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "links")
    return root


def run(ctx: Ctx) -> CaseReport:
    report = CaseReport("hostile", TITLE, "")
    rounds = ctx.scale(1, 10)
    bomb = ctx.scale(256 << 20, 1 << 30)
    for n in range(rounds):
        for where in ("s3", "repo"):
            _round(ctx, report, where, signed=False, bomb=bomb)
            ctx.log(f"hostile: round {n + 1}/{rounds}, {where} cache")
        _round(ctx, report, "s3", signed=True, bomb=bomb)
        ctx.log(f"hostile: round {n + 1}/{rounds}, S3 cache with a sign key")
    return report


def _round(ctx: Ctx, report: CaseReport, where: str, *, signed: bool, bomb: int) -> None:
    base = ctx.fresh(f"hostile-{where}{'-signed' if signed else ''}")
    outside = base / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("victim\n")
    hostile = _signature_variants() if signed else _variants(outside)
    names = list(hostile)
    ctx.rng.shuffle(names)
    # One module per variant, one for the sly-but-valid result, one (signed) for control.
    modules = len(names) + 2
    root = _repo(base / "repo", modules, "remote" if where == "s3" else "repo", signed)
    server = moto.server()
    client = server.client()
    bucket = server.new_bucket(client)
    env = {**ctx.env, **moto.s3_env(server.endpoint, bucket, SIGN_KEY if signed else None)}
    hashes = _dep_hashes(ctx, root, env)
    plants: dict[str, Planted] = {}
    for i, name in enumerate(names):
        plants[f"m{i}"] = hostile[name](Plant(f"build@m{i}", f"m{i}", hashes[f"m{i}"], root, bomb))
    sly, control = f"m{len(names)}", f"m{len(names) + 1}"
    plants[sly] = _sly(Plant(f"build@{sly}", sly, hashes[sly], root, bomb), signed)
    plants[control] = _control(
        Plant(f"build@{control}", control, hashes[control], root, bomb), signed
    )
    for module, planted in plants.items():
        _put(where, root, client, bucket, hashes[module], planted)
    before = _outside_state(base)
    run_report = base / "report.json"
    done = qik(root, "build", "--report", str(run_report), env=env, timeout=300)
    got = outcome(done.code, run_report, root, ())
    general = Trial(f"{where}{' signed' if signed else ''} run")
    general.expect(not done.timed_out, "the run hung")
    general.expect(not tracebacks(done), f"traceback: {done.brief()}")
    general.expect(done.code == 0, f"exit {done.code}: {done.brief()}")
    after = _outside_state(base)
    general.expect(before == after, f"written outside the repo: {_diff(before, after)}")
    for evil in (".git/hooks/post-checkout",):
        general.expect(not (root / evil).exists(), f"{evil} was written")
    report.check("the run (exit 0, no traceback, nothing outside)").add(general)
    # A mirror's trouble is one warning per kind per run (invalid manifest, bad object,
    # unsigned), not one per runnable: a poisoned bucket must not flood the console.
    warnings = done.warnings()
    noise = Trial(f"{where}{' signed' if signed else ''} run: {len(warnings)} warnings")
    per_runnable = [w for w in warnings if w.startswith("warning: build@")]
    noise.expect(len(warnings) <= 3, " | ".join(w[9:120] for w in warnings))
    noise.expect(len(per_runnable) <= 1, f"{len(per_runnable)} warnings name a runnable")
    report.check("one warning per kind of trouble, not per runnable").add(noise)
    row = report.check(
        f"{'forged signatures (S3, sign-key set)' if signed else 'hostile results in ' + where}"
    )
    for i, name in enumerate(names):
        trial = Trial(f"{where}: {name}")
        _expect_rejected(trial, root, f"m{i}", got.replays, got.statuses)
        row.count("rejected" if trial.ok else "accepted")
        row.add(trial)
    trial = Trial(f"{where}: setuid artifact and symlink at the destination")
    _expect_sly(trial, root, sly, got.replays, base)
    report.check("valid but sly (setuid bits, symlink at destination)").add(trial)
    if signed:
        control_trial = Trial("a correctly signed result")
        control_trial.expect(got.replays.get(f"build@{control}", False), "was not replayed")
        report.check("control: a correctly signed result replays").add(control_trial)


def _control(pl: Plant, signed: bool) -> Planted:
    content = pl.root.joinpath(f"{pl.module}/src/data.bin").read_bytes()
    doc = pl.doc(artifacts=[pl.art(f"{pl.module}/out/data.bin", content)])
    return pl.done(_sign(doc, SIGN_KEY) if signed else doc)


def _dep_hashes(ctx: Ctx, root: Path, env: dict[str, str]) -> dict[str, str]:
    listed = qik(root, "build", "--ls", "--json", env=env)
    if listed.code != 0:
        raise RuntimeError(f"--ls failed: {listed.brief()}")
    return {row["module"]: row["dep_hash"] for row in json.loads(listed.stdout)}


def _put(
    where: str, root: Path, client: Any, bucket: str, dep_hash: str, planted: Planted
) -> None:
    if where == "s3":
        for digest, frame in planted.objects.items():
            client.put_object(
                Bucket=bucket, Key=f"stress/objects/{digest[:2]}/{digest}", Body=frame
            )
        client.put_object(
            Bucket=bucket, Key=f"stress/manifests/{dep_hash}.json", Body=planted.manifest
        )
        return
    store = root / ".qik"
    for digest, frame in planted.objects.items():
        path = store / "objects" / digest[:2] / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(frame)
    (store / "manifests").mkdir(parents=True, exist_ok=True)
    (store / "manifests" / f"{dep_hash}.json").write_bytes(planted.manifest)


def _outside_state(base: Path) -> dict[str, str]:
    """Every file outside the repository (and the repo's git hooks), with its digest."""
    state = {}
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base).as_posix()
        if rel.startswith("repo/") and not rel.startswith("repo/.git/hooks"):
            continue
        if rel in ("report.json",) or path.is_dir():
            continue
        state[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "?"
    return state


def _diff(before: dict[str, str], after: dict[str, str]) -> str:
    return ", ".join(
        k for k in sorted(before.keys() | after.keys()) if before.get(k) != after.get(k)
    )


def _expect_rejected(
    trial: Trial, root: Path, module: str, replays: dict[str, bool], statuses: dict[str, str]
) -> None:
    name = f"build@{module}"
    trial.expect(statuses.get(name) == "ok", f"status {statuses.get(name)}")
    trial.expect(not replays.get(name, True), "replayed the planted result")
    real = (root / module / "src" / "data.bin").read_bytes()
    out = root / module / "out" / "data.bin"
    trial.expect(out.is_file() and out.read_bytes() == real, "the artifact is not the real one")
    for stray in ("link/evil.txt", ".GIT/config"):
        trial.expect(not (root / module / stray).exists(), f"{module}/{stray} was written")


def _expect_sly(
    trial: Trial, root: Path, module: str, replays: dict[str, bool], base: Path
) -> None:
    out = root / module / "out" / "data.bin"
    trial.expect(out.is_file(), "no artifact")
    if out.is_file():
        trial.expect(out.stat().st_mode & 0o7000 == 0, f"mode {out.stat().st_mode:o} kept setuid")
    trap = root / module / "trap.txt"
    trial.expect(
        (base / "outside" / "victim.txt").read_text() == "victim\n", "wrote through a link"
    )
    if replays.get(f"build@{module}"):
        trial.expect(trap.is_file() and not trap.is_symlink(), "the link was not replaced")
