"""Keyboard only: a whole tool run without the mouse, with a visible focus ring at every stop; and the
comparison's zoom and panning by keys and by dragging."""

import re

from tests.support.browser import upload

FOCUSABLE_FIRST = ["Skip to content", "imgmend", "Home", "Noise remover"]


def focused(page):
    return page.evaluate("""() => { const el = document.activeElement;
        return {id: el.id, tag: el.tagName, text: (el.textContent || '').trim().slice(0, 40),
                outline: getComputedStyle(el).outlineStyle, width: getComputedStyle(el).outlineWidth}; }""")


def assert_ring(state):
    assert state["outline"] != "none" and state["width"] != "0px", state


def test_a_tool_run_by_keyboard_alone(visit, photo_file):
    v = visit()
    page = v.goto("/denoise")
    page.wait_for_load_state("networkidle")  # every deferred script has wired its handlers
    stops = []
    for _ in range(len(FOCUSABLE_FIRST)):
        page.keyboard.press("Tab")
        state = focused(page)
        assert_ring(state)
        stops.append(state["text"])
    assert stops == FOCUSABLE_FIRST
    # Skip link: Enter moves focus into the main content.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert focused(page)["text"] == "Skip to content"
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "main"
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "choose"
    # Enter on "Choose a photo" must open the picker, i.e. click the hidden file input. Recorded in
    # the page rather than through Chromium's file-chooser interception, which proved flaky under load.
    page.evaluate("""() => { window.__picked = 0; const input = document.getElementById('file');
        input.addEventListener('click', (e) => { window.__picked += 1; e.preventDefault(); }); }""")
    page.keyboard.press("Enter")
    assert page.evaluate("window.__picked") == 1
    page.set_input_files("#file", str(photo_file))  # what the picker hands back
    page.locator("#go").wait_for(state="visible")
    assert focused(page)["id"] == "go"  # focus follows the flow
    page.keyboard.press("Enter")
    page.locator("#result").wait_for(state="visible", timeout=90_000)
    assert focused(page)["id"] == "download"
    assert_ring(focused(page))
    # Back through the save format, the strength, 1:1 and the zoom: each takes its keys.
    page.keyboard.press("Shift+Tab")
    assert focused(page)["id"] == "format"
    assert_ring(focused(page))
    page.keyboard.press("Shift+Tab")
    assert focused(page)["id"] == "strength"
    assert_ring(focused(page))
    page.keyboard.press("ArrowLeft")
    assert page.input_value("#strength") == "99" and page.eval_on_selector("#after", "el => el.style.opacity") == "0.99"
    page.keyboard.press("Shift+Tab")
    assert focused(page)["id"] == "actual"
    assert_ring(focused(page))
    page.keyboard.press("Enter")
    assert page.get_attribute("#actual", "aria-pressed") == "true"
    page.keyboard.press("Enter")
    assert page.get_attribute("#actual", "aria-pressed") == "false"
    # The slider and the zoom: both are plain range inputs, arrow keys move them.
    page.keyboard.press("Shift+Tab")
    assert focused(page)["id"] == "zoom"
    page.keyboard.press("ArrowRight")
    assert "scale(1.5)" in page.eval_on_selector("#after", "el => el.style.transform")
    page.keyboard.press("Shift+Tab")
    assert focused(page)["id"] == "slider"
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.querySelector('.pane-after').style.clipPath") == "inset(0px 0px 0px 49%)"
    page.keyboard.press("Shift+Tab")
    assert focused(page)["id"] == "compare"
    assert_ring(focused(page))
    page.keyboard.press("ArrowRight")  # pan right while zoomed
    assert page.eval_on_selector("#after", "el => el.style.transformOrigin") == "60% 50%"
    page.keyboard.press("+")
    assert "scale(2)" in page.eval_on_selector("#before", "el => el.style.transform")
    # Escape hatch: "process another" by keyboard returns focus to the picker; every stop on the way has a ring.
    stops = []
    for _ in range(7):
        page.keyboard.press("Tab")
        assert_ring(focused(page))
        stops.append(focused(page)["id"])
    assert stops == ["slider", "zoom", "actual", "strength", "format", "download", "again"]
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "choose"
    assert v.errors == []


def test_zoom_and_drag_to_pan_keep_the_split_line_in_place(visit, photo_file):
    v = visit(viewport={"width": 390, "height": 844}, has_touch=True)
    page = v.goto("/remove-background")
    upload(page, photo_file)
    page.click("#go")
    page.locator("#result").wait_for(state="visible", timeout=90_000)
    page.fill("#zoom", "3")
    assert page.text_content("#zoom-value") == "300%"
    assert page.locator("#compare.zoomed").count() == 1
    box = page.locator("#compare").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.8, steps=4)
    page.mouse.up()
    x, y = (float(n) for n in re.findall(r"([\d.]+)%", page.eval_on_selector("#after", "el => el.style.transformOrigin")))
    assert abs(x - 20) < 2 and abs(y - 80) < 2
    # The images scale inside panes that do not: the before/after split is where the slider says.
    assert page.evaluate("document.querySelector('.pane-after').style.clipPath") == "inset(0px 0px 0px 50%)"
    assert page.evaluate("getComputedStyle(document.querySelector('.pane-after')).transform") == "none"
    page.fill("#zoom", "1")
    assert page.locator("#compare.zoomed").count() == 0
    assert page.eval_on_selector("#after", "el => el.style.transform") == ""
    assert v.errors == []


def test_touch_brush_and_eraser_on_a_phone(visit, photo_file):
    v = visit(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = v.goto("/remove-watermark")
    upload(page, photo_file)
    canvas = page.locator("#wm-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box["width"] <= 390  # the editor fits the phone's width
    assert page.evaluate("getComputedStyle(document.getElementById('wm-canvas')).touchAction") == "none"
    assert not page.evaluate("imgmend.mask.hasMask()")
    page.tap("#wm-canvas")  # a finger dab paints
    assert page.evaluate("imgmend.mask.hasMask()") and page.is_enabled("#undo")
    page.tap("#undo")  # and a tap on Undo takes it back
    assert not page.evaluate("imgmend.mask.hasMask()") and page.is_disabled("#undo")
    # A finger dragged across the photo: Chromium turns the touches into pointer events, the brush paints.
    cdp = v.context.new_cdp_session(page)
    x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for step in range(1, 6):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x + 12 * step, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    assert page.evaluate("imgmend.mask.hasMask()") and page.is_enabled("#undo")
    assert v.errors == []
