"""lib.health and /api/health: what each configuration needs, reported without secrets."""

import pytest


@pytest.mark.redis
def test_health_ok_with_everything_up(api, redis_env):
    response = api("health").get("/api/health")
    body = response.get_json()
    assert response.status_code == 200 and body["ok"] is True
    assert body["checks"]["redis"] is True and body["checks"]["local_engine"] is True
    assert body["counters"] == "redis"


def test_health_without_redis_reports_it_unused(api):
    body = api("health").get("/api/health").get_json()
    assert body["ok"] is True and body["checks"]["redis"] is None and body["counters"] == "memory"


def test_health_503_names_unreachable_redis(api, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@127.0.0.1:9/0")
    response = api("health").get("/api/health")
    error = response.get_json()["error"]
    assert response.status_code == 503 and error["code"] == "unhealthy"
    assert error["failing"] == ["redis"] and "redis" in error["message"]
    assert error["counters"] == "memory-fallback"  # the quota and limits hold in this instance's memory
    assert b"hunter2" not in response.get_data() and b"test-secret-one" not in response.get_data()


def test_health_503_names_missing_replicate_token(api, monkeypatch):
    monkeypatch.setenv("IMGMEND_ENGINE", "replicate")
    response = api("health").get("/api/health")
    assert response.status_code == 503 and response.get_json()["error"]["failing"] == ["replicate"]


def test_health_503_names_the_local_engine_without_its_background_weights(api, monkeypatch):
    """The rembg package present but no u2net.onnx in it (requirements-models.txt not installed)."""
    from lib.engines.local import weights

    monkeypatch.setattr(weights, "BACKGROUND", ("rembg", "no-such-model.onnx"))
    response = api("health").get("/api/health")
    error = response.get_json()["error"]
    assert response.status_code == 503 and error["failing"] == ["local_engine"]
    assert error["checks"]["local_engine"] is False
