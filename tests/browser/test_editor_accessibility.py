"""axe-core on the editor states the page-by-page axe test (test_site.py) never reaches: the home page
asking which tool, a photo uploading, each tool's result with its editor open, the watermark editor
with a mask, and an error; in both languages, on a phone and a desktop. Each state must also fit the
viewport's width (nothing to scroll sideways) and is kept as a screenshot."""

import pytest

from tests.support.browser import COMBO_IDS, COMBOS, drop_files, open_page, run_tool, shot
from tests.support.images import encode, photo

CHELSEA = encode(photo("chelsea", (240, 180)), "JPEG", quality=90)


def check(page, axe_path, name, problems):
    """axe on the page as it is now (serious and critical only), the width, and a screenshot."""
    page.add_script_tag(path=axe_path)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    for violation in result["violations"]:
        if violation["impact"] in ("serious", "critical"):
            problems.append((name, violation["id"], [n["target"] for n in violation["nodes"]][:3]))
    wide = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if wide[0] > wide[1]:
        problems.append((name, "wider than the viewport", wide))
    shot(page, name)


@pytest.mark.parametrize("lang, size", COMBOS, ids=COMBO_IDS)
def test_editor_states_pass_axe(visit, axe_path, tmp_path, lang, size):
    problems = []
    tag = f"{lang}-{size}"
    v, page, table = open_page(visit, lang, size, "/", bypass_csp=True)  # axe is injected inline
    drop_files(page, "main", [("chelsea.jpg", CHELSEA, "image/jpeg")])
    page.locator("#which").wait_for(state="visible")
    check(page, axe_path, f"axe-home-which-{tag}", problems)

    page.click("#which button[data-page='/denoise']")
    page.locator("#go").wait_for(state="visible")
    check(page, axe_path, f"axe-denoise-ready-{tag}", problems)
    cdp = v.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 400, "downloadThroughput": 1_000_000,
                                                  "uploadThroughput": 2_000})
    page.click("#go")
    page.locator("#progress[data-stage='upload']").wait_for()
    check(page, axe_path, f"axe-denoise-uploading-{tag}", problems)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    page.locator("#result").wait_for(state="visible", timeout=90_000)
    page.fill("#strength", "60")
    page.click("#actual")
    check(page, axe_path, f"axe-denoise-result-{tag}", problems)

    page.click("#chain button[data-tool='remove_bg']")
    page.locator("#go").wait_for(state="visible")
    run_tool(page)
    page.check("input[name=background][value=blur]")
    page.check("#crop")
    check(page, axe_path, f"axe-remove-bg-result-{tag}", problems)

    page.click("#chain button[data-tool='remove_watermark']")
    page.locator("#go").wait_for(state="visible")
    page.check("input[name=brush][value=box]")
    box = page.locator("#wm-canvas").bounding_box()
    page.mouse.move(box["x"] + 10, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + 60, box["y"] + 40, steps=3)
    page.mouse.up()
    check(page, axe_path, f"axe-watermark-editor-{tag}", problems)
    run_tool(page)
    check(page, axe_path, f"axe-watermark-result-{tag}", problems)

    notes = tmp_path / "notes.png"
    notes.write_text("not a photo")
    page.click("#again")
    page.set_input_files("#file", str(notes))
    page.locator("#error").wait_for(state="visible")
    check(page, axe_path, f"axe-error-{tag}", problems)
    assert problems == []
    assert v.foreign_requests() == []
