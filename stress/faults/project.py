"""The repository most cases run: modules whose commands write artifacts, a downstream
command cached in the repo cache, and a command that fails on purpose (cached as such).

Every command is deterministic (its output depends only on its inputs, including
``salt.txt``), so any two runs of the same content must give the same results. Artifacts are
written to a temporary name and renamed, as well-behaved build tools do: a concurrent run of
the same command in the same work tree then never exposes half a file to qik.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from stress.faults.harness import Ctx, make_repo, qik, tracebacks
from stress.faults.outcome import Outcome, StoredResult, differences, outcome, stored_results
from stress.faults.report import Trial

__all__ = [
    "ARTIFACT_FOLDERS",
    "Reference",
    "check_results",
    "make_project",
    "make_reference",
    "set_salt",
    "verify_caches",
]

ARTIFACT_FOLDERS = ("m*/out/**/*",)

_GEN = """\
import os, random, sys, time
name, folder, files, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
salt = open("salt.txt").read().strip()
rng = random.Random(f"{name}:{salt}")
out = os.path.join(folder, "out", "gen")
os.makedirs(out, exist_ok=True)
for i in range(files):
    data = rng.randbytes(size // (i + 1))
    tmp = os.path.join(out, f".part{i}.{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o755 if i == 0 else 0o644)
    os.replace(tmp, os.path.join(out, f"part{i}.bin"))
    print(f"gen {name} salt {salt} part {i}: {len(data)} bytes", flush=True)
time.sleep(rng.random() * 0.15)
print(f"gen {name} done")
"""

_PACK = """\
import hashlib, os, sys
name, folder = sys.argv[1], sys.argv[2]
gen = os.path.join(folder, "out", "gen")
lines = []
for part in sorted(os.listdir(gen)):
    if part.endswith(".bin"):
        digest = hashlib.sha256(open(os.path.join(gen, part), "rb").read()).hexdigest()
        lines.append(f"{part} {digest}")
tmp = os.path.join(folder, "out", f".pack.{os.getpid()}")
with open(tmp, "w") as fh:
    fh.write("\\n".join(lines) + "\\n")
os.replace(tmp, os.path.join(folder, "out", "pack.txt"))
print(f"pack {name}: {len(lines)} parts")
"""

_CHECK = """\
import sys
name = sys.argv[1]
salt = open("salt.txt").read().strip()
print(f"check {name} salt {salt}")
sys.exit(3 if name == "m1" else 0)
"""


def _toml(modules: int, files: int, size: int, gen_cache: str, extra: str) -> str:
    py = sys.executable
    names = ", ".join(f'"m{i}"' for i in range(modules))
    head, _, tables = extra.partition("\n[")
    tables = f"[{tables}" if tables else ""
    return f"""
{head}
modules = [{names}]

[base]
deps = ["salt.txt"]

[commands.gen]
exec = "{py} gen.py {{module.name}} {{module.dir}} {files} {size}"
deps = ["{{module.dir}}/src/**", "gen.py"]
artifacts = ["{{module.dir}}/out/gen/*.bin"]
cache = "{gen_cache}"

[commands.pack]
exec = "{py} pack.py {{module.name}} {{module.dir}}"
deps = ["{{module.dir}}/src/**", "pack.py", {{type = "command", name = "gen"}}]
artifacts = ["{{module.dir}}/out/pack.txt"]
cache = "repo"

[commands.check]
exec = "{py} check.py {{module.name}}"
deps = ["{{module.dir}}/src/**", "check.py"]
cache-when = "finished"

{tables}
"""


def make_project(
    root: Path,
    *,
    modules: int,
    files: int = 3,
    size: int = 256 << 10,
    gen_cache: str = "local",
    extra: str = "",
) -> Path:
    """The repository at ``root``: ``modules`` modules, ``files`` artifacts per ``gen``
    (the first ``size`` bytes, then smaller), executable bits on some. ``gen`` is cached
    in ``gen_cache``; ``extra`` is more TOML (top-level keys first, then tables)."""
    tree: dict[str, str | bytes] = {
        "qik.toml": _toml(modules, files, size, gen_cache, extra),
        "gen.py": _GEN,
        "pack.py": _PACK,
        "check.py": _CHECK,
        "salt.txt": "0\n",
    }
    for i in range(modules):
        tree[f"m{i}/src/main.txt"] = f"module {i}\n"
    return make_repo(root, tree, ignore="m*/out/\n")


def set_salt(root: Path, salt: int) -> None:
    """Change every dep hash at once (``salt.txt`` is a base dep of every command)."""
    (root / "salt.txt").write_text(f"{salt}\n")


@dataclass(frozen=True)
class Reference:
    """An uninterrupted cold run of one salt: what every later run must reproduce."""

    outcome: Outcome
    stored: dict[str, StoredResult | None]
    seconds: float
    root: Path  # the reference repository, its stores populated

    def logs(self) -> dict[str, str]:
        """Each runnable's log, read back from the reference's local store."""
        from qik.store.cas import Store

        store = Store.local(self.root / "._qik")
        found = {}
        for name, dep_hash in self.outcome.dep_hashes.items():
            manifest = store.read_manifest(dep_hash)
            if manifest is not None:
                found[name] = store.read_bytes(manifest.log).decode()
        return found


def make_reference(
    ctx: Ctx, template: Path, salt: int, *args: str, env: dict[str, str] | None = None
) -> Reference:
    """Run a copy of ``template`` with ``salt``, cold and uninterrupted; check that a warm
    run then replays the very same results (else nothing later can be judged)."""
    root = ctx.fresh(f"reference-{salt}") / "repo"
    shutil.copytree(template, root, symlinks=True)
    set_salt(root, salt)
    report = root.parent / "report.json"
    env = env or ctx.env
    cold = qik(root, "--report", str(report), *args, env=env)
    if cold.timed_out or tracebacks(cold):
        raise RuntimeError(f"reference run failed: {cold.brief()}")
    ref = outcome(cold.code, report, root, ARTIFACT_FOLDERS)
    warm = qik(root, "--report", str(report), *args, env=env)
    again = outcome(warm.code, report, root, ARTIFACT_FOLDERS)
    if differences(ref, again) or not all(again.replays.values()):
        raise RuntimeError(f"a warm run differs from the cold one: {differences(ref, again)}")
    stored = stored_results(root / "._qik", sorted(set(ref.dep_hashes.values())))
    return Reference(ref, stored, cold.seconds, root)


def check_results(
    trial: Trial, root: Path, ref: Reference, code: int | None, report: Path, what: str
) -> Outcome:
    """Expect the run that wrote ``report`` to have given the reference's results, and the
    local store to hold exactly the reference's results for every dep hash it has."""
    got = outcome(code, report, root, ARTIFACT_FOLDERS)
    for problem in differences(ref.outcome, got):
        trial.expect(False, f"{what}: {problem}")
    stored = stored_results(root / "._qik", list(ref.stored))
    for dep_hash, want in ref.stored.items():
        have = stored.get(dep_hash)
        if have is not None and have != want:
            trial.expect(False, f"{what}: the stored result of {dep_hash[:12]} differs: {have}")
    return got


def verify_caches(trial: Trial, ctx: Ctx, root: Path, *caches: str) -> None:
    """``qik :cache verify`` (local and repo, or the named caches) finds nothing wrong."""
    args = [arg for name in caches for arg in ("--cache", name)]
    run = qik(root, ":cache", "verify", *args, env=ctx.env, timeout=120)
    trial.expect(run.code == 0, f"verify: {run.brief()} {run.stdout.strip()[-300:]}")
    trial.expect(not tracebacks(run), "verify showed a traceback")
