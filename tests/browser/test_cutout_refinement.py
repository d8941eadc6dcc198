"""Cut-out refinement in the browser: erase and restore on the mask (restore takes the original photo's
pixels; no second model run), undo and redo, background colour, the original background blurred, an
image of the user's, and crop to the subject with a margin; each checked in the downloaded file."""

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from tests.support.browser import COMBO_IDS, COMBOS, answers, download, open_page, run_tool, shot, upload
from tests.support.images import encode, photo

SIZE = (240, 160)


@pytest.fixture(scope="module")
def coffee(tmp_path_factory):
    path = tmp_path_factory.mktemp("cut") / "coffee.jpg"
    path.write_bytes(encode(photo("coffee", SIZE), "JPEG", quality=95))
    return path


def pixels(data, mode="RGBA"):
    return np.asarray(Image.open(io.BytesIO(data)).convert(mode), dtype=int)


def brush(page, at, size=30):
    """One short drag of the cut-out brush around `at` (photo pixels)."""
    page.fill("#cut-size", str(size))
    canvas = page.locator("#cut-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    k = box["width"] / SIZE[0]
    x, y = box["x"] + at[0] * k, box["y"] + at[1] * k
    page.mouse.move(x - 4, y)
    page.mouse.down()
    page.mouse.move(x + 4, y, steps=3)
    page.mouse.up()


@pytest.mark.parametrize("lang, size", COMBOS, ids=COMBO_IDS)
def test_brush_backgrounds_and_crop_end_up_in_the_file(visit, coffee, tmp_path, lang, size):
    v, page, table = open_page(visit, lang, size, "/remove-background")
    served = answers(v, "remove_bg")
    upload(page, coffee)
    run_tool(page)
    page.locator("#after-canvas").wait_for(state="visible")
    cut = pixels(served[0])
    original = pixels(coffee.read_bytes(), "RGB")
    inside = (120, 70)  # the cup: kept by the model
    outside = (8, 8)  # the table in a corner: removed
    assert cut[inside[1], inside[0], 3] == 255 and cut[outside[1], outside[0], 3] == 0
    assert page.is_disabled("#format option[value='image/jpeg']")  # transparent: PNG or WebP only

    brush(page, inside)  # erase (the default brush) on the cup
    page.check("input[name=cut-brush][value=restore]")
    brush(page, outside)  # restore the corner from the photo
    assert page.is_enabled("#cut-undo") and page.is_disabled("#cut-redo")
    shot(page, f"cutout-brushed-{lang}-{size}")
    name, data = download(page)
    out = pixels(data)
    assert name == "coffee-no-background.png" and out.shape[:2] == (SIZE[1], SIZE[0])
    assert out[inside[1], inside[0], 3] == 0
    assert out[outside[1], outside[0], 3] == 255
    assert np.abs(out[outside[1], outside[0], :3] - original[outside[1], outside[0]]).max() <= 8
    page.click("#cut-undo")  # the restore is undone, then redone, then undone for the rest
    assert page.is_enabled("#cut-redo")
    page.click("#cut-redo")
    assert page.is_disabled("#cut-redo")
    page.click("#cut-undo")
    assert pixels(download(page)[1])[outside[1], outside[0], 3] == 0

    page.check("input[name=background][value=colour]")
    page.fill("#bg-colour", "#ff0000")
    assert page.is_enabled("#format option[value='image/jpeg']")
    name, data = download(page)
    out = pixels(data, "RGB")
    assert name == "coffee-no-background.jpg" and Image.open(io.BytesIO(data)).format == "JPEG"
    assert np.abs(out[outside[1], outside[0]] - [255, 0, 0]).max() <= 24
    assert np.abs(out[inside[1], inside[0]] - [255, 0, 0]).max() <= 24  # erased: the colour shows

    page.check("input[name=background][value=blur]")
    out = pixels(download(page)[1], "RGB")
    blurred = np.asarray(Image.open(coffee).filter(ImageFilter.GaussianBlur(4)), dtype=int)
    assert np.abs(out[outside[1] + 20, outside[0] + 20] - blurred[outside[1] + 20, outside[0] + 20]).max() <= 40
    shot(page, f"cutout-blur-{lang}-{size}")

    green = tmp_path / "green.png"
    Image.new("RGB", (50, 30), (0, 200, 0)).save(green)
    page.set_input_files("#bg-file", str(green))
    page.locator("#bg-status[data-i18n='remove_bg.image.ok']").wait_for()
    assert page.is_checked("input[name=background][value=image]")
    out = pixels(download(page)[1], "RGB")
    assert np.abs(out[outside[1], outside[0]] - [0, 200, 0]).max() <= 24

    page.check("input[name=background][value=transparent]")
    page.fill("#crop-margin", "0")
    page.check("#crop")
    ys, xs = np.nonzero(cut[..., 3] > 8)
    tight = (xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    shot(page, f"cutout-crop-{lang}-{size}")
    got = Image.open(io.BytesIO(download(page)[1])).size
    assert abs(got[0] - tight[0]) <= 2 and abs(got[1] - tight[1]) <= 2 and got[0] < SIZE[0]
    page.fill("#crop-margin", "10")
    wider = Image.open(io.BytesIO(download(page)[1])).size
    assert wider[0] > got[0] and wider[1] > got[1]
    assert page.text_content("#crop-margin-value") == "10%"
    assert len(served) == 1  # every change above was made here: one model run
    assert v.foreign_requests() == [] and v.errors == []
