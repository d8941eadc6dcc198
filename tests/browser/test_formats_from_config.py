"""The site takes its accepted formats from /api/config (limits.formats): the picker's filter, the hint,
the in-browser format check and the error's next step. A format the server adds (here HEIC and AVIF,
answered by a stand-in for the server) works without a site change; one it drops is refused."""

import io
import json

import pytest
from PIL import Image

from tests.support.browser import (COMBO_IDS, COMBOS, download, open_page, record_uploads, run_tool, shot, text,
                                   uploads)
from tests.support.images import encode, photo

HEIC = (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00\x00\x00\x10meta" + bytes(2000))  # not decodable here
THREE = ["image/jpeg", "image/png", "image/webp"]  # what the site took before the server added any
LABELS = {"en": "JPEG, PNG, WebP, HEIC, or AVIF", "zh": "JPEG、PNG、WebP、HEIC或AVIF"}


def serve_formats(page, change):
    """Answer /api/config as the server does, with limits.formats changed by `change(list)`."""
    def answer(route):
        config = route.fetch().json()
        config["limits"]["formats"] = change(config["limits"]["formats"])
        route.fulfill(status=200, content_type="application/json", body=json.dumps(config))
    page.route("**/api/config", answer)


@pytest.mark.parametrize("lang, size", COMBOS, ids=COMBO_IDS)
def test_formats_the_server_adds_light_up(visit, tmp_path, lang, size):
    def before(v):
        record_uploads(v)
        serve_formats(v.page, lambda formats: THREE + ["image/heic", "image/avif"])

    v, page, table = open_page(visit, lang, size, "/denoise", before=before)
    accept = page.get_attribute("#file", "accept").split(",")
    assert {"image/jpeg", "image/png", "image/webp", "image/heic", ".heic", "image/avif", ".avif"} <= set(accept)
    assert page.text_content("#formats") == text(table, "tool.formats", formats=LABELS[lang])
    jpeg = encode(photo("chelsea", (160, 120)), "JPEG")
    page.route("**/api/denoise", lambda route: route.fulfill(status=200, content_type="image/jpeg", body=jpeg,
                                                            headers={"X-Quota-Remaining": "9"}))
    heic = tmp_path / "phone.heic"
    heic.write_bytes(HEIC)
    page.set_input_files("#file", str(heic))
    page.locator("#go").wait_for(state="visible")  # recognised from its bytes and accepted
    run_tool(page)
    assert uploads(page, "denoise") == [("phone.heic", HEIC)]  # sent as it is, for the server to read
    assert download(page) == ("phone-denoised.jpg", jpeg)
    shot(page, f"formats-heic-{lang}-{size}")
    page.click("#again")
    avif = tmp_path / "photo.avif"
    avif.write_bytes(encode(photo("coffee", (160, 120)), "AVIF"))
    page.set_input_files("#file", str(avif))
    page.locator("#go").wait_for(state="visible")
    run_tool(page)
    assert uploads(page, "denoise")[1] == ("photo.avif", avif.read_bytes())
    assert page.eval_on_selector("#before", "el => el.naturalWidth") == 160  # this browser shows AVIF
    page.goto(v.site + "/")  # the home page asks the same config
    page.evaluate("window.imgmend.ready")
    page.locator("#formats[data-i18n='tool.formats']").wait_for(state="attached")
    assert "image/heic" in page.get_attribute("#home-file", "accept")
    assert v.errors == []


@pytest.mark.parametrize("lang, size", COMBOS, ids=COMBO_IDS)
def test_a_format_the_server_drops_is_refused_in_the_browser(visit, tmp_path, lang, size):
    v, page, table = open_page(visit, lang, size, "/remove-background",
                               before=lambda v: serve_formats(v.page, lambda f: ["image/jpeg", "image/png"]))
    assert "image/webp" not in page.get_attribute("#file", "accept")
    webp = tmp_path / "photo.webp"
    webp.write_bytes(encode(photo("coffee", (160, 120)), "WEBP"))
    sent = []
    page.on("request", lambda r: sent.append(r.url) if "/api/remove_bg" in r.url else None)
    page.set_input_files("#file", str(webp))
    page.locator("#error").wait_for(state="visible")
    assert page.text_content("#error-text") == table["err.unsupported_format"]
    label = "JPEG or PNG" if lang == "en" else "JPEG或PNG"
    assert page.text_content("#error-next") == text(table, "next.unsupported_format", formats=label)
    assert sent == []
    # GIF: not a server format, but converted here to PNG (first frame) while the server takes PNG.
    gif = tmp_path / "anim.gif"
    Image.new("P", (90, 60), 3).save(gif)
    page.set_input_files("#file", str(gif))
    page.locator("#go").wait_for(state="visible")
    run_tool(page)
    assert Image.open(io.BytesIO(download(page)[1])).size == (90, 60)
    assert v.errors == []
