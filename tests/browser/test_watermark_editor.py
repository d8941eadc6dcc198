"""The watermark editor: undo and redo (buttons and keys), [ and ] for the brush size, a box tool, hold
to compare with the original, and another pass on the latest result, in memory."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from tests.support.browser import (COMBO_IDS, COMBOS, answers, download, open_page, record_uploads, run_tool, shot,
                                   upload, uploads)

BOX = (30, 30, 90, 70)  # photo pixels: left, top, right, bottom


def canvas_point(page, x, y):
    box = page.locator("#wm-canvas").bounding_box()
    k = box["width"] / 240
    return box["x"] + x * k, box["y"] + y * k


def pixel(page, x, y):
    return page.evaluate("([x, y]) => Array.from(document.getElementById('wm-canvas').getContext('2d').getImageData(x, y, 1, 1).data)", [x, y])


def mask(page):
    data = page.evaluate("""async () => { const b = new Uint8Array(await (await imgmend.mask.toBlob()).arrayBuffer());
        let s = ''; for (const c of b) s += String.fromCharCode(c); return btoa(s); }""")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("L"))


def hold(page, down):
    """Press or release the hold-to-compare button with the mouse."""
    if down:
        page.locator("#hold").hover()
        page.mouse.down()
    else:
        page.mouse.up()


@pytest.mark.parametrize("lang, size", COMBOS, ids=COMBO_IDS)
def test_box_undo_redo_keys_hold_and_another_pass(visit, photo_file, lang, size):
    v, page, table = open_page(visit, lang, size, "/remove-watermark", before=record_uploads)
    served = answers(v, "remove_watermark")
    upload(page, photo_file)
    page.locator("#wm-canvas").scroll_into_view_if_needed()
    page.check("input[name=brush][value=box]")
    page.mouse.move(*canvas_point(page, BOX[0], BOX[1]))
    page.mouse.down()
    page.mouse.move(*canvas_point(page, BOX[2], BOX[3]), steps=5)
    page.mouse.up()
    m = mask(page)
    assert (m[BOX[1] + 2:BOX[3] - 2, BOX[0] + 2:BOX[2] - 2] == 255).all()
    assert m[:BOX[1] - 2].max() == 0 and m[:, BOX[2] + 2:].max() == 0
    shot(page, f"watermark-box-{lang}-{size}")

    page.click("#undo")
    assert not page.evaluate("imgmend.mask.hasMask()") and page.is_enabled("#redo")
    page.click("#redo")
    assert page.evaluate("imgmend.mask.hasMask()") and page.is_disabled("#redo")
    page.keyboard.press("Control+z")
    assert not page.evaluate("imgmend.mask.hasMask()")
    page.keyboard.press("Control+Shift+z")
    assert page.evaluate("imgmend.mask.hasMask()")
    assert page.evaluate("imgmend.mask.history()") == [1, 0]

    assert page.input_value("#brush-size") == "28" and page.text_content("#brush-size-value") == "28 px"
    page.keyboard.press("]")
    assert page.input_value("#brush-size") == "35" and page.text_content("#brush-size-value") == "35 px"
    page.keyboard.press("[")
    page.keyboard.press("[")
    assert page.input_value("#brush-size") == "22"

    inside = (60, 50)
    tinted = pixel(page, *inside)
    hold(page, True)
    assert page.get_attribute("#hold", "aria-pressed") == "true"
    plain = pixel(page, *inside)
    hold(page, False)
    assert pixel(page, *inside) == tinted and plain != tinted
    assert tinted[0] > plain[0]  # the mask is red over the photo; held, the photo alone
    page.focus("#hold")
    page.keyboard.down(" ")
    assert pixel(page, *inside) == plain
    page.keyboard.up(" ")
    assert pixel(page, *inside) == tinted

    run_tool(page)
    page.click("#pass")  # another pass, on the result just made
    page.locator("#go").wait_for(state="visible")
    assert page.text_content("#selected") == table["remove_watermark.pass.ready"]
    assert not page.evaluate("imgmend.mask.hasMask()") and page.is_disabled("#undo")
    latest = pixel(page, *inside)
    assert latest != plain  # the editor shows the result, the box repainted
    hold(page, True)
    assert pixel(page, *inside) == plain  # held: the photo as first given
    hold(page, False)
    shot(page, f"watermark-second-pass-{lang}-{size}")
    page.check("input[name=brush][value=paint]")
    page.locator("#wm-canvas").click(position={"x": 15, "y": 15})
    run_tool(page)
    first, second = uploads(page, "remove_watermark")
    assert first[0] == "chelsea.jpg" and second == ("chelsea.jpg", served[0])  # the result itself, not re-encoded
    before = page.eval_on_selector("#before", "el => el.src")
    assert before.startswith("blob:")
    name, data = download(page)
    assert name == "chelsea-no-watermark.jpg" and data == served[1]
    assert page.get_attribute("#quota", "data-i18n") == "tool.quota"  # two free images spent, two runs
    assert v.foreign_requests() == [] and v.errors == []
