"""A busy self-hosted server in Chromium: the page says it is busy, counts down, retries by itself, succeeds."""

import threading

import pytest

from lib import engines
from lib.engines.local.admission import MEAN_S, Admission
from tests.support.browser import ARTIFACTS, EN, ZH, upload


@pytest.mark.parametrize("lang, table", [("en", EN), ("zh", ZH)])
def test_busy_is_waited_out_and_retried(visit, photo_file, lang, table):
    engine = engines.get_engine("local")  # the engine the site's dev server runs in this process
    gate, before = Admission(jobs=1, queue=0, max_wait_s=5), engine.admission
    gate._n[MEAN_S] = 2.0  # jobs look like 2 s here, so Retry-After is 2 s
    held, release = threading.Event(), threading.Event()

    def other_photo():
        with gate.slot():
            held.set()
            release.wait(20)

    engine.admission = gate
    try:
        holder = threading.Thread(target=other_photo, daemon=True)
        holder.start()
        assert held.wait(5)
        v = visit(locale="zh-CN" if lang == "zh" else "en-US")
        page = v.goto("/denoise")
        upload(page, photo_file)
        page.click("#go")
        busy = table["tool.busy"].split("{s}")[0]
        page.wait_for_function("t => document.getElementById('progress-text').textContent.startsWith(t)", arg=busy)
        (ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "screenshots" / f"flow-busy-{lang}.png"), full_page=True)
        release.set()  # the other photo is done: the page's next try gets the slot
        page.locator("#result").wait_for(state="visible", timeout=60_000)
        assert page.locator("#error").is_hidden()
        assert v.errors == [] or all("503" in e for e in v.errors)  # the 503 itself may be logged
    finally:
        release.set()
        engine.admission = before
