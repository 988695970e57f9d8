"""Resolving an [caches.NAME] table: templates rendered, blanks dropped, no secrets shown."""

from __future__ import annotations

from collections.abc import Callable

from qik.config.schema import S3CacheConf
from qik.store.mirrors.remote import resolve
from qik.store.mirrors.spec import S3Mirror


def _render(values: dict[str, str]) -> Callable[[str, str], str]:
    def render(text: str, where: str) -> str:
        for name, value in values.items():
            text = text.replace("{ctx." + name + "}", value)
        return text

    return render


def test_templates_are_rendered_and_blanks_mean_unset() -> None:
    conf = S3CacheConf(
        name="remote",
        type="s3",
        bucket="{ctx.bucket}",
        prefix="/team-a/",
        endpoint_url="{ctx.endpoint}",
        aws_access_key_id="{ctx.key}",
        aws_secret_access_key="{ctx.secret}",
        sign_key="{ctx.sign}",
    )
    values = {"bucket": "b", "endpoint": "http://x", "key": "", "secret": " ", "sign": "s3cret"}
    remote = resolve(conf, _render(values))
    assert remote.settings.bucket == "b"
    assert remote.settings.endpoint_url == "http://x"
    assert remote.settings.aws_access_key_id is None  # boto3's own chain
    assert remote.settings.aws_secret_access_key is None
    assert remote.sign_key == "s3cret"
    assert "s3cret" not in repr(remote)
    mirror = S3Mirror("remote", remote.settings, "run", remote.sign_key)
    assert "s3cret" not in repr(mirror)


def test_a_sign_key_that_renders_empty_is_not_none() -> None:
    conf = S3CacheConf(name="remote", type="s3", bucket="b", sign_key="{ctx.sign}")
    remote = resolve(conf, _render({"sign": ""}))
    assert remote.sign_key == ""
    unsigned = resolve(S3CacheConf(name="remote", type="s3", bucket="b"), _render({}))
    assert unsigned.sign_key is None


def test_settings_never_show_credentials() -> None:
    conf = S3CacheConf(name="r", type="s3", bucket="b", aws_secret_access_key="hunter2")
    settings = resolve(conf, _render({})).settings
    assert "hunter2" not in repr(settings)
