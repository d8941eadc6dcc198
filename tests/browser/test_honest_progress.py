"""Honest progress: named stages (uploading with the real percentage the browser has sent, processing
with the seconds elapsed, downloading), the free-image meter that warns before the last free image,
and after each result what became of the photo, as true for the engine that ran it."""

import re

import numpy as np
import pytest
from PIL import Image

from tests.support.browser import COMBO_IDS, COMBOS, open_page, run_tool, shot, text, upload
from tests.support.images import encode, photo

WATCH = """() => { window.__seen = [];
  const box = document.getElementById('progress');
  const note = () => window.__seen.push([box.dataset.stage || '', document.getElementById('progress-text').textContent,
    document.getElementById('progress-bar').hasAttribute('value') ? document.getElementById('progress-bar').value : null]);
  new MutationObserver(note).observe(box, {subtree: true, childList: true, characterData: true, attributes: true}); }"""


@pytest.fixture(scope="module")
def upload_photo(tmp_path_factory):
    """A photo of about 300 KB: at 100 KB/s its upload takes three seconds."""
    noisy = np.asarray(photo("astronaut", (640, 480)), dtype=float)
    noisy += np.random.default_rng(5).normal(0, 20, noisy.shape)
    path = tmp_path_factory.mktemp("progress") / "astronaut.jpg"
    path.write_bytes(encode(Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)), "JPEG", quality=95))
    assert 200_000 < path.stat().st_size < 400_000
    return path


@pytest.mark.parametrize("lang, size", COMBOS, ids=COMBO_IDS)
def test_stages_show_the_real_upload_percentage_then_processing_then_download(visit, upload_photo, lang, size):
    v, page, table = open_page(visit, lang, size, "/denoise")
    upload(page, upload_photo)
    cdp = v.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 20, "downloadThroughput": 2_000_000,
                                                  "uploadThroughput": 100_000})
    page.evaluate(WATCH)
    page.click("#go")
    page.locator("#progress[data-stage='upload'] #stages li.current[data-stage='upload']").wait_for()
    page.wait_for_function("() => /[1-9]/.test(document.getElementById('progress-bar').value)")
    shot(page, f"progress-uploading-{lang}-{size}")
    page.locator("#result").wait_for(state="visible", timeout=90_000)
    seen = page.evaluate("window.__seen")
    stages = [s for i, (s, _, _) in enumerate(seen) if s and (i == 0 or seen[i - 1][0] != s)]
    assert stages == ["upload", "process", "download"]
    sending = [pct for s, _, pct in seen if s == "upload" and pct is not None]
    assert any(0 < p < 100 for p in sending) and sending == sorted(sending)  # real, rising percentages
    uploading = re.escape(table["tool.uploading"]).replace(r"\{p\}", r"(\d+)")
    assert any(re.fullmatch(uploading, t) and 0 < int(re.fullmatch(uploading, t).group(1)) < 100 for s, t, _ in seen if s == "upload")
    processing = re.escape(table["tool.processing"]).replace(r"\{s\}", r"\d+")
    assert any(re.fullmatch(processing, t) for s, t, _ in seen if s == "process")
    assert all(pct is None for s, _, pct in seen if s == "process")  # no made-up percentage while it works
    downloading = re.escape(table["tool.downloading"]).replace(r"\{p\}", r"\d+")
    assert any(re.fullmatch(downloading, t) or t == table["tool.downloading.unknown"] for s, t, _ in seen if s == "download")
    assert page.text_content("#gone") == table["tool.gone.local"]  # the local engine: it never left this server
    assert v.errors == []


@pytest.mark.parametrize("lang, size", COMBOS, ids=COMBO_IDS)
def test_the_meter_warns_before_the_last_free_image(visit, photo_file, monkeypatch, lang, size):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "2")
    v, page, table = open_page(visit, lang, size, "/remove-background")
    page.locator("#quota[data-i18n='tool.quota']").wait_for()
    assert page.evaluate("[document.getElementById('quota-meter').value, document.getElementById('quota-meter').max]") == [2, 2]
    upload(page, photo_file)
    assert page.is_hidden("#quota-warn")  # two left: no warning yet
    run_tool(page)
    assert page.text_content("#quota") == text(table, "tool.quota", n=1)
    assert page.evaluate("document.getElementById('quota-meter').value") == 1
    page.click("#again")
    upload(page, photo_file)
    assert page.is_visible("#quota-warn") and page.text_content("#quota-warn") == table["tool.quota.last"]
    shot(page, f"quota-last-warning-{lang}-{size}")
    run_tool(page)
    assert page.text_content("#quota") == text(table, "tool.quota", n=0)
    assert page.evaluate("document.getElementById('quota-meter').value") == 0
    page.click("#again")
    upload(page, photo_file)
    assert page.is_hidden("#quota-warn")
    page.click("#go")
    page.locator("#error").wait_for(state="visible")
    assert page.text_content("#error-text") == table["err.quota_exceeded"]
    assert all("402" in e for e in v.errors)


@pytest.mark.parametrize("lang, size", COMBOS, ids=COMBO_IDS)
def test_on_replicate_the_line_says_the_providers_copies_go_within_an_hour(visit, photo_file, replicate_env, lang, size):
    v, page, table = open_page(visit, lang, size, "/denoise")
    upload(page, photo_file)
    run_tool(page)
    assert page.text_content("#gone") == table["tool.gone.replicate"]
    assert ("一小时" if lang == "zh" else "within an hour") in page.text_content("#gone")
    shot(page, f"result-gone-replicate-{lang}-{size}")
    assert v.foreign_requests() == [] and v.errors == []
