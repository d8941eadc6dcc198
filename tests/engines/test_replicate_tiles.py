"""Denoising in tiles on the fake Replicate (real client, loopback): no model input over the limit,
a whole result without seams, bounded concurrency, every upload deleted, one failing tile stops all."""

import io
import re
import threading
import time

import numpy as np
import pytest
from PIL import Image, ImageFilter

from lib.engines.replicate import TILE_MAX_PIXELS, ReplicateEngine
from lib.errors import UpstreamError, UpstreamUnavailable
from tests.support.images import photo

LIMIT = 20_000  # pixels per tile in these tests (the engine's own is 2.5 MP)


def tiny_engine(**options):
    """An engine with small tiles, a short deadline and quick polls, for photos of a few hundred px."""
    settings = dict(deadline_s=10.0, poll_interval_s=(0.02, 0.1), tile_max_pixels=LIMIT, tile_overlap=32,
                    tile_wait_s=1, tile_poll_s=(0.02, 0.1))
    settings.update(options)
    return ReplicateEngine(**settings)


def uploaded_sizes(fake):
    return [Image.open(io.BytesIO(fake.upload_bytes(f))).size for f in fake.uploaded]


@pytest.fixture
def scunet_limit(replicate_env):
    """SCUNet's memory limit scaled to the test tiles: a whole test photo would run out of memory."""
    replicate_env.set_timing("cszn/scunet", max_mp=LIMIT / 1e6)
    return replicate_env


def test_a_photo_over_the_limit_is_denoised_in_tiles_that_all_fit(scunet_limit):
    fake = scunet_limit
    image = photo("astronaut", (300, 200))
    result = tiny_engine().run("denoise", image)

    assert result.mode == "RGB" and result.size == image.size
    sizes = uploaded_sizes(fake)
    assert len(sizes) == len(fake.calls("create")) >= 4
    assert all(w * h <= LIMIT for w, h in sizes)
    assert {p["status"] for p in fake.predictions()} == {"succeeded"}
    assert fake.live_files() == [] and sorted(fake.deleted) == sorted(fake.uploaded)
    # The fake model is a Gaussian blur: tiled equals whole away from the image's own borders.
    whole = np.asarray(image.filter(ImageFilter.GaussianBlur(1)), np.int16)
    diff = np.abs(np.asarray(result, np.int16) - whole)[4:-4, 4:-4]
    assert diff.max() <= 2 and diff.mean() < 0.05


def test_the_same_photo_sent_whole_runs_out_of_gpu_memory(scunet_limit):
    fake = scunet_limit
    with pytest.raises(UpstreamError) as caught:
        tiny_engine(tile_max_pixels=10**9).run("denoise", photo("astronaut", (300, 200)))
    assert caught.value.code == "upstream_error" and "CUDA" not in caught.value.message
    assert "CUDA out of memory" in fake.predictions()[0]["error"] and fake.live_files() == []


def test_the_default_limit_keeps_every_input_under_3_megapixels(replicate_env):
    fake = replicate_env  # SCUNet's fake fails any input over 3 MP
    image = Image.new("RGB", (2200, 1500), (120, 110, 100))  # 3.3 MP: too big whole
    result = ReplicateEngine(deadline_s=30.0, poll_interval_s=(0.02, 0.1)).run("denoise", image)
    assert result.size == image.size
    sizes = uploaded_sizes(fake)
    assert len(sizes) == 2 and all(w * h <= TILE_MAX_PIXELS < 3_000_000 for w, h in sizes)
    assert fake.live_files() == []


def track_concurrency(fake):
    """Wrap the fake's create (held until the prediction ends) to count predictions in flight."""
    state = {"now": 0, "most": 0}
    lock = threading.Lock()
    original = fake._route_create

    def counting(*args, **kwargs):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                state["now"] -= 1

    fake._route_create = counting
    return state


@pytest.mark.parametrize("given, setting, expected", [(2, None, 2), (None, "3", 3), (None, None, 6)])
def test_tiles_run_concurrently_up_to_the_setting(replicate_env, monkeypatch, given, setting, expected):
    fake = replicate_env
    fake.set_timing("cszn/scunet", base_s=0.3, per_mp_s=0.0, cold_start_s=0.0)
    if setting:
        monkeypatch.setenv("REPLICATE_TILE_CONCURRENCY", setting)
    state = track_concurrency(fake)
    image = photo("astronaut", (400, 300))  # 12 tiles of <= 20,000 px
    started = time.monotonic()
    tiny_engine(tile_concurrency=given).run("denoise", image)
    elapsed = time.monotonic() - started
    tiles = len(fake.calls("create"))
    assert tiles >= 8 and state["most"] == expected
    assert elapsed >= 0.3 * (tiles // expected) * 0.9  # waves of at most `expected` predictions
    assert fake.live_files() == []


def test_every_tile_prediction_carries_the_request_deadline(scunet_limit):
    fake = scunet_limit
    tiny_engine(deadline_s=20.0).run("denoise", photo("astronaut", (300, 200)))
    values = [int(re.fullmatch(r"(\d+)s", c.headers["cancel-after"]).group(1)) for c in fake.calls("create")]
    assert values and all(18 <= v <= 20 for v in values)


def test_a_tile_that_fails_fails_the_request_and_cancels_the_others(scunet_limit):
    fake = scunet_limit
    image = photo("astronaut", (420, 100))  # one row of tiles; the middle ones are the largest
    engine = tiny_engine(tile_max_pixels=18_000)
    sizes = [(r - l) * (b - t) for l, t, r, b in __import__("lib.tiles", fromlist=["plan"]).plan(
        *image.size, 18_000, 32).boxes()]
    assert len(set(sizes)) == 2  # end tiles smaller than middle ones
    # Middle tiles run out of memory after 1 s (by then every tile is created); the end tiles would take 30 s.
    fake.set_timing("cszn/scunet", max_mp=(min(sizes) + 1) / 1e6, base_s=1.0, per_mp_s=30 / (min(sizes) / 1e6),
                    cold_start_s=0.0)
    started = time.monotonic()
    with pytest.raises(UpstreamError) as caught:
        engine.run("denoise", image)
    assert time.monotonic() - started < 5  # not the 30 s the other tiles would take
    assert type(caught.value) is UpstreamError and caught.value.code == "upstream_error"
    statuses = {p["id"]: p["status"] for p in fake.predictions()}
    assert "failed" in statuses.values() and set(statuses.values()) <= {"failed", "canceled"}
    cancelled = [i for i, s in statuses.items() if s == "canceled"]
    assert cancelled and sorted(fake.cancelled) == sorted(cancelled)  # each cancelled once, by us
    assert fake.running() == [] and fake.billed_s() < 5
    assert fake.live_files() == [] and sorted(fake.deleted) == sorted(fake.uploaded)


def test_an_api_error_on_one_tile_is_its_contract_code_and_nothing_is_left(scunet_limit):
    fake = scunet_limit
    fake.set_timing("cszn/scunet", base_s=5.0, per_mp_s=0.0, cold_start_s=0.0)
    fake.fail("create", 500, skip=2, times=1)  # the third create fails; the others would run 5 s
    with pytest.raises(UpstreamUnavailable) as caught:
        tiny_engine(tile_concurrency=3).run("denoise", photo("astronaut", (300, 200)))
    assert caught.value.code == "upstream_unavailable"
    assert fake.running() == [] and {p["status"] for p in fake.predictions()} == {"canceled"}
    assert len(fake.calls("create")) < 6  # tiles not started yet are never sent
    assert fake.live_files() == [] and sorted(fake.deleted) == sorted(fake.uploaded)
