"""When detection finds no watermark the site says so in the user's language and opens the brush on
the photo (real browser, dev server, local engine: a plain photo really is answered 422)."""

import pytest
from PIL import Image

from tests.support.browser import ARTIFACTS, EN, ZH, run_tool, upload
from tests.support.images import encode


@pytest.fixture(scope="module")
def plain_photo(tmp_path_factory):
    """A smooth photo with nothing that looks like a watermark: detection finds nothing in it."""
    path = tmp_path_factory.mktemp("plain") / "sky.jpg"
    sky = Image.linear_gradient("L").resize((240, 180)).convert("RGB")
    path.write_bytes(encode(Image.merge("RGB", (sky.getchannel(0).point(lambda v: 60 + v // 3),
                                               sky.getchannel(1).point(lambda v: 90 + v // 3),
                                               sky.getchannel(2).point(lambda v: 150 + v // 3))), "JPEG"))
    return path


@pytest.mark.parametrize("locale, table", [("en-US", EN), ("zh-CN", ZH)], ids=["en", "zh"])
def test_no_watermark_found_opens_the_brush_with_the_message(visit, plain_photo, locale, table):
    v = visit(locale=locale)
    page = v.goto("/remove-watermark")
    upload(page, plain_photo)
    page.check("input[name=brush][value=erase]")  # the brush is not what is selected now
    sent = []
    page.on("response", lambda r: sent.append(r.status) if r.url.endswith("/api/remove_watermark") else None)
    page.click("#go")  # nothing marked: the server detects, finds nothing, answers 422
    page.locator("#error").wait_for(state="visible")

    assert sent == [422]
    assert page.text_content("#error-text") == table["err.no_watermark_found"]
    assert page.text_content("#error-next") == table["next.no_watermark_found"]
    # The editor is open on the same photo, the brush in paint mode and focused.
    assert page.is_visible("#options") and page.is_visible("#wm-canvas") and page.is_visible("#go")
    assert not page.is_visible("#pick") and not page.is_visible("#progress")
    assert page.evaluate("[document.getElementById('wm-canvas').width, document.getElementById('wm-canvas').height]") == [240, 180]
    assert page.is_checked("input[name=brush][value=paint]")
    assert page.evaluate("document.activeElement.name + ':' + document.activeElement.value") == "brush:paint"
    assert page.text_content("#mask-status") == table["remove_watermark.paint.now"]
    (ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "screenshots" / f"no-watermark-found-{locale[:2]}.png"), full_page=True)

    # Painting where the watermark is and trying again erases it.
    page.locator("#wm-canvas").click(position={"x": 30, "y": 30})
    assert page.evaluate("imgmend.mask.hasMask()")
    run_tool(page)
    assert sent == [422, 200] and page.is_hidden("#error")
    assert v.foreign_requests() == []
    # Chromium logs every non-2xx answer to the console; the 422 is the only one, no script error.
    assert [e for e in v.errors if "status of 422" not in e] == [] and len(v.errors) == 1
