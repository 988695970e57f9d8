"""The small top-level tables: ``[caches]``, ``[defaults]``, ``[pydist]``, ``[plugins]``."""

from __future__ import annotations

from dataclasses import dataclass

from qik.config.commands import as_cache_when_or_template
from qik.config.refs import BUILTIN_CACHES, NO_CACHE, Refs
from qik.config.schema import (
    CacheConf,
    CacheWhen,
    PydistConf,
    PygraphConf,
    S3CacheConf,
    SpaceVenv,
    UvPluginConf,
)
from qik.config.spaces import parse_venv
from qik.config.validate import (
    Fields,
    Loc,
    as_bool,
    as_file_path,
    as_file_paths,
    as_rel_path,
    as_str,
    as_table,
    config_error,
    fields,
)

__all__ = [
    "Defaults",
    "parse_caches",
    "parse_defaults",
    "parse_pydist",
    "parse_pygraph",
    "parse_uv_plugin",
]

CACHE_TYPES = ("s3",)
S3_KEYS = (
    "type",
    "bucket",
    "prefix",
    "region-name",
    "endpoint-url",
    "aws-access-key-id",
    "aws-secret-access-key",
    "aws-session-token",
    "read-only",
    "sign-key",
)
DEFAULTS_KEYS = ("cache", "cache-when", "python-path", "venv", "dotenv")
PYDIST_KEYS = ("versions", "ignore-missing", "ignore-missing-modules", "modules")
# `pyimport` is how qik 0.2 named a plugin's import path inside its own table.
PYGRAPH_KEYS = (
    "ignore-pydists",
    "ignore-type-checking",
    "cache",
    "pyimport",
    # qik 0.2's: its graph's build and lock caches stand for ``cache``; the rest map to
    # [pydist] (load.py), or have nothing left to set (check-cache).
    "build-cache",
    "lock-cache",
    "check-cache",
    "module-pydists",
    "ignore-missing-module-pydists",
)


@dataclass(frozen=True)
class Defaults:
    cache: str = "local"
    cache_when: CacheWhen = "success"
    python_path: str = "."
    venv: SpaceVenv | None = None
    dotenv: tuple[str, ...] = ()


def parse_caches(value: object, loc: Loc) -> dict[str, CacheConf]:
    return {
        name: _parse_cache(name, spec, loc / name) for name, spec in as_table(value, loc).items()
    }


def _parse_cache(name: str, spec: object, loc: Loc) -> CacheConf:
    if name in (*BUILTIN_CACHES, NO_CACHE):
        raise config_error(
            "reserved-cache-name",
            loc,
            f'"{name}" is a built-in cache and can\'t be redeclared',
            f"rename [caches.{name}] (e.g. [caches.remote]) and point commands at that name",
        )
    table = as_table(spec, loc)
    if "type" not in table:
        raise config_error(
            "missing-key", loc, 'a cache needs a "type"', f'add type = "s3" to [caches.{name}]'
        )
    cache_type = as_str(table["type"], loc / "type")
    if cache_type not in CACHE_TYPES:
        raise config_error(
            "unknown-cache-type",
            loc / "type",
            f'unknown cache type "{cache_type}"; valid types: {", ".join(CACHE_TYPES)}',
            'set type = "s3" (local and repo caches need no [caches] table)',
        )
    return _parse_s3(name, fields(table, loc, S3_KEYS))


def _parse_s3(name: str, f: Fields) -> S3CacheConf:
    return S3CacheConf(
        name=name,
        type="s3",
        bucket=f.req("bucket", as_str),
        prefix=f.get_or("prefix", as_str, ""),
        region_name=f.opt("region-name", as_str),
        endpoint_url=f.opt("endpoint-url", as_str),
        aws_access_key_id=f.opt("aws-access-key-id", as_str),
        aws_secret_access_key=f.opt("aws-secret-access-key", as_str),
        aws_session_token=f.opt("aws-session-token", as_str),
        read_only=f.get_or("read-only", as_bool, False),
        sign_key=f.opt("sign-key", as_str),
    )


def parse_defaults(value: object, loc: Loc, refs: Refs) -> Defaults:
    f = fields(value, loc, DEFAULTS_KEYS)
    return Defaults(
        cache=f.get_or("cache", refs.cache_or_template, "local"),
        cache_when=f.get_or("cache-when", as_cache_when_or_template, "success"),
        python_path=f.get_or("python-path", as_rel_path, "."),
        venv=f.opt("venv", lambda v, at: parse_venv(v, at, refs)),
        dotenv=f.get_or("dotenv", as_file_paths, ()),
    )


def parse_pydist(value: object, loc: Loc) -> PydistConf:
    f = fields(value, loc, PYDIST_KEYS)
    return PydistConf(
        versions=f.get_or("versions", _str_map, {}),
        ignore_missing=f.get_or("ignore-missing", as_bool, False),
        ignore_missing_modules=f.get_or("ignore-missing-modules", as_bool, False),
        modules=f.get_or("modules", _str_map, {}),
    )


def _str_map(value: object, loc: Loc) -> dict[str, str]:
    return {key: as_str(item, loc / key) for key, item in as_table(value, loc).items()}


UV_PLUGIN_KEYS = ("pyimport", "constraint", "python", "index-url", "extra-index-url", "cache")


def parse_uv_plugin(plugins: tuple[Loc, object] | None, refs: Refs) -> UvPluginConf:
    """qik 0.2's ``[plugins.uv]``: defaults for every uv venv (docs/spaces.md)."""
    f = _plugin_table(plugins, "uv", UV_PLUGIN_KEYS)
    if f is None:
        return UvPluginConf()
    return UvPluginConf(
        constraint=f.opt("constraint", as_file_path),
        python=f.opt("python", as_str),
        index_url=f.opt("index-url", as_str),
        extra_index_url=f.opt("extra-index-url", as_str),
        cache=f.opt("cache", refs.cache),
    )


def _plugin_table(
    plugins: tuple[Loc, object] | None, name: str, keys: tuple[str, ...]
) -> Fields | None:
    """The fields of ``[plugins.NAME]``, or None when that is no table (a 0.2 plugin line
    such as ``uv = "qik.uv"``, or no ``[plugins]`` at all)."""
    if plugins is None:
        return None
    loc, value = plugins
    spec = as_table(value, loc).get(name)
    return fields(spec, loc / name, keys) if isinstance(spec, dict) else None


def parse_pygraph(plugins: tuple[Loc, object] | None, refs: Refs) -> PygraphConf:
    """``[plugins.pygraph]`` options; every other ``[plugins]`` entry is accepted and ignored.

    qik 0.2 loaded plugins by import path (``s3 = "qik.s3"``); here they are built in, so
    those lines only need to stay harmless.
    """
    f = _plugin_table(plugins, "pygraph", PYGRAPH_KEYS)
    if f is None:
        return PygraphConf()
    f.opt("check-cache", refs.cache)
    return PygraphConf(
        ignore_pydists=f.get_or("ignore-pydists", as_bool, False),
        ignore_type_checking=f.get_or("ignore-type-checking", as_bool, False),
        cache=f.opt("cache", refs.cache)
        or f.opt("build-cache", refs.cache)
        or f.opt("lock-cache", refs.cache),
        modules=f.get_or("module-pydists", _str_map, {}),
        ignore_missing_modules=f.get_or("ignore-missing-module-pydists", as_bool, False),
    )
