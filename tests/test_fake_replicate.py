"""The fake Replicate itself: its objects carry every field of the recorded API exchanges, and its
models behave as the real ones are documented to (latency by pixels, cold start, SCUNet's memory
limit, Cancel-After, the eraser's mask_type, deployments). Raw HTTP here, so the fake is checked
apart from the replicate client and the engine."""

import io
import time

import httpx
import pytest
from PIL import Image

from tests.support import recorded_replicate as recorded
from tests.support.fake_replicate import OOM_ERROR, FakeReplicate, Timing, parse_duration

SCUNET = "df9a3c1dbc6c1f7f4c2d244f68dffa2699a169cf5e701e0d6a009bf6ff507f26"


@pytest.fixture
def fake():
    server = FakeReplicate().start()
    server.versions[SCUNET] = "cszn/scunet"
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http(fake):
    with httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {fake.token}"},
                      timeout=30) as client:
        yield client


def png(size=(64, 48)):
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 120, 150)).save(buf, "PNG")
    return buf.getvalue()


def upload(http, size=(64, 48)):
    answer = http.post("/v1/files", files={"content": ("image.png", png(size), "image/png")})
    assert answer.status_code == 201
    return answer.json()


def create(http, path="/v1/models/bria/remove-background/predictions", size=(64, 48), headers=None, **body):
    image = upload(http, size)["urls"]["get"]
    return http.post(path, json={"input": {"image": image}, **body}, headers=headers or {})


def wait_until(fake, prediction_id, statuses, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        (found,) = [p for p in fake.predictions() if p["id"] == prediction_id]
        if found["status"] in statuses:
            return found
        time.sleep(0.01)
    raise AssertionError(f"{prediction_id} never reached {statuses}: {found['status']}")


# --- the fake's objects carry every recorded field ---------------------------------------------------


def recorded_keys(method, pattern, where=lambda body: True):
    bodies = [b for b in recorded.bodies(method, pattern) if where(b) and "title" not in b]  # errors apart
    assert bodies, (method, pattern)
    return {k for b in bodies for k in b}, bodies


def assert_superset(mine, method, pattern, where=lambda body: True):
    keys, bodies = recorded_keys(method, pattern, where)
    assert keys <= set(mine), sorted(keys - set(mine))
    for nested in ("urls", "metrics", "checksums"):
        shown = {k for b in bodies if isinstance(b.get(nested), dict) for k in b[nested]}
        if shown:
            assert shown <= set(mine.get(nested) or {}), (nested, sorted(shown - set(mine.get(nested) or {})))


def test_file_objects_carry_every_recorded_field(fake, http):
    created = upload(http)
    assert_superset(created, "POST", r"/v1/files")
    assert_superset(http.get(f"/v1/files/{created['id']}").json(), "GET", r"/v1/files/[\w-]+")
    listing = http.get("/v1/files").json()
    assert_superset(listing, "GET", r"/v1/files")
    assert_superset(listing["results"][0], "POST", r"/v1/files")
    deleted = http.delete(f"/v1/files/{created['id']}")
    (recorded_delete,) = [s for _, m, p, s, _ in recorded.exchanges() if m == "DELETE"]
    assert deleted.status_code == recorded_delete == 204 and deleted.content == b""
    assert http.get(f"/v1/files/{created['id']}").status_code == 404


def test_prediction_objects_carry_every_recorded_field(fake, http):
    fake.script.never_finish = True
    started = create(http).json()  # no Prefer: wait, like the recorded creates
    assert_superset(started, "POST", r"/v1/(models/[\w.-]+/[\w.-]+/)?predictions", lambda b: "data_removed" not in b)
    assert started["status"] in ("starting", "processing")
    waited = create(http, headers={"Prefer": "wait=1"})
    assert waited.headers["Preference-Applied"] == "wait=1"
    assert_superset(waited.json(), "POST", r"/v1/models/[\w.-]+/[\w.-]+/predictions", lambda b: "data_removed" in b)
    cancelled = http.post(f"/v1/predictions/{started['id']}/cancel").json()
    assert cancelled["status"] == "canceled"
    assert_superset(cancelled, "POST", r"/v1/predictions/\w+/cancel")

    fake.script.never_finish = False
    done = create(http, headers={"Prefer": "wait=5"}).json()
    assert done["status"] == "succeeded"
    got = http.get(f"/v1/predictions/{done['id']}").json()
    assert_superset(got, "GET", r"/v1/predictions/\w+")
    assert got["metrics"]["predict_time"] > 0 and got["output"].startswith(fake.base_url)


def test_error_bodies_carry_every_recorded_field(fake):
    with httpx.Client(base_url=fake.base_url, headers={"Authorization": "Bearer r8_wrong"}) as client:
        answer = client.post("/v1/predictions", json={"version": SCUNET, "input": {}})
    (recorded_401,) = [b for _, m, p, s, b in recorded.exchanges() if s == 401]
    assert answer.status_code == 401 and set(recorded_401) <= set(answer.json())
    assert answer.headers["content-type"].startswith("application/problem+json")


# --- time: pixels, cold start, the wait window -----------------------------------------------------------


def test_latency_grows_with_pixels_and_a_cold_model_boots_once(fake, http):
    fake.timings["acme/slow"] = Timing(cold_start_s=0.4, base_s=0.05, per_mp_s=0.5)
    path = "/v1/models/acme/slow/predictions"
    first = create(http, path, size=(100, 100), headers={"Prefer": "wait=10"}).json()
    small = create(http, path, size=(100, 100), headers={"Prefer": "wait=10"}).json()
    large = create(http, path, size=(1000, 1000), headers={"Prefer": "wait=10"}).json()
    total = {p["id"]: p["metrics"]["total_time"] for p in fake.predictions()}
    predict = {p["id"]: p["metrics"]["predict_time"] for p in fake.predictions()}
    assert total[first["id"]] >= 0.45  # cold: boot + run
    assert total[small["id"]] < 0.3  # warm now: no boot
    assert predict[large["id"]] == pytest.approx(0.05 + 0.5 * 1.0, abs=0.05)  # 1 MP
    assert predict[small["id"]] == pytest.approx(0.05 + 0.5 * 0.01, abs=0.05)


def test_predictions_created_during_a_boot_wait_for_that_boot_only(fake, http):
    fake.timings["acme/slow"] = Timing(cold_start_s=0.5, base_s=0.05)
    path = "/v1/models/acme/slow/predictions"
    ids = [create(http, path).json()["id"] for _ in range(3)]
    assert {p["status"] for p in fake.predictions()} == {"starting"}
    for prediction_id in ids:
        wait_until(fake, prediction_id, {"succeeded"}, timeout=3)
    assert max(p["metrics"]["total_time"] for p in fake.predictions()) < 1.0  # one boot, not three


def test_prefer_wait_holds_up_to_the_window_then_answers_processing(fake, http):
    fake.timings["acme/slow"] = Timing(base_s=2.0)
    started = time.monotonic()
    answer = create(http, "/v1/models/acme/slow/predictions", headers={"Prefer": "wait=1"}).json()
    assert 0.9 <= time.monotonic() - started < 1.8
    assert answer["status"] == "processing" and answer["output"] is None
    fake.wait_cap_s = 0
    assert create(http, "/v1/models/acme/slow/predictions", headers={"Prefer": "wait=5"}).json()["status"] != "succeeded"


# --- SCUNet's memory ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size, status", [((1732, 1732), "succeeded"), ((1733, 1733), "failed")])
def test_scunet_runs_out_of_gpu_memory_over_3_megapixels(fake, http, size, status):
    fake.set_timing("cszn/scunet", per_mp_s=0.0)
    answer = create(http, "/v1/predictions", size=size, headers={"Prefer": "wait=30"}, version=SCUNET).json()
    assert answer["status"] == status
    if status == "failed":
        assert answer["error"] == OOM_ERROR and "CUDA out of memory" in answer["logs"] and answer["output"] is None
    else:
        assert answer["output"]["denoised_image"].startswith(fake.base_url)


# --- Cancel-After ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [("1m", 60), ("45s", 45), ("1h30m45s", 5445), ("1.5s", 1.5),
                                           ("250ms", 0.25), ("", None), ("45", None), ("soon", None), ("-1s", None)])
def test_cancel_after_is_a_go_style_duration(text, seconds):
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_cancel_after_before_the_start_aborts_without_billing(fake, http):
    fake.timings["acme/slow"] = Timing(cold_start_s=5.0, base_s=1.0)
    created = create(http, "/v1/models/acme/slow/predictions", headers={"Cancel-After": "300ms"}).json()
    ended = wait_until(fake, created["id"], {"aborted", "canceled", "succeeded"}, timeout=3)
    assert ended["status"] == "aborted" and "started_at" not in ended
    assert fake.billed_s(created["id"]) == 0 and fake.running() == [] and fake.cancelled == []


def test_cancel_after_while_running_cancels_and_bills_up_to_then(fake, http):
    fake.timings["acme/slow"] = Timing(base_s=5.0)
    created = create(http, "/v1/models/acme/slow/predictions", headers={"Cancel-After": "400ms"}).json()
    ended = wait_until(fake, created["id"], {"aborted", "canceled", "succeeded"}, timeout=3)
    assert ended["status"] == "canceled" and ended["output"] is None
    assert fake.billed_s(created["id"]) == pytest.approx(0.4, abs=0.05)
    assert fake.cancelled == []  # nobody asked: the deadline did it


def test_cancel_after_ends_a_held_prefer_wait_request(fake, http):
    fake.script.never_finish = True
    started = time.monotonic()
    answer = create(http, headers={"Prefer": "wait=10", "Cancel-After": "500ms"}).json()
    assert time.monotonic() - started < 2 and answer["status"] == "canceled"


def test_a_malformed_cancel_after_is_refused(fake, http):
    answer = create(http, headers={"Cancel-After": "soon"})
    assert answer.status_code == 400 and fake.predictions() == []


def test_an_explicit_cancel_stops_billing(fake, http):
    fake.timings["acme/slow"] = Timing(base_s=5.0)
    created = create(http, "/v1/models/acme/slow/predictions").json()
    time.sleep(0.2)
    assert http.post(f"/v1/predictions/{created['id']}/cancel").json()["status"] == "canceled"
    assert fake.billed_s(created["id"]) == pytest.approx(0.2, abs=0.1) and fake.cancelled == [created["id"]]


# --- the eraser's mask_type and deployments ----------------------------------------------------------------


@pytest.mark.parametrize("mask_type, status", [("manual", 201), ("automatic", 201), ("auto", 422), (None, 201)])
def test_the_eraser_takes_only_its_mask_types(fake, http, mask_type, status):
    image, mask = upload(http)["urls"]["get"], upload(http)["urls"]["get"]
    inputs = {"image": image, "mask": mask, **({"mask_type": mask_type} if mask_type else {})}
    answer = http.post("/v1/models/bria/eraser/predictions", json={"input": inputs}, headers={"Prefer": "wait=5"})
    assert answer.status_code == status
    if status == 422:
        assert answer.json()["invalid_fields"][0]["field"] == "input.mask_type" and fake.predictions() == []
    else:
        assert fake.predictions()[0]["input"].get("mask_type") == mask_type


def test_a_deployment_runs_its_model_and_an_unknown_one_is_404(fake, http):
    fake.deployments["acme/imgmend-denoise"] = "cszn/scunet"
    answer = create(http, "/v1/deployments/acme/imgmend-denoise/predictions", headers={"Prefer": "wait=5"})
    assert answer.status_code == 201
    assert answer.json()["model"] == "cszn/scunet" and answer.json()["output"]["denoised_image"]
    assert create(http, "/v1/deployments/acme/nothing/predictions").status_code == 404
