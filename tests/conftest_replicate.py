"""Pytest plugin: a loopback fake Replicate API and the environment that points the app at it.

List it in tests/conftest.py as `pytest_plugins = ["tests.conftest_replicate"]`.
"""

import pytest

try:
    from tests.fake_replicate import FakeReplicate
except ImportError:  # tests/ itself on sys.path (pytest's rootdir-less prepend mode)
    from fake_replicate import FakeReplicate

MODEL_VARIABLES = ("REPLICATE_MODEL_DENOISE", "REPLICATE_MODEL_REMOVE_BG", "REPLICATE_MODEL_REMOVE_WATERMARK")


@pytest.fixture
def fake_replicate():
    """A fake Replicate API running on 127.0.0.1 (a fresh server and state per test)."""
    fake = FakeReplicate().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def replicate_env(monkeypatch, fake_replicate):
    """Token, base URL and engine set for the fake; model overrides cleared. Returns the fake."""
    monkeypatch.setenv("REPLICATE_API_TOKEN", fake_replicate.token)
    monkeypatch.setenv("REPLICATE_BASE_URL", fake_replicate.base_url)
    monkeypatch.setenv("IMGMEND_ENGINE", "replicate")
    for name in MODEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return fake_replicate
