"""The site in a real browser (Debian chromium via Playwright) against the dev server on the local engine."""

import io
from pathlib import Path

import pytest
from PIL import Image

from lib import catalog
from tests.support.browser import ARTIFACTS, EN, PAGES, ZH, run_tool, upload
from tests.support.images import odd_profile
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 860}}


@pytest.mark.parametrize("path, tool, fmt", [
    ("/denoise", "denoise", "JPEG"),
    ("/remove-background", "remove_bg", "PNG"),
    ("/remove-watermark", "remove_watermark", "JPEG"),
])
def test_each_tool_end_to_end(visit, photo_file, path, tool, fmt):
    v = visit()
    page = v.goto(path)
    upload(page, photo_file)
    if tool == "remove_watermark":
        page.click("#detect")
        page.locator("#mask-status[data-i18n='remove_watermark.detected']").wait_for()
        page.locator("#wm-canvas").click(position={"x": 10, "y": 10})  # one brush dab on the mask
        assert page.is_enabled("#undo")
        (ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "screenshots" / "flow-watermark-mask.png"), full_page=True)
    assert page.evaluate("!!(imgmend.mask && imgmend.mask.hasMask())") == (tool == "remove_watermark")
    run_tool(page)
    assert page.locator("#slider").is_visible() and page.locator("#after").get_attribute("src").startswith("blob:")
    after_clip = "document.querySelector('.pane-after').style.clipPath"
    assert page.evaluate(after_clip) == "inset(0px 0px 0px 50%)"
    page.fill("#slider", "20")
    assert page.evaluate(after_clip) == "inset(0px 0px 0px 20%)"
    assert page.evaluate("document.querySelector('.pane-before').style.clipPath") == "inset(0px 80% 0px 0px)"
    page.screenshot(path=str(ARTIFACTS / "screenshots" / f"flow-result-{tool}.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename == f"chelsea-{catalog.get(tool).suffix}.{fmt.lower().replace('jpeg', 'jpg')}"
    img = Image.open(io.BytesIO(Path(download.path()).read_bytes()))
    assert img.format == fmt and img.size == (240, 180)
    if tool == "remove_bg":
        assert img.mode == "RGBA" and page.locator("#compare.checker").count() == 1
    assert page.text_content("#quota").strip().startswith("Free images left today:")
    page.click("#again")
    assert page.is_visible("#choose") and not page.is_visible("#result")
    assert v.foreign_requests() == []
    assert v.errors == []


def test_background_colour_option(visit, photo_file):
    page = visit().goto("/remove-background")
    upload(page, photo_file)
    page.check("input[name=background][value='#ffffff']")
    run_tool(page)
    with page.expect_download() as info:
        page.click("#download")
    img = Image.open(info.value.path())
    assert img.format == "JPEG" and img.mode == "RGB"


def test_big_photo_is_downscaled_in_the_browser(visit, tmp_path):
    big = tmp_path / "big.png"  # noisy PNG far over 4 MB and, at 4000x3000, a 12 MP "phone photo"
    import numpy as np
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (3000, 4000, 3), dtype=np.uint8)).save(
        big, compress_level=1, icc_profile=odd_profile())
    assert big.stat().st_size > 4 * 1024 * 1024
    page = visit().goto("/denoise")
    upload(page, big)
    assert page.get_attribute("#selected", "data-i18n") == "tool.resized"
    run_tool(page)
    with page.expect_download() as info:
        page.click("#download")
    assert Image.open(info.value.path()).size[0] < 4000
    assert Image.open(info.value.path()).info.get("icc_profile") == odd_profile()  # kept through the resize


def test_language_switch_survives_reload_and_storage_is_minimal(visit):
    v = visit()
    page = v.goto("/")
    assert page.get_attribute("html", "lang") == "en"
    page.click("#lang-switch")
    page.locator("html[lang='zh-CN']").wait_for(state="attached")  # (wait_for_function needs eval: CSP)
    assert page.text_content("h1") == ZH["home.h1"]
    page.reload()
    page.evaluate("window.imgmend.ready")
    assert page.get_attribute("html", "lang") == "zh-CN" and page.text_content("h1") == ZH["home.h1"]
    assert page.title() == ZH["home.title"]
    assert page.evaluate("Object.keys(localStorage)") == ["imgmend.lang"]
    assert page.evaluate("Object.keys(sessionStorage)") == []
    assert v.context.cookies() == []
    page.click("#lang-switch")
    page.locator("html[lang='en']").wait_for(state="attached")
    assert page.text_content("h1") == EN["home.h1"]


def test_first_visit_follows_the_browser_language(visit):
    page = visit(locale="zh-CN").goto("/denoise")
    assert page.get_attribute("html", "lang") == "zh-CN" and page.text_content("h1") == ZH["denoise.name"]


def test_unsupported_file_shows_the_translated_message(visit, tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photo")
    page = visit(locale="zh-CN").goto("/denoise")
    page.set_input_files("#file", str(text))
    page.locator("#error").wait_for(state="visible")
    assert page.text_content("#error-text") == ZH["err.unsupported_format"]


def test_exhausted_quota_offers_pro(visit, photo_file, monkeypatch):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "1")
    v = visit()
    page = v.goto("/denoise")
    upload(page, photo_file)
    run_tool(page)
    assert page.text_content("#quota") == "Free images left today: 0"
    page.click("#again")
    upload(page, photo_file)
    page.click("#go")
    page.locator("#error").wait_for(state="visible")
    assert page.text_content("#error-text") == EN["err.quota_exceeded"]
    link = page.locator("#error-next a")
    assert link.get_attribute("href") == "/pro" and link.text_content() == EN["next.pro.link"]
    link.click()
    page.wait_for_url("**/pro")


def test_bad_pro_token_is_sent_then_cleared(visit, photo_file):
    v = visit()
    page = v.goto("/denoise")
    page.evaluate("""sessionStorage.setItem('imgmend.pro', JSON.stringify({token: 'forged', key: 'cus_x'}))""")
    sent = []
    page.on("request", lambda r: sent.append(r.headers.get("authorization")) if r.url.endswith("/api/denoise") else None)
    upload(page, photo_file)
    page.click("#go")
    page.locator("#error").wait_for(state="visible")
    assert sent == ["Bearer forged"]
    assert page.text_content("#error-text") == EN["err.invalid_token"]
    assert page.evaluate("Object.keys(sessionStorage)") == []


def test_pro_page_shows_price_and_cancel_works(visit, photo_file, monkeypatch):
    monkeypatch.setenv("PRO_DISPLAY_PRICE", "$4.99 / month")
    page = visit().goto("/pro")
    page.locator("#price[data-i18n='pro.price']").wait_for()
    assert page.text_content("#price") == "Price: $4.99 / month"


def test_every_page_passes_axe_in_both_languages_with_screenshots(browser, site, axe_path):
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    problems = []
    for lang, locale in (("en", "en-US"), ("zh", "zh-CN")):
        for size, viewport in SIZES.items():
            context = browser.new_context(locale=locale, viewport=viewport, bypass_csp=True)  # axe is injected inline
            page = context.new_page()
            for path in PAGES:
                page.goto(site + path)
                page.evaluate("window.imgmend.ready")
                assert page.get_attribute("html", "lang") == ("zh-CN" if lang == "zh" else "en")
                name = (path.strip("/") or "home")
                page.screenshot(path=str(shots / f"{name}-{lang}-{size}.png"), full_page=True)
                page.add_script_tag(path=axe_path)  # on the phone too: the pages' layout differs there
                result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
                for violation in result["violations"]:
                    if violation["impact"] in ("serious", "critical"):
                        problems.append((path, lang, size, violation["id"], [n["target"] for n in violation["nodes"]][:3]))
            context.close()
    assert problems == []
