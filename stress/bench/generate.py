"""A synthetic Python monorepo, wired for qik (ours and 0.2.10) and for Turborepo 2.

The repository is the same for every runner so that the benchmark compares runners, not
workloads: N packages ``src/pkg_000 … src/pkg_NNN``, F ``.py`` files each, an import DAG where
every package imports a few lower-numbered ones, and three trivial commands (``lint``, ``test``,
``typecheck``) parametrized over every package with the package's ``.py`` files as inputs.

Layout of one package (F = 5)::

    src/pkg_004/__init__.py        imports of lower-numbered packages live here
    src/pkg_004/sub/__init__.py    a nested folder, so recursive globs are exercised
    src/pkg_004/mod_002.py
    src/pkg_004/sub/mod_003.py
    src/pkg_004/mod_004.py
    src/pkg_004/package.json       the Turborepo workspace of the same package
"""

from __future__ import annotations

import json
import random
import subprocess
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "COMMANDS",
    "DEFAULT_PACKAGE_MANAGER",
    "Layout",
    "generate",
    "import_dag",
    "layout",
]

COMMANDS = ("lint", "test", "typecheck")
# Turborepo 2 refuses to run without a `packageManager` field; the version only selects the
# lockfile parser, so any npm 10+ works. The benchmark passes the npm it found instead.
DEFAULT_PACKAGE_MANAGER = "npm@10.9.2"
_MAX_IMPORTS = 3
_GIT_IDENTITY = ("-c", "user.name=qik bench", "-c", "user.email=bench@qik.invalid")
_GITIGNORE = "._qik/\n.qik/\n.turbo/\nnode_modules/\n__pycache__/\n"


@dataclass(frozen=True)
class Layout:
    """What was generated: package names in order and the packages each one imports."""

    root: Path
    packages: tuple[str, ...]
    imports: Mapping[str, tuple[str, ...]]
    files: int

    def package_dir(self, package: str) -> str:
        return f"src/{package}"

    def python_files(self, package: str) -> tuple[str, ...]:
        return tuple(f"src/{package}/{rel}" for rel in _file_names(self.files))


def package_names(packages: int) -> tuple[str, ...]:
    width = max(3, len(str(packages - 1)))
    return tuple(f"pkg_{i:0{width}d}" for i in range(packages))


def import_dag(packages: int, seed: int = 0) -> dict[str, tuple[str, ...]]:
    """Each package imports up to three distinct lower-numbered packages.

    Edges only point to lower indices, so the graph is acyclic by construction; the choice
    is drawn from a private ``random.Random(seed)`` so the same seed gives the same repo.
    """
    rng = random.Random(seed)
    names = package_names(packages)
    return {
        name: tuple(sorted(rng.sample(names[:i], min(i, rng.randint(1, _MAX_IMPORTS)))))
        for i, name in enumerate(names)
    }


def layout(dest: Path, packages: int, files: int, seed: int = 0) -> Layout:
    if packages < 1 or files < 1:
        raise ValueError("packages and files must be at least 1")
    return Layout(dest, package_names(packages), import_dag(packages, seed), files)


def _file_names(files: int) -> list[str]:
    """F relative file names: ``__init__.py``, then a ``sub/`` package, then modules.

    Modules alternate between the package folder and ``sub/`` so that ``**`` globs have to
    descend into a folder.
    """
    names = ["__init__.py", "sub/__init__.py"][:files]
    for k in range(len(names), files):
        folder = "sub/" if k % 2 else ""
        names.append(f"{folder}mod_{k:03d}.py")
    return names


def _module_source(package: str, rel: str, imports: tuple[str, ...], seed: int) -> str:
    if rel == "__init__.py":
        lines = [f"import {dep}" for dep in imports]
        lines.append(f"__all__ = {[*imports]!r}")
    else:
        lines = [f"from {package} import __all__ as _siblings"]
    # A little body so every file has its own blob (identical blobs would understate hashing).
    lines += [
        "",
        "",
        f"def f_{zlib.crc32(f'{package}/{rel}/{seed}'.encode()):08x}(x: int) -> int:",
        f"    return x * {len(rel)} + {sum(map(ord, package + rel)) + seed}",
        "",
    ]
    return "\n".join(lines)


def _python_files(lay: Layout, seed: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for pkg in lay.packages:
        for rel in _file_names(lay.files):
            out[f"src/{pkg}/{rel}"] = _module_source(pkg, rel, lay.imports[pkg], seed)
    return out


def qik_toml(lay: Layout) -> str:
    """The config, in the subset that both our qik and qik 0.2.10 accept.

    qik 0.2.10 names a module given as a plain string after its path (``"src/pkg_000"`` would
    become the module ``src/pkg_000``, and a ``/`` in a module name reads as
    ``module/command`` there), so modules use the table form with a short name.
    """
    modules = ",\n".join(
        f'  {{name = "{pkg}", path = "{lay.package_dir(pkg)}"}}' for pkg in lay.packages
    )
    # qik 0.2.10 rejects the top-level `modules` key; `[spaces.default]` is accepted by both.
    parts = [
        '[defaults]\npython-path = "src"\n',
        f"[spaces.default]\nmodules = [\n{modules},\n]\n",
    ]
    for cmd in COMMANDS:
        # Trivial shell lines, so the benchmark measures the runner, not the commands.
        parts.append(
            f'[commands.{cmd}]\nexec = "echo {cmd} {{module.dir}}"\n'
            f'deps = ["{{module.dir}}/**.py"]\n'
        )
    return "\n".join(parts)


def turbo_files(lay: Layout, package_manager: str = DEFAULT_PACKAGE_MANAGER) -> dict[str, str]:
    """Root package.json, package-lock.json, turbo.json and one package.json per package.

    Turborepo 2 needs the ``packageManager`` field and a lockfile it can parse to discover the
    workspaces. The packages have no dependencies, so the lockfile is fully known here and
    nothing has to be installed (no network, no ``npm install`` in the generated repo).
    """
    root_pkg = {
        "name": "qik-bench",
        "version": "0.0.0",
        "private": True,
        "workspaces": ["src/*"],
        "packageManager": package_manager,
    }
    lock_packages: dict[str, object] = {
        "": {k: v for k, v in root_pkg.items() if k in ("name", "version", "workspaces")}
    }
    out: dict[str, str] = {}
    for pkg in lay.packages:
        pdir = lay.package_dir(pkg)
        scripts = {cmd: f"echo {cmd} {pdir}" for cmd in COMMANDS}
        out[f"{pdir}/package.json"] = _json({"name": pkg, "version": "0.0.0", "scripts": scripts})
        lock_packages[pdir] = {"name": pkg, "version": "0.0.0"}
        lock_packages[f"node_modules/{pkg}"] = {"resolved": pdir, "link": True}
    lock = {
        "name": "qik-bench",
        "version": "0.0.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": lock_packages,
    }
    # Inputs are relative to each package; no outputs: the tasks only print.
    tasks = {cmd: {"inputs": ["**/*.py"], "outputs": []} for cmd in COMMANDS}
    out["package.json"] = _json(root_pkg)
    out["package-lock.json"] = _json(lock)
    out["turbo.json"] = _json({"$schema": "https://turbo.build/schema.json", "tasks": tasks})
    return out


def _json(value: object) -> str:
    return json.dumps(value, indent=2) + "\n"


def _write(dest: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _git(dest: Path, *args: str) -> None:
    subprocess.run(
        ["git", *_GIT_IDENTITY, *args], cwd=dest, check=True, capture_output=True, timeout=300
    )


def generate(
    dest: Path,
    packages: int,
    files: int,
    seed: int = 0,
    *,
    package_manager: str = DEFAULT_PACKAGE_MANAGER,
) -> Layout:
    """Write the monorepo into ``dest`` (created if missing) and commit it on ``main``."""
    lay = layout(dest, packages, files, seed)
    dest.mkdir(parents=True, exist_ok=True)
    _write(dest, _python_files(lay, seed))
    _write(dest, turbo_files(lay, package_manager))
    _write(dest, {"qik.toml": qik_toml(lay), ".gitignore": _GITIGNORE})
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "--no-gpg-sign", "-m", "synthetic monorepo")
    return lay
