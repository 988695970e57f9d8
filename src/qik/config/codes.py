"""Every error code that loading a project's configuration can raise.

``docs/errors.md`` is generated from (and checked against) this table, so a code
raised anywhere under :mod:`qik.config` must have an entry here.
"""

from __future__ import annotations

__all__ = ["ERROR_CODES"]

ERROR_CODES: dict[str, str] = {
    "config-not-found": "No qik.toml, or pyproject.toml with [tool.qik], in this directory "
    "or any parent.",
    "config-unreadable": "A configuration file exists but could not be read (permissions, "
    "or it is a directory).",
    "toml-syntax": "A configuration file is not valid TOML (or not UTF-8); the message gives "
    "the line and column.",
    "unknown-key": "A key qik doesn't know, usually a typo; the message suggests the "
    "closest valid key.",
    "duplicate-key": "The same key is written twice, e.g. in both kebab-case and snake_case "
    "(cache-when and cache_when).",
    "missing-key": "A table lacks a key it needs, e.g. a glob dep without pattern or an s3 "
    "cache without bucket.",
    "wrong-type": "A value has the wrong TOML type, e.g. a string where a list belongs.",
    "invalid-value": "A value has the right type but is not allowed, e.g. cache-when not "
    "success|failed|finished.",
    "unknown-dep-type": "A dep table's type is not glob, const, command, pydist, dist, "
    "pygraph or module.",
    "unknown-cache": "A command, [defaults] or profile names a cache that is neither built "
    "in (local, repo) nor declared under [caches].",
    "unknown-cache-type": "A [caches.NAME] table has a type other than s3.",
    "reserved-cache-name": "[caches.local] or [caches.repo] redeclares a built-in cache.",
    "unknown-space": "A command, venv or fence names a space that is not declared under [spaces].",
    "duplicate-module": "Two modules (in any spaces) share a name.",
    "duplicate-var": "A context variable is declared twice (in vars and ctx, or twice in "
    "one list).",
    "unknown-profile": "The requested context profile (-p or QIK__PROFILE) has no "
    "[ctx.PROFILE] table.",
    "invalid-var-value": "An environment variable's value can't be converted to its context "
    "variable's type (int or bool).",
}
