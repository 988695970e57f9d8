"""Every config mistake is a ConfigError with a stable code, the exact key, and a hint."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from qik.config import ERROR_CODES
from qik.config.find import read_toml
from qik.errors import ConfigError

from .conftest import LoadError

CMD = '[commands.lint]\nexec = "ruff ."\n'
S3 = '[caches.remote]\ntype = "s3"\nbucket = "b"\n'

# (config, code, text the message must hold: the file and the key path)
CASES: list[tuple[str, Mapping[str, str] | str, str, str]] = [
    # toml-syntax
    ("syntax", "a = \n", "toml-syntax", "qik.toml: line 1, column 5"),
    ("syntax-dup", "a = 1\na = 2\n", "toml-syntax", "qik.toml: line 2, column 6"),
    ("syntax-at-the-end-2", "x = {a = 1}\nx.b = 2", "toml-syntax", "qik.toml: line 2, column 8"),
    ("syntax-nesting", "a = " + "[" * 5000 + "]" * 5000, "toml-syntax", "qik.toml"),
    ("syntax-at-the-end", "a = 1\nx = [\n", "toml-syntax", "qik.toml: line 3, column 1"),
    ("syntax-huge-int", "a = " + "9" * 5000, "toml-syntax", "qik.toml"),
    (
        "syntax-module",
        {"qik.toml": 'modules = ["a"]\n', "a/qik.toml": "[commands\n"},
        "toml-syntax",
        "a/qik.toml: line 1",
    ),
    # unknown-key
    ("top", 'comands = {x = "y"}\n', "unknown-key", 'qik.toml: comands: unknown key "comands"'),
    ("cmd", CMD + 'depz = ["a"]\n', "unknown-key", "qik.toml: commands.lint.depz"),
    ("defaults", '[defaults]\ncache-whenn = "success"\n', "unknown-key", "defaults.cache-whenn"),
    ("s3", S3 + 'buckett = "x"\n', "unknown-key", "caches.remote.buckett"),
    ("space", '[spaces.app]\nmodulez = ["a"]\n', "unknown-key", "spaces.app.modulez"),
    (
        "dep",
        CMD + 'deps = [{type = "glob", pattern = "a", name = "b"}]\n',
        "unknown-key",
        "commands.lint.deps[0].name",
    ),
    (
        "module",
        'modules = [{name = "a", path = "a", root = "x"}]\n',
        "unknown-key",
        "modules[0].root",
    ),
    (
        "venv",
        '[spaces.app]\nvenv = {type = "uv", reqs = "r", lok = "x"}\n',
        "unknown-key",
        "spaces.app.venv.lok",
    ),
    ("var", 'vars = [{name = "x", typ = "int"}]\n', "unknown-key", "vars[0].typ"),
    ("profile", "[ctx.ci.qik]\nwrkers = 4\n", "unknown-key", "ctx.ci.qik.wrkers"),
    ("profile-ns", "[ctx.ci.qikk]\nworkers = 4\n", "unknown-key", "ctx.ci.qikk"),
    (
        "profile-var",
        'vars = ["x"]\n[ctx.ci.project]\ny = "1"\n',
        "unknown-key",
        "ctx.ci.project.y",
    ),
    ("pydist", "[pydist]\nignore-mising = true\n", "unknown-key", "pydist.ignore-mising"),
    (
        "pygraph",
        "[plugins.pygraph]\nignore-pydist = true\n",
        "unknown-key",
        "plugins.pygraph.ignore-pydist",
    ),
    ("base", '[base]\ndep = ["a"]\n', "unknown-key", "qik.toml: base.dep"),
    (
        "module-config",
        {"qik.toml": 'modules = ["a"]\n', "a/qik.toml": 'vars = ["x"]\n'},
        "unknown-key",
        "a/qik.toml: vars",
    ),
    ("quoted", CMD + '"a b" = 1\n', "unknown-key", 'commands.lint."a b"'),
    # duplicate-key
    (
        "kebab-snake",
        CMD + 'cache-when = "success"\ncache_when = "failed"\n',
        "duplicate-key",
        "commands.lint.cache_when",
    ),
    (
        "profile-var-twice",
        'vars = ["a_b"]\n[ctx.ci.project]\na_b = "1"\na-b = "2"\n',
        "duplicate-key",
        "ctx.ci.project.a-b",
    ),
    # missing-key
    ("glob", CMD + 'deps = [{type = "glob"}]\n', "missing-key", "commands.lint.deps[0]"),
    ("dep-type", CMD + 'deps = [{name = "x"}]\n', "missing-key", "commands.lint.deps[0]"),
    ("bucket", '[caches.remote]\ntype = "s3"\n', "missing-key", "caches.remote"),
    ("cache-type", '[caches.remote]\nbucket = "b"\n', "missing-key", "caches.remote"),
    ("module-path", 'modules = [{name = "a"}]\n', "missing-key", "modules[0]"),
    ("var-name", 'vars = [{type = "int"}]\n', "missing-key", "vars[0]"),
    ("venv-type", '[spaces.app]\nvenv = {reqs = "r"}\n', "missing-key", "spaces.app.venv"),
    ("uv-reqs", '[spaces.app]\nvenv = {type = "uv"}\n', "missing-key", "spaces.app.venv"),
    ("space-venv", '[spaces.app]\nvenv = {type = "space"}\n', "missing-key", "spaces.app.venv"),
    # wrong-type
    ("commands", "commands = 3\n", "wrong-type", "qik.toml: commands: expected a table"),
    ("command", "[commands]\nx = 3\n", "wrong-type", "commands.x: expected a string or a table"),
    ("exec", "[commands.x]\nexec = 3\n", "wrong-type", "commands.x.exec: expected a string"),
    ("deps", CMD + 'deps = "a"\n', "wrong-type", "commands.lint.deps: expected an array"),
    ("dep", CMD + "deps = [3]\n", "wrong-type", "commands.lint.deps[0]"),
    (
        "dep-field",
        CMD + 'deps = [{type = "pydist", name = 3}]\n',
        "wrong-type",
        "commands.lint.deps[0].name: expected a string, got an integer (3)",
    ),
    (
        "strict",
        CMD + 'deps = [{type = "command", name = "a", strict = "yes"}]\n',
        "wrong-type",
        "commands.lint.deps[0].strict: expected a boolean",
    ),
    ("tags", CMD + "tags = [1]\n", "wrong-type", "commands.lint.tags[0]"),
    (
        "timeout",
        CMD + 'timeout = "10"\n',
        "wrong-type",
        "commands.lint.timeout: expected a number",
    ),
    ("hidden", CMD + 'hidden = "yes"\n', "wrong-type", "commands.lint.hidden"),
    ("modules", 'modules = "a"\n', "wrong-type", "qik.toml: modules: expected an array"),
    ("module", "modules = [1]\n", "wrong-type", "modules[0]"),
    ("fence", '[spaces.app]\nfence = "x"\n', "wrong-type", "spaces.app.fence"),
    ("fence-entry", "[spaces.app]\nfence = [1]\n", "wrong-type", "spaces.app.fence[0]"),
    ("venv", "[spaces.app]\nvenv = 3\n", "wrong-type", "spaces.app.venv"),
    ("space", "[spaces]\napp = 3\n", "wrong-type", "spaces.app: expected a table"),
    ("spaces", 'spaces = "x"\n', "wrong-type", "qik.toml: spaces"),
    ("dotenv", "[spaces.app]\ndotenv = [1]\n", "wrong-type", "spaces.app.dotenv[0]"),
    ("vars", 'vars = "x"\n', "wrong-type", "qik.toml: vars"),
    ("var", "vars = [1]\n", "wrong-type", "vars[0]"),
    (
        "var-default",
        'vars = [{name = "x", type = "int", default = "4"}]\n',
        "wrong-type",
        "vars[0].default: expected an integer",
    ),
    (
        "var-bool-int",
        'vars = [{name = "x", type = "int", default = true}]\n',
        "wrong-type",
        "vars[0].default",
    ),
    ("ctx", "ctx = 3\n", "wrong-type", "qik.toml: ctx"),
    ("profile", "[ctx]\nci = 3\n", "wrong-type", "ctx.ci"),
    (
        "profile-value",
        'vars = [{name = "n", type = "int"}]\n[ctx.ci.project]\nn = "4"\n',
        "wrong-type",
        "ctx.ci.project.n",
    ),
    ("option", '[ctx.ci.qik]\nworkers = "4"\n', "wrong-type", "ctx.ci.qik.workers"),
    ("option-list", "[ctx.ci.qik]\ntags = [1]\n", "wrong-type", "ctx.ci.qik.tags[0]"),
    ("caches", "caches = []\n", "wrong-type", "qik.toml: caches"),
    ("cache", "[caches]\nremote = 1\n", "wrong-type", "caches.remote"),
    ("read-only", S3 + 'read-only = "no"\n', "wrong-type", "caches.remote.read-only"),
    ("pydist-versions", "[pydist]\nversions = {a = 1}\n", "wrong-type", "pydist.versions.a"),
    ("plugins", "plugins = 1\n", "wrong-type", "qik.toml: plugins"),
    ("base", "base = []\n", "wrong-type", "qik.toml: base"),
    ("python-path", "[defaults]\npython-path = 1\n", "wrong-type", "defaults.python-path"),
    # invalid-value
    (
        "cache-when",
        CMD + 'cache-when = "sometimes"\n',
        "invalid-value",
        'commands.lint.cache-when: "sometimes" is not one of "success", "failed", "finished"',
    ),
    ("timeout-zero", CMD + "timeout = 0\n", "invalid-value", "commands.lint.timeout"),
    ("timeout-inf", CMD + "timeout = inf\n", "invalid-value", "commands.lint.timeout"),
    ("timeout-nan", CMD + "timeout = nan\n", "invalid-value", "commands.lint.timeout"),
    ("python-path-abs", '[defaults]\npython-path = "/src"\n', "invalid-value", "python-path"),
    ("artifact-up", CMD + 'artifacts = ["../x"]\n', "invalid-value", "commands.lint.artifacts[0]"),
    ("artifact-abs", CMD + 'artifacts = ["a", "/x"]\n', "invalid-value", "lint.artifacts[1]"),
    (
        "timeout-huge",
        CMD + "timeout = 99999999999999999999\n",
        "invalid-value",
        "commands.lint.timeout: an integer this large",  # not "a float (inf)": an audit
    ),
    ("command-name", '[commands]\n"a@b" = "x"\n', "invalid-value", 'commands."a@b"'),
    ("meta-name", '[commands]\n":x" = "x"\n', "invalid-value", 'commands.":x"'),
    ("module-up", 'modules = ["../x"]\n', "invalid-value", "modules[0]"),
    (
        "module-abs",
        'modules = [{name = "a", path = "/abs"}]\n',
        "invalid-value",
        "modules[0].path",
    ),
    (
        "module-name",
        'modules = [{name = "a@b", path = "a"}]\n',
        "invalid-value",
        "modules[0].name",
    ),
    ("root", '[spaces.app]\nroot = ""\n', "invalid-value", "spaces.app.root"),
    ("var-type", 'vars = [{name = "x", type = "float"}]\n', "invalid-value", "vars[0].type"),
    ("var-name", 'vars = ["qik"]\n', "invalid-value", "vars[0]"),
    ("workers", "[ctx.ci.qik]\nworkers = 0\n", "invalid-value", "ctx.ci.qik.workers"),
    ("verbosity", "[ctx.ci.qik]\nverbosity = 3\n", "invalid-value", "ctx.ci.qik.verbosity"),
    (
        "cache-status",
        '[ctx.ci.qik]\ncache-status = "hot"\n',
        "invalid-value",
        "ctx.ci.qik.cache-status",
    ),
    (
        "venv-type",
        '[spaces.app]\nvenv = {type = "conda", reqs = "r"}\n',
        "invalid-value",
        "spaces.app.venv.type",
    ),
    (
        "venv-reqs",
        '[spaces.app]\nvenv = {type = "uv", reqs = []}\n',
        "invalid-value",
        "spaces.app.venv.reqs",
    ),
    (
        "fence-type",
        '[spaces.app]\nfence = [{type = "module", name = "x"}]\n',
        "invalid-value",
        "spaces.app.fence[0].type",
    ),
    # unknown-dep-type
    (
        "dep-type",
        CMD + 'deps = [{type = "val", key = "a"}]\n',
        "unknown-dep-type",
        'commands.lint.deps[0].type: unknown dep type "val"; valid types: glob, const, command',
    ),
    (
        "base-dep-type",
        '[base]\ndeps = [{type = "globb", pattern = "a"}]\n',
        "unknown-dep-type",
        "base.deps[0].type",
    ),
    # unknown-cache
    (
        "command",
        CMD + 'cache = "remote"\n',
        "unknown-cache",
        'commands.lint.cache: no cache named "remote"; declared caches: local, repo',
    ),
    ("defaults", '[defaults]\ncache = "remote"\n', "unknown-cache", "defaults.cache"),
    ("profile", '[ctx.ci.qik]\ncache = "remote"\n', "unknown-cache", "ctx.ci.qik.cache"),
    (
        "profile-caches",
        '[ctx.ci.qik]\ncaches = ["local", "nope"]\n',
        "unknown-cache",
        "qik.caches",
    ),
    ("pygraph", '[plugins.pygraph]\ncache = "remote"\n', "unknown-cache", "plugins.pygraph.cache"),
    (
        "module-command",
        {
            "qik.toml": 'modules = ["a"]\n',
            "a/qik.toml": '[commands.t]\nexec = "x"\ncache = "s3"\n',
        },
        "unknown-cache",
        "a/qik.toml: commands.t.cache",
    ),
    # unknown-cache-type
    (
        "gcs",
        '[caches.remote]\ntype = "gcs"\n',
        "unknown-cache-type",
        'caches.remote.type: unknown cache type "gcs"',
    ),
    # reserved-cache-name
    (
        "local",
        '[caches.local]\ntype = "s3"\nbucket = "b"\n',
        "reserved-cache-name",
        "caches.local",
    ),
    ("repo", "[caches.repo]\n", "reserved-cache-name", "caches.repo"),
    # unknown-space
    (
        "command",
        CMD + 'space = "app"\n',
        "unknown-space",
        'commands.lint.space: no space named "app"; declared spaces: default',
    ),
    (
        "venv",
        '[spaces.app]\nvenv = {type = "space", name = "x"}\n',
        "unknown-space",
        "spaces.app.venv.name",
    ),
    (
        "fence",
        '[spaces.app]\nfence = [{type = "space", name = "x"}]\n',
        "unknown-space",
        "spaces.app.fence[0].name",
    ),
    (
        "defaults-venv",
        '[defaults]\nvenv = {type = "space", name = "x"}\n',
        "unknown-space",
        "defaults.venv.name",
    ),
    # duplicate-module
    (
        "across-spaces",
        'modules = ["a"]\n[spaces.app]\nmodules = ["a"]\n',
        "duplicate-module",
        'spaces.app.modules[0]: module "a" is already declared at modules[0]',
    ),
    (
        "same-space",
        'modules = ["a", {name = "a", path = "b"}]\n',
        "duplicate-module",
        "modules[1]",
    ),
    (
        "default-twice",
        'modules = ["a"]\n[spaces.default]\nmodules = ["a"]\n',
        "duplicate-module",
        "spaces.default.modules[0]",
    ),
    # duplicate-var
    ("vars-and-ctx", 'vars = ["x"]\nctx = ["x"]\n', "duplicate-var", "qik.toml: ctx[0]"),
    ("twice", 'vars = ["x", {name = "x"}]\n', "duplicate-var", "vars[1]"),
    ("two-spellings", 'vars = ["my_var", "my-var"]\n', "duplicate-var", "vars[1]"),
]


@pytest.mark.parametrize(
    ("config", "code", "text"),
    [pytest.param(config, code, text, id=f"{code}:{name}") for name, config, code, text in CASES],
)
def test_config_errors(
    load_error: LoadError, config: Mapping[str, str] | str, code: str, text: str
) -> None:
    error = load_error(config)
    assert error.code == code
    assert text in error.message
    assert error.hint
    assert code in ERROR_CODES


def test_unknown_key_suggests_the_closest_key(load_error: LoadError) -> None:
    error = load_error(CMD + 'depz = ["a"]\n')
    assert 'did you mean "deps"?' in error.message
    assert 'rename it to "deps"' in (error.hint or "")


def test_unknown_key_in_pyproject_names_the_tool_table(load_error: LoadError) -> None:
    error = load_error({"pyproject.toml": "[tool.qik.commands.lint]\nexecc = 'x'\n"})
    assert error.code == "unknown-key"
    assert "pyproject.toml: tool.qik.commands.lint.execc" in error.message


def test_tool_qik_must_be_a_table(load_error: LoadError) -> None:
    error = load_error({"pyproject.toml": "[tool]\nqik = 1\n"})
    assert error.code == "wrong-type"
    assert "pyproject.toml: tool.qik" in error.message


def test_invalid_utf8(tmp_path: Path) -> None:
    (tmp_path / "qik.toml").write_bytes(b'a = "\xff"\n')
    with pytest.raises(ConfigError) as info:
        read_toml(tmp_path / "qik.toml", "qik.toml")
    assert info.value.code == "toml-syntax"
    assert "qik.toml" in info.value.message


def test_unreadable_config(tmp_path: Path) -> None:
    # A directory stands in for an unreadable file: tests may run as root.
    with pytest.raises(ConfigError) as info:
        read_toml(tmp_path, "qik.toml")
    assert info.value.code == "config-unreadable"
    assert info.value.message.startswith("qik.toml: ")


def test_a_module_config_that_is_a_directory(load_error: LoadError, tmp_path: Path) -> None:
    # As at the root: skipped, the module's commands would be gone without a word.
    (tmp_path / "a" / "qik.toml").mkdir(parents=True)
    error = load_error('modules = ["a"]\n')
    assert error.code == "config-unreadable"
    assert error.message.startswith("a/qik.toml: ")


@pytest.mark.parametrize(
    ("var", "value"),
    [('{name = "n", type = "int"}', "four"), ('{name = "n", type = "bool"}', "maybe")],
)
def test_invalid_var_value(load_error: LoadError, var: str, value: str) -> None:
    error = load_error(f"vars = [{var}]\n", environ={"PROJECT__N": value})
    assert error.code == "invalid-var-value"
    assert "qik.toml: vars[0]" in error.message
    assert "PROJECT__N" in error.message
    assert error.hint


@pytest.mark.parametrize(
    ("profile", "environ", "source"),
    [("nope", {}, "-p/--profile"), (None, {"QIK__PROFILE": "nope"}, "QIK__PROFILE")],
)
def test_unknown_profile(
    load_error: LoadError, profile: str | None, environ: dict[str, str], source: str
) -> None:
    error = load_error("[ctx.dev.qik]\nworkers = 2\n", profile=profile, environ=environ)
    assert error.code == "unknown-profile"
    assert 'qik.toml: ctx: no profile named "nope"' in error.message
    assert source in error.message
    assert "ci, default, dev" in error.message


def test_every_error_renders_without_a_traceback(load_error: LoadError) -> None:
    rendered = load_error(CMD + 'cache-when = "x"\n').render()
    assert rendered.startswith("error[invalid-value]: qik.toml: commands.lint.cache-when")
    assert "hint: " in rendered
