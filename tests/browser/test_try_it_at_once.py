"""Try it at once: the home page takes a photo dropped anywhere, picked or pasted and asks which tool;
the three sample photos run without a photo of one's own; each tool shows a before/after example.
Both languages, phone and desktop, on the dev server's local engine."""

import io

import pytest
from PIL import Image

from lib import catalog
from tests.support.browser import (COMBO_IDS, COMBOS, PUBLIC, download, drop_files, formats_label, open_page,
                                   paste_file, run_tool, server_formats, shot, text)
from tests.support.images import encode, photo

CHELSEA = encode(photo("chelsea", (240, 180)), "JPEG", quality=90)
# Layout shifts after the string table is applied (a Chinese page first shows the English fallback).
SHIFTS = """window.__shift = 0; let since = Infinity;
  document.addEventListener('imgmend:lang', () => requestAnimationFrame(() => requestAnimationFrame(() => {
    if (since === Infinity) since = performance.now(); })), { once: true });
  new PerformanceObserver((list) => { for (const e of list.getEntries()) if (e.startTime > since) window.__shift += e.value; })
    .observe({type: 'layout-shift', buffered: true});"""


def assert_private(v, page):
    assert v.foreign_requests() == []
    assert page.evaluate("[Object.keys(localStorage).filter((k) => k !== 'imgmend.lang'), Object.keys(sessionStorage)]") == [[], []]


@pytest.mark.parametrize("lang, size", COMBOS, ids=COMBO_IDS)
def test_a_photo_dropped_anywhere_on_the_home_page_goes_to_the_chosen_tool(visit, lang, size):
    v, page, table = open_page(visit, lang, size, "/", before=lambda v: v.context.add_init_script(SHIFTS))
    assert page.is_visible("#start") and page.is_hidden("#which")
    assert page.evaluate("window.__shift") < 0.01  # the formats line from /api/config moves nothing
    assert page.text_content("#formats") == text(table, "tool.formats", formats=formats_label(lang, server_formats()))
    drop_files(page, "footer.site", [("chelsea.jpg", CHELSEA, "image/jpeg")])  # anywhere: here the footer
    page.locator("#which").wait_for(state="visible")
    assert page.is_hidden("#start")
    assert page.text_content("#which-name") == text(table, "tool.selected", name="chelsea.jpg")
    assert page.evaluate("document.getElementById('which-photo').src").startswith("blob:")
    assert page.evaluate("document.activeElement.dataset.page") == "/denoise"  # the first tool, focused
    shot(page, f"home-which-{lang}-{size}")
    page.click("#which button[data-page='/remove-background']")
    page.wait_for_url("**/remove-background")
    page.locator("#go").wait_for(state="visible")
    assert page.text_content("h1") == table["remove_bg.name"] and page.title() == table["remove_bg.title"]
    assert page.get_attribute("header.site nav a[href='/remove-background']", "aria-current") == "page"
    assert page.get_attribute("header.site nav a[href='/']", "aria-current") is None
    assert page.text_content("#selected") == text(table, "tool.selected", name="chelsea.jpg")
    run_tool(page)
    name, data = download(page)
    assert name == "chelsea-no-background.png" and Image.open(io.BytesIO(data)).size == (240, 180)
    assert_private(v, page)
    assert v.errors == []


@pytest.mark.parametrize("lang, size", COMBOS, ids=COMBO_IDS)
def test_a_pasted_or_picked_photo_and_a_wrong_file(visit, tmp_path, lang, size):
    v, page, table = open_page(visit, lang, size, "/")
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    page.set_input_files("#home-file", str(notes))
    page.locator("#home-error").wait_for(state="visible")
    assert page.text_content("#home-error-text") == table["err.unsupported_format"]
    assert "WebP" in page.text_content("#home-error-next") and page.is_visible("#start")
    paste_file(page, "pasted.png", encode(photo("coffee", (200, 150)), "PNG"), "image/png")
    page.locator("#which").wait_for(state="visible")
    assert page.is_hidden("#home-error")
    assert page.text_content("#which-name") == text(table, "tool.selected", name="pasted.png")
    page.click("#which-again")  # another photo after all: picked this time
    assert page.is_visible("#start") and page.evaluate("document.activeElement.id") == "home-choose"
    picked = tmp_path / "chelsea.jpg"
    picked.write_bytes(CHELSEA)
    page.set_input_files("#home-file", str(picked))
    page.locator("#which").wait_for(state="visible")
    page.click("#which button[data-page='/denoise']")
    page.wait_for_url("**/denoise")
    run_tool(page)
    assert page.text_content("#result-h") == table["tool.result"]
    shot(page, f"home-to-denoise-{lang}-{size}")
    page.go_back()  # the home page again, as a page of its own
    page.wait_for_url(v.site + "/")
    page.locator("#start").wait_for(state="visible")
    assert_private(v, page)
    assert v.errors == []


@pytest.mark.parametrize("lang, size", COMBOS, ids=COMBO_IDS)
def test_each_tool_shows_its_example_and_runs_its_sample(visit, lang, size):
    v, page, table = open_page(visit, lang, size, "/")
    for tool in catalog.TOOLS:
        for side in ("before", "after"):
            img = page.locator(f".card-{tool.id} img[src='/samples/{tool.id}-{side}.webp']")
            img.scroll_into_view_if_needed()
            img.evaluate("(el) => el.decode()")
            assert img.evaluate("(el) => el.naturalWidth") == 320
            assert img.get_attribute("alt") == table[f"home.example.{side}"]
    shot(page, f"home-examples-{lang}-{size}")
    page.click(".card-remove_watermark button[data-sample]")
    page.wait_for_url("**/remove-watermark")
    page.locator("#go").wait_for(state="visible")
    assert page.text_content("#selected") == text(table, "tool.selected", name="sample.jpg")
    run_tool(page)  # nothing marked: the server finds the sample's mark itself
    name, data = download(page)
    assert name == "sample-no-watermark.jpg"
    assert Image.open(io.BytesIO(data)).size == Image.open(PUBLIC / "samples" / "remove_watermark.jpg").size
    # A tool page offers its own sample too.
    page.goto(v.site + "/denoise")
    page.evaluate("window.imgmend.ready")
    page.click("#sample")
    page.locator("#go").wait_for(state="visible")
    run_tool(page)
    shot(page, f"sample-denoise-{lang}-{size}")
    assert_private(v, page)
    assert v.errors == []
