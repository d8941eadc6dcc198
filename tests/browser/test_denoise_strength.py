"""Noise remover strength: a 0-100 % slider blends the result with the original in the browser at full
resolution (checked pixel by pixel in the download), previewed live and at 1:1 before downloading."""

import io

import numpy as np
import pytest
from PIL import Image

from tests.support.browser import COMBO_IDS, COMBOS, answers, download, open_page, run_tool, shot, upload
from tests.support.images import encode, photo

SIZE = (1200, 900)


@pytest.fixture(scope="module")
def big_photo(tmp_path_factory):
    noisy = np.asarray(photo("astronaut", SIZE), dtype=float)
    noisy += np.random.default_rng(3).normal(0, 14, noisy.shape)
    path = tmp_path_factory.mktemp("strength") / "astronaut.jpg"
    path.write_bytes(encode(Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)), "JPEG", quality=95))
    return path


def rgb(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=float)


@pytest.mark.parametrize("lang, size", COMBOS, ids=COMBO_IDS)
def test_strength_blends_at_full_resolution_with_a_1to1_preview(visit, big_photo, lang, size):
    v, page, table = open_page(visit, lang, size, "/denoise")
    served = answers(v, "denoise")
    upload(page, big_photo)
    run_tool(page)
    assert page.input_value("#strength") == "100" and page.is_hidden("#after-base")
    page.fill("#strength", "50")
    assert page.text_content("#strength-value") == "50%"
    assert page.eval_on_selector("#after", "el => el.style.opacity") == "0.5" and page.is_visible("#after-base")
    # 1:1: one photo pixel per CSS pixel, the before and the after alike.
    page.click("#actual")
    assert page.get_attribute("#actual", "aria-pressed") == "true"
    for img in ("#before", "#after", "#after-base"):  # (once the zoom's short transition has run)
        page.wait_for_function("([sel, w]) => Math.abs(document.querySelector(sel).getBoundingClientRect().width - w) <= 1.5",
                               arg=[img, SIZE[0]], timeout=5000)
    shot(page, f"denoise-strength-1to1-{lang}-{size}")
    page.fill("#zoom", "1")  # the zoom slider takes over again
    assert page.get_attribute("#actual", "aria-pressed") == "false"

    original, clean = rgb(big_photo.read_bytes()), rgb(served[0])
    page.select_option("#format", "image/png")
    name, data = download(page)
    out = rgb(data)
    assert name == "astronaut-denoised.png" and out.shape[:2] == (SIZE[1], SIZE[0])  # full resolution
    assert np.abs(out - (original + clean) / 2).mean() < 1.5 and np.abs(out - (original + clean) / 2).max() <= 8
    page.fill("#strength", "0")
    out = rgb(download(page)[1])
    assert np.abs(out - original).mean() < 1.0
    page.fill("#strength", "100")
    page.select_option("#format", "image/jpeg")
    name, data = download(page)
    assert data == served[0]  # unchanged, in the server's format: its bytes as they came
    assert v.foreign_requests() == [] and v.errors == []
