"""The typed, frozen shape of a qik project's configuration.

Produced by :mod:`qik.config.load`; consumed by the graph. Templates (``{module.dir}``,
``{ctx.x}``) are kept as written here and resolved when commands are expanded into
runnables (see :mod:`qik.graph.expand`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = [
    "CacheConf",
    "CacheWhen",
    "Command",
    "CommandDep",
    "ConstDep",
    "Dep",
    "GlobDep",
    "Module",
    "Project",
    "PydistConf",
    "PydistDep",
    "PygraphConf",
    "PygraphDep",
    "QikOptionValues",
    "S3CacheConf",
    "Space",
    "SpaceVenv",
    "Var",
    "VarType",
]

CacheWhen = Literal["success", "failed", "finished"]
VarType = Literal["str", "int", "bool"]


@dataclass(frozen=True)
class GlobDep:
    """Files matching a gitignore-style pattern, relative to the project root."""

    pattern: str


@dataclass(frozen=True)
class ConstDep:
    """A value; templates allowed."""

    val: str


@dataclass(frozen=True)
class CommandDep:
    """Run after ``name``; its dep hash enters ours."""

    name: str
    strict: bool = False
    isolated: bool | None = None  # None: follow the --isolated flag


@dataclass(frozen=True)
class PydistDep:
    """The installed (or configured) version of a distribution."""

    name: str


@dataclass(frozen=True)
class PygraphDep:
    """A module and everything it imports, through the Python import graph."""

    pyimport: str


Dep = GlobDep | ConstDep | CommandDep | PydistDep | PygraphDep


@dataclass(frozen=True)
class Command:
    """One ``[commands.NAME]`` table (or a bare string exec)."""

    name: str  # "lint", or "<module>/lint" for a module-level qik.toml command
    exec: str
    deps: tuple[Dep, ...] = ()
    artifacts: tuple[str, ...] = ()
    cache: str | None = None  # None: [defaults] cache, then "local"
    cache_when: CacheWhen | None = None  # None: [defaults] cache-when, then "success"
    tags: tuple[str, ...] = ()
    space: str | None = None  # None: the module's space, then "default"
    timeout: float | None = None  # seconds
    module: str | None = None  # set for module-level qik.toml commands
    hidden: bool = False

    @property
    def is_cached(self) -> bool:
        return bool(self.deps)


@dataclass(frozen=True)
class Module:
    name: str
    path: str  # posix path relative to the root
    space: str = "default"


@dataclass(frozen=True)
class SpaceVenv:
    """A space's environment. ``type`` is "active", "space" (inherit) or "uv"/"pip"."""

    type: str = "active"
    reqs: tuple[str, ...] = ()
    lock: str | None = None
    constraint: str | None = None
    python: str | None = None
    name: str | None = None  # for type = "space"
    cache: str | None = None  # where the lock is cached; None: "repo"


@dataclass(frozen=True)
class Space:
    name: str
    root: str | None = None
    modules: tuple[Module, ...] = ()
    fence: bool | tuple[str | tuple[Literal["space"], str], ...] = False
    venv: SpaceVenv | None = None
    dotenv: tuple[str, ...] = ()


@dataclass(frozen=True)
class Var:
    name: str
    type: VarType = "str"
    default: str | int | bool | None = None
    required: bool = True


@dataclass(frozen=True)
class CacheConf:
    """A user-declared cache under ``[caches.NAME]`` of an unknown-to-core type."""

    name: str
    type: str


@dataclass(frozen=True)
class S3CacheConf(CacheConf):
    bucket: str = ""
    prefix: str = ""
    region_name: str | None = None
    endpoint_url: str | None = None  # may hold {ctx.*} templates
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    read_only: bool = False
    sign_key: str | None = None


@dataclass(frozen=True)
class PydistConf:
    versions: dict[str, str] = field(default_factory=dict)
    ignore_missing: bool = False
    ignore_missing_modules: bool = False
    modules: dict[str, str] = field(default_factory=dict)  # top-level module -> distribution


@dataclass(frozen=True)
class PygraphConf:
    ignore_pydists: bool = False
    ignore_type_checking: bool = False
    cache: str | None = None
    # qik 0.2's spellings of [pydist] modules and ignore-missing-modules, merged there.
    modules: dict[str, str] = field(default_factory=dict)
    ignore_missing_modules: bool = False


@dataclass(frozen=True)
class UvPluginConf:
    """qik 0.2's ``[plugins.uv]``: defaults for every uv venv (a space's own win)."""

    constraint: str | None = None
    python: str | None = None
    index_url: str | None = None  # may hold {ctx.*} templates, rendered when planned
    extra_index_url: str | None = None
    cache: str | None = None  # the cache of the lock runnables


# qik's own options, as read from [ctx.<profile>.qik]; keys are snake_case option names.
QikOptionValues = dict[str, "str | int | bool | list[str]"]


@dataclass(frozen=True)
class Project:
    """The whole configuration of one project, rooted at ``root``."""

    root: Path
    config_path: Path
    commands: dict[str, Command] = field(default_factory=dict)
    modules: dict[str, Module] = field(default_factory=dict)  # by name, across spaces
    spaces: dict[str, Space] = field(default_factory=dict)  # always holds "default"
    base_deps: tuple[Dep, ...] = ()
    default_cache: str = "local"
    default_cache_when: CacheWhen = "success"
    python_path: str = "."
    caches: dict[str, CacheConf] = field(default_factory=dict)  # user-declared only
    vars: dict[str, Var] = field(default_factory=dict)
    ctx_values: dict[str, str | int | bool | None] = field(default_factory=dict)  # resolved
    qik_options: QikOptionValues = field(default_factory=dict)  # active profile's [ctx.P.qik]
    profile: str | None = None
    pydist: PydistConf = field(default_factory=PydistConf)
    pygraph: PygraphConf = field(default_factory=PygraphConf)
    uv: UvPluginConf = field(default_factory=UvPluginConf)
    # Required vars with no value from env, profile or default; absent from ctx_values, so
    # only a template that uses one fails (error missing-var).
    missing_vars: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()  # profiles declared under [ctx] ("default"/"ci" are implicit)
    default_venv: SpaceVenv | None = None  # [defaults] venv: for spaces that declare none
    default_dotenv: tuple[str, ...] = ()  # [defaults] dotenv: for spaces that declare none
    # Every config file read (root first, then module qik.toml files): what --watch reloads on.
    config_files: tuple[Path, ...] = ()
