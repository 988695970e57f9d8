"""The S3 examples of docs/s3.md and docs/ci.md, run as written against moto's server."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.s3.server import ACCESS_KEY, REGION, SECRET_KEY, MotoServer

pytestmark = pytest.mark.s3

Qik = Callable[..., subprocess.CompletedProcess[str]]
DOCS = Path(__file__).parents[2] / "docs"


def _toml_blocks(doc: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", (DOCS / doc).read_text(), re.S)


def _clone(root: Path, name: str) -> Path:
    other = root.parent / name
    subprocess.run(["git", "clone", "-q", str(root), str(other)], check=True)
    return other


def test_the_s3_configuration_example_shares_results(
    make_repo: Callable[..., Path], qik: Qik, moto: MotoServer, bucket: str
) -> None:
    toml = _toml_blocks("s3.md")[0]
    assert 'bucket = "my-cache-bucket"' in toml and 'exec = "pytest"' in toml
    toml = toml.replace("my-cache-bucket", bucket).replace(
        'exec = "pytest"', 'exec = "echo tested; date +%s%N > cov.txt"\nartifacts = ["cov.txt"]'
    )
    root = make_repo({"qik.toml": toml, "src/a.py": "x = 1\n", ".gitignore": "._qik/\ncov.txt\n"})
    env = {
        "S3_ENDPOINT": moto.endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "QIK_SIGN_KEY": "k",
    }
    first = qik(root, env=env)
    assert first.returncode == 0, first.stderr
    assert "warning" not in first.stderr

    other = _clone(root, "other")
    replayed = qik(other, env=env)
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed from remote cache" in replayed.stdout
    assert (other / "cov.txt").read_text() == (root / "cov.txt").read_text()

    # Without the key the documented setup neither replays nor writes, and says so.
    unsigned = qik(_clone(root, "third"), env={**env, "QIK_SIGN_KEY": ""})
    assert unsigned.returncode == 0, unsigned.stderr
    assert "ran" in unsigned.stdout and "sign-key" in unsigned.stderr


def test_the_ci_profile_sends_commands_to_the_remote_cache(
    make_repo: Callable[..., Path], qik: Qik, moto: MotoServer, bucket: str
) -> None:
    toml = next(b for b in _toml_blocks("ci.md") if "[ctx.ci.qik]" in b)
    toml = toml.replace('bucket = "my-qik-cache"', f'bucket = "{bucket}"').replace(
        "pytest --cov {module.dir} --cov-report xml:{module.name}-coverage.xml",
        "echo testing {module.dir}; date +%s%N > {module.name}-coverage.xml",
    )
    root = make_repo(
        {
            "qik.toml": 'modules = ["app", "lib"]\n' + toml,
            "app/__init__.py": "import lib.util\n",
            "lib/__init__.py": "",
            "lib/util.py": "X = 1\n",
            ".gitignore": "._qik/\n*-coverage.xml\n",
        }
    )
    env = {
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
    }
    first = qik(root, "-p", "ci", env=env)
    assert first.returncode == 0, first.stderr
    coverage = (root / "app-coverage.xml").read_text()

    other = _clone(root, "other")
    replayed = qik(other, env={**env, "QIK__PROFILE": "ci"})
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.count("replayed from remote cache") == 2
    assert (other / "app-coverage.xml").read_text() == coverage

    # --cache names a cache to select by; without the profile nothing goes to `remote`.
    assert "0 ran, 0 replayed" in qik(other, "--cache", "remote", env=env).stdout
