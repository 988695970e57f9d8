"""``--since REF``: the runnables whose own inputs differ between the merge base and now.

A runnable is *changed* when its fingerprint, upstream dep hashes left out, differs between
the merge base of REF and HEAD and the work tree now (uncommitted and untracked files
included). File digests at the base come from ``git ls-tree`` and the config from
``git show``: nothing is checked out. Runnables downstream of a changed one through a
``strict`` command dep are changed too.

- A runnable that did not exist at the base is changed.
- pygraph deps compare the files their import graph covers *now*, at both revisions: an
  import added or removed shows up as an edit of the importing file, which is covered. A
  file deleted since, in a folder or below a package the graph covers now, counts too.
- pydist deps compare versions as configured and installed now, so only
  ``[pydist] versions`` edits count (an environment is not part of a commit).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from qik import git
from qik.config.schema import GlobDep, Project, PygraphDep
from qik.deps import DepDigest, DepEnv
from qik.errors import QikError
from qik.fingerprint.files import FileIndex
from qik.fingerprint.globs import Matcher
from qik.graph.dag import Dag
from qik.graph.expand import Runnable, expand
from qik.plan import Fingerprint, fingerprint

__all__ = ["base_revision", "changed_since", "with_strict_downstream"]

MakeEnv = Callable[[Project, FileIndex], DepEnv]


def base_revision(root: Path, ref: str) -> str:
    """The merge base of ``ref`` and HEAD, with errors that say how to get there."""
    if git.repo_root(root) is None:
        raise QikError(
            f"--since {ref}: {root} is not in a git repository, so it has no history to "
            "compare with",
            code="since-no-repo",
            hint="run qik --since inside a git clone, or run without --since",
        )
    if not git.rev_exists(root, ref):
        raise QikError(
            f"--since {ref}: no such revision in this clone",
            code="since-unknown-ref",
            hint=_fetch_hint(root, ref),
        )
    try:
        return git.merge_base(root, ref, "HEAD")
    except git.GitError:
        raise QikError(
            f"--since {ref}: {ref} and HEAD share no history in this clone",
            code="since-no-merge-base",
            hint=_fetch_hint(root, ref),
        ) from None


def _fetch_hint(root: Path, ref: str) -> str:
    if _is_shallow(root):
        return (
            "this is a shallow clone: fetch more history, e.g. `git fetch --unshallow` or "
            "`git fetch --deepen=200 origin`, or check out with full history "
            "(GitHub Actions: actions/checkout with fetch-depth: 0)"
        )
    return f"fetch it first, e.g. `git fetch origin {ref}`, or name a branch, tag or commit"


def _is_shallow(root: Path) -> bool:
    return (root / ".git" / "shallow").exists() or _git_says_shallow(root)


def _git_says_shallow(root: Path) -> bool:
    import subprocess

    out = subprocess.run(
        ["git", "rev-parse", "--is-shallow-repository"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() == "true"


def changed_since(
    project: Project,
    dag: Dag,
    candidates: Iterable[str],
    ref: str,
    index: FileIndex,
    make_env: MakeEnv,
) -> set[str]:
    """The candidates whose own inputs changed since the merge base of ``ref`` and HEAD."""
    base = base_revision(project.root, ref)
    base_project, base_runnables = _runnables_at(project, base)
    base_index = FileIndex.from_rev(project.root, base)
    env_now = make_env(project, index)
    wanted = set(candidates)
    # Upstream runnables are compared too: a strict dep on a changed one selects us.
    scope = _with_upstream(dag, wanted)
    moved = _changed_paths(index, base_index)
    quick = _Quick(moved, Matcher(sorted(moved)), _same_settings(project, base_project))
    deleted = base_index.blobs.keys() - index.blobs.keys()
    changed: set[str] = set()
    for name in sorted(scope):
        runnable = dag.runnables[name]
        then = base_runnables.get(name) if base_runnables is not None else None
        if then is None:
            changed.add(name)
            continue
        fp_now = fingerprint(runnable, env_now, with_upstream=False)
        if _lost_graph_files(fp_now, deleted):
            changed.add(name)
            continue
        if quick.is_unchanged(runnable, then, fp_now):
            continue  # most runnables: no file they cover moved, nothing in them changed
        if _differs(fp_now, then, base_index, make_env, base_project or project):
            changed.add(name)
    return with_strict_downstream(dag, changed, scope) & wanted


def _with_upstream(dag: Dag, names: set[str]) -> set[str]:
    result = set(names)
    stack = list(names)
    while stack:
        for up in dag.upstream[stack.pop()]:
            if up not in result:
                result.add(up)
                stack.append(up)
    return result


@dataclass(frozen=True)
class _Quick:
    """Says a runnable is unchanged without fingerprinting it at the base: its definition
    is the same, and none of the paths that differ between the revisions is one it covers.
    Anything it can't rule out goes to the full comparison."""

    moved: set[str]
    matcher: Matcher  # over ``moved``
    same_settings: bool

    def is_unchanged(self, now: Runnable, then: Runnable, fp_now: Fingerprint) -> bool:
        if not self.same_settings or now != then:
            return False
        for dep in now.deps:
            if isinstance(dep, GlobDep) and self.matcher.match(dep.pattern.lstrip("!")):
                return False
        for digest in fp_now.deps:
            kind, _, subject = digest.label.partition(":")
            if kind in ("venv", "dotenv") and subject in self.moved:
                return False
            if kind == "pygraph" and any(path in self.moved for path, _ in digest.files):
                return False
        return True


def _lost_graph_files(fp_now: Fingerprint, deleted: Iterable[str]) -> bool:
    """Was a file the import graph covered at the base deleted since? The graph is only
    known now, and a deleted module is in no graph now: a deleted file counts when it was
    beside a file a pygraph dep covers now, or below a package it covers (``c/m.py`` gone,
    while ``c/__init__.py`` is covered). Too many at worst, never too few."""
    covered = [path for d in fp_now.deps if d.label.startswith("pygraph:") for path, _ in d.files]
    if not covered:
        return False
    folders = {path.rpartition("/")[0] for path in covered}
    packages = {path.rpartition("/")[0] for path in covered if path.endswith("/__init__.py")}
    for path in deleted:
        folder = path.rpartition("/")[0]
        if folder in folders:
            return True
        while folder:
            if folder in packages:
                return True
            folder = folder.rpartition("/")[0]
    return False


def _changed_paths(now: FileIndex, base: FileIndex) -> set[str]:
    then = base.blobs
    moved = {path for path, blob in now.blobs.items() if then.get(path) != blob}
    moved.update(then.keys() - now.blobs.keys())
    return moved


def _same_settings(project: Project, base: Project | None) -> bool:
    """Settings outside a runnable that enter its digests: pinned versions."""
    return base is not None and base.pydist == project.pydist


def _differs(
    fp_now: Fingerprint,
    then: Runnable,
    base_index: FileIndex,
    make_env: MakeEnv,
    base_project: Project,
) -> bool:
    """Does the runnable's own fingerprint now differ from the one it had at the base,
    computed with the base's config (its ``[pydist] versions`` pins included)?"""
    covered = {d.label: d.files for d in fp_now.deps if d.label.startswith("pygraph:")}
    env_then = make_env(base_project, base_index)
    env_then.pygraph = _pygraph_at(covered, base_index)
    fp_then = fingerprint(then, env_then, with_upstream=False)
    return fp_now.dep_hash != fp_then.dep_hash


def _pygraph_at(
    covered: Mapping[str, tuple[tuple[str, str], ...]], index: FileIndex
) -> Callable[[PygraphDep, DepEnv], list[DepDigest]]:
    """Digest a pygraph dep at the base over the files its graph covers now."""

    def digest(dep: PygraphDep, env: DepEnv) -> list[DepDigest]:
        label = f"pygraph:{dep.pyimport}"
        files = tuple((path, index.digest(path) or "") for path, _ in covered.get(label, ()))
        listing = "".join(f"{path}={blob}\n" for path, blob in files)
        digest = hashlib.sha256(listing.encode("utf-8", "surrogateescape")).hexdigest()
        return [DepDigest(label, digest, files)]

    return digest


def _runnables_at(project: Project, rev: str) -> tuple[Project | None, dict[str, Runnable] | None]:
    """The project and runnables as configured at ``rev``; Nones when that config can't
    be read."""
    from qik.config.find import ConfigSource, parse_toml
    from qik.config.load import build_project
    from qik.config.validate import Loc

    rel = project.config_path.relative_to(project.root).as_posix()
    # "./": relative to the project, which may lie below the top of its work tree (a bare
    # "rev:path" is from the top: the config was never found there, and everything ran).
    raw = git.show(project.root, rev, f"./{rel}")
    if raw is None:
        return None, None
    try:
        data = parse_toml(raw.decode(), rel)
        if rel.endswith("pyproject.toml"):
            data = _tool_qik(data)
        source = ConfigSource(project.root, project.config_path, data, Loc(rel))
        base = build_project(source, profile=project.profile, environ=_ctx_environ(project))
        # {ctx.qik.OPTION} too renders as it does now (this run's options).
        base = dataclasses.replace(base, qik_options=project.qik_options)
        return base, expand(base)
    except (QikError, UnicodeDecodeError):
        return None, None  # a broken config at the base: everything counts as changed


def _tool_qik(data: dict[str, object]) -> dict[str, object]:
    tool = data.get("tool")
    qik = tool.get("qik") if isinstance(tool, dict) else None
    return qik if isinstance(qik, dict) else {}


def _ctx_environ(project: Project) -> dict[str, str]:
    """Context values as resolved now, so both revisions render templates alike."""
    import os

    env = dict(os.environ)
    for name, value in project.ctx_values.items():
        if value is not None:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            env[f"PROJECT__{name.upper()}"] = text
    return env


def with_strict_downstream(dag: Dag, changed: set[str], candidates: set[str]) -> set[str]:
    """``changed``, and the candidates downstream of one of them through ``strict``
    command deps (transitively)."""
    strict_down: dict[str, list[str]] = {}
    for name in candidates:
        for dep in dag.runnables[name].upstream:
            if not dep.strict:
                continue
            for up in dag.upstream[name]:
                if up == dep.name or dag.runnables[up].command == dep.name:
                    strict_down.setdefault(up, []).append(name)
    result = set(changed)
    stack = list(changed)
    while stack:
        for down in strict_down.get(stack.pop(), ()):
            if down not in result:
                result.add(down)
                stack.append(down)
    return result
