"""Deadlines on Replicate's side (real client, loopback fake): every create carries Cancel-After set
to what is left of the request's budget, so a run this function gave up on, never got an id for, or
could not cancel because it was killed, ends on Replicate by itself, aborted (not billed) or
canceled (billed only up to the deadline)."""

import io
import re
import time

import pytest
from PIL import Image

from lib import config, engines
from lib.engines.replicate import ReplicateEngine
from lib.errors import UpstreamTimeout
from tests.support.images import encode, photo


def cancel_after_s(call):
    match = re.fullmatch(r"(\d+)s", call.headers.get("cancel-after", ""))
    assert match, call.headers
    return int(match.group(1))


def wait_for_end(fake, timeout=5):
    end = time.monotonic() + timeout
    while fake.running() and time.monotonic() < end:
        time.sleep(0.02)
    return fake.predictions()


@pytest.mark.parametrize("tool", ["denoise", "remove_bg", "remove_watermark"])
def test_every_create_carries_what_is_left_of_the_budget(replicate_env, tool):
    fake = replicate_env
    engine = ReplicateEngine(deadline_s=20.0)
    options = {"started": time.monotonic() - 5.0}  # the request began 5 s ago (upload, decode)
    if tool == "remove_watermark":
        options["mask"] = Image.new("L", (64, 48), 255)
    engine.run(tool, photo("coffee", (64, 48)), options)
    (create,) = fake.calls("create")
    assert 14 <= cancel_after_s(create) <= 15
    # Only creates carry it: uploads, deletes and downloads do not.
    assert all("cancel-after" not in c.headers for c in fake.calls() if c.route != "create")


def test_the_default_budget_stays_below_maxduration(api, replicate_env):
    with engines.use(ReplicateEngine()):
        response = api("denoise").post(data={"image": (io.BytesIO(encode(photo("coffee", (64, 48)))), "p.jpg")},
                                       content_type="multipart/form-data")
    assert response.status_code == 200
    value = cancel_after_s(replicate_env.calls("create")[0])
    assert config.REPLICATE_DEADLINE_S - 2 <= value <= config.REPLICATE_DEADLINE_S < 90  # vercel.json maxDuration


def test_replicate_cancels_a_run_we_gave_up_on_without_being_asked(replicate_env, monkeypatch):
    """A function killed at maxDuration cannot cancel: the deadline it sent stops the run anyway."""
    fake = replicate_env
    fake.set_timing("bria/remove-background", base_s=30.0)
    engine = ReplicateEngine(deadline_s=1.5, poll_interval_s=(0.05, 0.1))
    monkeypatch.setattr(engine, "_cancel", lambda client, prediction_id: None)  # killed: no cancel is sent
    with pytest.raises(UpstreamTimeout):
        engine.run("remove_bg", photo("coffee", (64, 48)))
    (prediction,) = wait_for_end(fake)
    assert prediction["status"] == "canceled" and fake.cancelled == []  # Replicate did it
    assert fake.billed_s() <= 2.1  # the budget, not the 30 s the model would have run


def test_a_run_that_never_started_ends_aborted_and_unbilled(replicate_env, monkeypatch):
    fake = replicate_env
    fake.set_timing("cszn/scunet", cold_start_s=30.0)  # a cold community model, booting
    engine = ReplicateEngine(deadline_s=1.5, poll_interval_s=(0.05, 0.1))
    monkeypatch.setattr(engine, "_cancel", lambda client, prediction_id: None)
    with pytest.raises(UpstreamTimeout):
        engine.run("denoise", photo("coffee", (64, 48)))
    (prediction,) = wait_for_end(fake)
    assert prediction["status"] == "aborted" and fake.billed_s() == 0


def test_a_create_that_times_out_leaves_no_billing_run(replicate_env):
    """The create's answer never comes in time: no id to cancel, so only Cancel-After can stop it."""
    fake = replicate_env
    fake.script.create_delay_s = 4.0  # the API created it, its answer is late
    fake.set_timing("bria/remove-background", base_s=30.0)
    engine = ReplicateEngine(deadline_s=1.8, poll_interval_s=(0.05, 0.1))
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout) as caught:
        engine.run("remove_bg", photo("coffee", (64, 48)))
    assert time.monotonic() - started < 3 and caught.value.code == "upstream_timeout"
    assert fake.cancelled == []  # the engine never learnt the id
    (prediction,) = wait_for_end(fake)
    assert prediction["status"] == "canceled" and fake.running() == []
    assert fake.billed_s() <= 2.1 and fake.live_files() == []


def test_canceled_at_our_own_deadline_is_a_timeout_and_an_early_cancel_an_error(replicate_env):
    fake = replicate_env
    fake.script.never_finish = True
    with pytest.raises(UpstreamTimeout):
        ReplicateEngine(deadline_s=1.5, poll_interval_s=(0.05, 0.1)).run("remove_bg", photo("coffee", (64, 48)))
    fake.script.never_finish = False
    fake.script.outcome = "canceled"  # canceled by someone else, long before the deadline
    with pytest.raises(Exception) as caught:
        ReplicateEngine(deadline_s=10.0).run("remove_bg", photo("coffee", (64, 48)))
    assert caught.value.code == "upstream_error"
