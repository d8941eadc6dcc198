"""Chaining: a result goes straight into another tool, in memory (the page swaps to the other tool and
keeps the blob; nothing is stored), as the very bytes the server sent, or losslessly when edited here."""

import io

import numpy as np
import pytest
from PIL import Image

from tests.support.browser import (COMBO_IDS, COMBOS, answers, open_page, record_uploads, run_tool, shot, text, upload,
                                   uploads)


@pytest.mark.parametrize("lang, size", COMBOS, ids=COMBO_IDS)
def test_watermark_then_background_then_noise_without_downloading(visit, photo_file, lang, size):
    v, page, table = open_page(visit, lang, size, "/remove-watermark", before=record_uploads)
    got_wm, got_bg = answers(v, "remove_watermark"), answers(v, "remove_bg")
    upload(page, photo_file)
    page.locator("#wm-canvas").click(position={"x": 20, "y": 20})
    run_tool(page)
    assert page.is_hidden("#chain button[data-tool='remove_watermark']")
    page.click("#chain button[data-tool='remove_bg']")
    page.wait_for_url("**/remove-background")
    page.locator("#go").wait_for(state="visible")
    assert page.text_content("#selected") == text(table, "tool.selected", name="chelsea-no-watermark.jpg")
    run_tool(page)
    # What the background remover got is exactly what the watermark remover answered: no re-encode.
    [(name, part)] = uploads(page, "remove_bg")
    assert name == "chelsea-no-watermark.jpg" and part == got_wm[0]
    page.check("input[name=background][value='#ffffff']")  # edited here: it goes on as a lossless PNG
    shot(page, f"chain-background-{lang}-{size}")
    page.click("#chain button[data-tool='denoise']")
    page.wait_for_url("**/denoise")
    page.locator("#go").wait_for(state="visible")
    run_tool(page)
    [(name, part)] = uploads(page, "denoise")
    img = Image.open(io.BytesIO(part))
    assert name == "chelsea-no-watermark-no-background.png" and img.format == "PNG" and img.size == (240, 180)
    assert img.convert("RGBA").getextrema()[3] == (255, 255)  # on white: opaque
    cut = Image.open(io.BytesIO(got_bg[0])).convert("RGBA")
    white = Image.alpha_composite(Image.new("RGBA", cut.size, "white"), cut).convert("RGB")
    assert np.abs(np.asarray(img.convert("RGB"), int) - np.asarray(white, int)).max() <= 2
    assert len(uploads(page, "remove_watermark")) == len(got_wm) == 1  # the page is the same one all along
    assert page.evaluate("[Object.keys(localStorage).filter((k) => k !== 'imgmend.lang'), Object.keys(sessionStorage)]") == [[], []]
    assert v.foreign_requests() == [] and v.errors == []
