"""lib.config: every setting is named once, read through config.env, and documented in .env.example."""

import ast
import pathlib
import re

import pytest

from lib import config

ROOT = pathlib.Path(__file__).resolve().parents[1]
CODE = [p for folder in ("api", "lib", "dev") for p in (ROOT / folder).rglob("*.py")]


def test_env_example_lists_exactly_the_settings():
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M)
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(config.SETTINGS)


def test_every_setting_in_env_example_has_a_comment_above_it():
    lines = (ROOT / ".env.example").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]*=", line):
            above = [l for l in lines[:i] if l.strip()]
            assert above and (above[-1].startswith("#") or re.match(r"^[A-Z][A-Z0-9_]*=", above[-1])), line


def test_only_lib_config_reads_the_environment():
    for path in CODE:
        if path == ROOT / "lib" / "config.py":
            continue
        text = path.read_text()
        assert "os.environ" not in text and "getenv(" not in text, path.relative_to(ROOT)


def test_every_literal_setting_name_in_the_code_is_a_setting():
    """Names passed to config.env/env_int as literals, anywhere in api/, lib/ and dev/."""
    used = set()
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("env", "env_int"):
                if node.args and isinstance(node.args[0], ast.Constant):
                    used.add(node.args[0].value)
    assert used and used <= set(config.SETTINGS)


def test_an_unknown_setting_is_a_programming_error():
    with pytest.raises(KeyError):
        config.env("IMGMEND_NO_SUCH_SETTING")


@pytest.mark.parametrize("n, label", [(4 * config.MB, "4 MB"), (config.PLATFORM_BODY_BYTES, "4.5 MB")])
def test_size_labels(n, label):
    assert config.size_label(n) == label


def test_limit_messages_are_built_from_the_limits(monkeypatch):
    from lib import errors

    assert config.pixels_label(config.MAX_PIXELS) in errors.TooManyPixels.message
    assert config.size_label(config.MAX_BYTES) in errors.PayloadTooLarge.message
    assert config.formats_label() == "JPEG, PNG, WebP, HEIC or AVIF" and config.formats_label() in errors.UnsupportedFormat.message
    assert config.formats_label(("JPEG", "PNG", "WEBP")) == "JPEG, PNG or WebP"


def test_pro_burst_limit_defaults_to_30_and_is_a_setting(monkeypatch):
    assert config.pro_rate_limit_per_minute() == 30
    monkeypatch.setenv("PRO_RATE_LIMIT_PER_MINUTE", "5")
    assert config.pro_rate_limit_per_minute() == 5
    monkeypatch.setenv("PRO_RATE_LIMIT_PER_MINUTE", "zero")
    assert config.pro_rate_limit_per_minute() == 30


@pytest.mark.parametrize("url, origin", [
    ("https://imgmend.com", "https://imgmend.com"), ("https://imgmend.com/", "https://imgmend.com"),
    ("HTTPS://ImgMend.com:443/pro", "https://imgmend.com"), ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
    ("http://[::1]:80", "http://[::1]"), ("null", None), ("ftp://x.example", None), ("https://", None),
    ("https://x.example:99999", None),
])
def test_origin_of(url, origin):
    assert config.origin_of(url) == origin
