"""Shared fixtures: a clean environment per test, WSGI clients for the api modules, photos, Redis."""

import importlib
import shutil

import pytest
from werkzeug.test import Client

from lib import config, engines, quota
from tests.support.env import need
from tests.support.fake_replicate import FakeReplicate
from tests.support.images import encode, photo
from tests.support.stores import start_redis

@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Every test starts on the local engine with in-memory counters and generous burst limits."""
    for name in config.SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMGMEND_ENGINE", "local")
    monkeypatch.setenv("IMGMEND_SECRET", "test-secret-one")
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "1000")
    monkeypatch.setenv("FREE_DAILY_LIMIT", "1000")
    quota.reset()
    engines.forget("replicate")  # its client carries env settings; the local one is reused
    yield
    quota.reset()


@pytest.fixture
def api():
    """api('denoise') -> a werkzeug test Client for api/denoise.py's WSGI app."""

    def make(name):
        module = importlib.import_module(f"api.{name}")
        return Client(module.app)

    return make


@pytest.fixture(scope="session")
def small_jpeg():
    """A 160x120 real photo as JPEG bytes."""
    return encode(photo("chelsea", (160, 120)), "JPEG", quality=92)


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server on a loopback port for the session; yields its URL."""
    if not shutil.which("redis-server"):
        need("redis-server is not installed (apt-get install redis-server)")
    proc, client, port = start_redis()
    yield {"url": f"redis://127.0.0.1:{port}/0", "client": client, "port": port}
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_env(redis_server, monkeypatch):
    """Point the app at the real Redis, emptied for this test."""
    redis_server["client"].flushall()
    monkeypatch.setenv("REDIS_URL", redis_server["url"])
    quota.reset()
    return redis_server


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
    """Token, base URL and engine set for the fake (model overrides stay cleared). Returns the fake."""
    monkeypatch.setenv("REPLICATE_API_TOKEN", fake_replicate.token)
    monkeypatch.setenv("REPLICATE_BASE_URL", fake_replicate.base_url)
    monkeypatch.setenv("IMGMEND_ENGINE", "replicate")
    return fake_replicate
