"""Downloads: PNG, JPEG or WebP as the user chooses (transparent results: PNG or WebP only), at full
resolution, and every file keeps the input's ICC colour profile (read back with Pillow), with the
pixels still in that profile's colour space (decoded here without conversion to sRGB)."""

import io

import numpy as np
import pytest
from PIL import Image

from tests.support.browser import COMBO_IDS, COMBOS, answers, download, open_page, run_tool, shot
from tests.support.images import encode, odd_profile, photo

SIZE = (320, 240)
PROFILE = odd_profile()


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    """A JPEG with an ICC profile unlike sRGB (red and green primaries swapped)."""
    path = tmp_path_factory.mktemp("icc") / "coffee.jpg"
    path.write_bytes(encode(photo("coffee", SIZE), "JPEG", quality=95, icc_profile=PROFILE))
    return path


def opened(data):
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def options(page):
    return page.evaluate("[...document.querySelectorAll('#format option')].filter((o) => !o.hidden && !o.disabled).map((o) => o.value)")


@pytest.mark.parametrize("lang, size", COMBOS, ids=COMBO_IDS)
def test_each_format_at_full_size_with_the_inputs_profile(visit, tagged, lang, size):
    v, page, table = open_page(visit, lang, size, "/denoise")
    served = answers(v, "denoise")
    page.set_input_files("#file", str(tagged))
    page.locator("#go").wait_for(state="visible")
    run_tool(page)
    assert options(page) == ["image/png", "image/jpeg", "image/webp"] and page.input_value("#format") == "image/jpeg"
    assert opened(served[0]).info.get("icc_profile") == PROFILE  # the server kept it
    raw = np.asarray(opened(served[0]).convert("RGB"), dtype=int)  # as stored, no colour conversion
    name, data = download(page)
    assert name == "coffee-denoised.jpg" and data == served[0]
    for fmt, ext, pillow in (("image/png", "png", "PNG"), ("image/webp", "webp", "WEBP"), ("image/jpeg", "jpg", "JPEG")):
        page.fill("#strength", "99")  # edited here: encoded by the browser, the profile put back
        page.select_option("#format", fmt)
        name, data = download(page)
        img = opened(data)
        assert name == f"coffee-denoised.{ext}" and img.format == pillow and img.size == SIZE
        assert img.info.get("icc_profile") == PROFILE, fmt
        diff = np.abs(np.asarray(img.convert("RGB"), dtype=int) - raw)
        assert diff.mean() < (2 if fmt == "image/png" else 5), fmt  # not turned into sRGB through the odd profile
    shot(page, f"download-formats-{lang}-{size}")
    assert v.errors == []


@pytest.mark.parametrize("lang, size", COMBOS, ids=COMBO_IDS)
def test_a_transparent_result_offers_png_or_webp_with_alpha_and_profile(visit, tagged, lang, size):
    v, page, table = open_page(visit, lang, size, "/remove-background")
    page.set_input_files("#file", str(tagged))
    page.locator("#go").wait_for(state="visible")
    run_tool(page)
    assert options(page) == ["image/png", "image/webp"] and page.input_value("#format") == "image/png"
    name, data = download(page)
    assert name == "coffee-no-background.png" and opened(data).info.get("icc_profile") == PROFILE
    page.select_option("#format", "image/webp")
    name, data = download(page)
    img = opened(data)
    assert name == "coffee-no-background.webp" and img.format == "WEBP" and img.mode == "RGBA" and img.size == SIZE
    assert img.info.get("icc_profile") == PROFILE
    alpha = np.asarray(img.getchannel("A"))
    assert alpha.min() < 10 and alpha.max() > 245  # cut out: transparent around, opaque cup
    page.check("input[name=background][value='#ffffff']")  # opaque now: JPEG is offered, and chosen by default
    assert options(page) == ["image/png", "image/jpeg", "image/webp"]
    page.select_option("#format", "image/jpeg")
    page.check("input[name=background][value=transparent]")  # transparent again: JPEG is withdrawn
    assert options(page) == ["image/png", "image/webp"] and page.input_value("#format") in ("image/png", "image/webp")
    shot(page, f"download-transparent-{lang}-{size}")
    assert v.errors == []
