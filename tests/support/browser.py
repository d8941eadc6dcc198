"""Browser-test helpers: the site's pages and string tables, and the steps of a tool run."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = ROOT / "public"
ARTIFACTS = ROOT / "tests" / "artifacts"
EN = json.loads((PUBLIC / "i18n" / "en.json").read_text(encoding="utf-8"))
ZH = json.loads((PUBLIC / "i18n" / "zh.json").read_text(encoding="utf-8"))
PAGES = ["/", "/denoise", "/remove-background", "/remove-watermark", "/pro", "/privacy", "/faq", "/about",
         "/terms", "/no-such-page"]


def upload(page, path):
    """Pick a photo file on a tool page and wait for the Repair button."""
    page.set_input_files("#file", str(path))
    page.locator("#go").wait_for(state="visible")


def run_tool(page):
    """Press Repair and wait for the result (an error shown instead fails at once, saying which)."""
    page.click("#go")
    page.locator("#result:not([hidden]), #error:not([hidden])").first.wait_for(state="visible", timeout=90_000)
    assert page.is_hidden("#error"), page.text_content("#error")

SCREENSHOTS = ARTIFACTS / "screenshots"
VIEWPORTS = {"phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True},
             "desktop": {"viewport": {"width": 1280, "height": 860}}}
LOCALES = {"en": "en-US", "zh": "zh-CN"}
TABLES = {"en": EN, "zh": ZH}
# Every editor test runs in both languages on a phone and on a desktop: ids like "zh-phone".
COMBOS = [(lang, size) for lang in LOCALES for size in VIEWPORTS]
COMBO_IDS = [f"{lang}-{size}" for lang, size in COMBOS]


def open_page(visit, lang, size, path, before=None, **options):
    """A visit in `lang` on the `size` viewport, at `path` (after `before(visit)`); (visit, page, string table)."""
    v = visit(locale=LOCALES[lang], **VIEWPORTS[size], **options)
    if before:
        before(v)
    page = v.goto(path)
    assert page.get_attribute("html", "lang") == ("zh-CN" if lang == "zh" else "en")
    if page.locator("#formats").count():  # the accepted formats arrive from /api/config
        page.locator("#formats[data-i18n='tool.formats']").wait_for(state="attached")
    return v, page, TABLES[lang]


def shot(page, name):
    """A full-page screenshot kept in tests/artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


FORMAT_NAMES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP", "image/heic": "HEIC",
                "image/heif": "HEIF", "image/avif": "AVIF"}


def formats_label(lang, mime_types):
    """The formats in words as the page lists them (Intl.ListFormat, disjunction): "A, B, or C" / "A、B或C";
    HEIF is named once, as HEIC."""
    names = list(dict.fromkeys(FORMAT_NAMES["image/heic" if m == "image/heif" else m] for m in mime_types))
    if len(names) == 1:
        return names[0]
    if lang == "zh":
        return "、".join(names[:-1]) + "或" + names[-1]
    return (" or ".join(names) if len(names) == 2 else ", ".join(names[:-1]) + ", or " + names[-1])


def server_formats():
    """The MIME types /api/config lists (lib.config.FORMATS and their media types)."""
    from lib import config

    return [media for fmt in config.FORMATS for media in config.FORMAT_MEDIA_TYPES[fmt]]


def text(table, key, **values):
    """A string of `table` with its {placeholders} filled in, as the page writes it."""
    out = table[key]
    for name, value in values.items():
        out = out.replace("{" + name + "}", str(value))
    return out


def download(page, selector="#download"):
    """Click a download link; the saved file's (name, bytes)."""
    with page.expect_download() as info:
        page.click(selector)
    return info.value.suggested_filename, Path(info.value.path()).read_bytes()


def drop_files(page, selector, files):
    """Drop files [(name, bytes, type)] on an element, as a drag from the desktop does."""
    import base64

    handle = page.evaluate_handle("""(files) => { const dt = new DataTransfer();
        for (const [name, b64, type] of files) {
          dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, {type}));
        }
        return dt; }""", [[n, base64.b64encode(b).decode(), t] for n, b, t in files])
    page.dispatch_event(selector, "dragover", {"dataTransfer": handle})
    page.dispatch_event(selector, "drop", {"dataTransfer": handle})


def paste_file(page, name, data, type_):
    """Paste a file (as from the clipboard) into the page."""
    import base64

    page.evaluate("""([name, b64, type]) => { const dt = new DataTransfer();
        dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, {type}));
        document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true})); }""",
                  [name, base64.b64encode(data).decode(), type_])


RECORD_UPLOADS = """(() => { window.__uploads = [];
  const send = XMLHttpRequest.prototype.send, open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url) { this.__url = String(url); return open.apply(this, arguments); };
  XMLHttpRequest.prototype.send = function (body) {
    if (body instanceof FormData && body.get('image')) {
      window.__uploads.push({url: this.__url, name: body.get('image').name, image: body.get('image')});
    }
    return send.apply(this, arguments);
  }; })();"""


def record_uploads(v):
    """From the next page load on, keep what each image request uploads (the test's own record, in the page)."""
    v.context.add_init_script(RECORD_UPLOADS)


def uploads(page, endpoint):
    """[(file name, bytes)] of the `image` parts the page sent to /api/<endpoint>, in order."""
    import base64

    found = page.evaluate("""async (path) => Promise.all(window.__uploads.filter((u) => u.url === path).map(async (u) => {
        const bytes = new Uint8Array(await u.image.arrayBuffer()); let s = '';
        for (let i = 0; i < bytes.length; i += 1) s += String.fromCharCode(bytes[i]);
        return [u.name, btoa(s)]; }))""", f"/api/{endpoint}")
    return [(name, base64.b64decode(data)) for name, data in found]


def answers(v, endpoint):
    """Start recording the bodies of the successful answers from /api/<endpoint>."""
    got = []
    v.page.on("response", lambda r: got.append(r.body()) if r.url.endswith(f"/api/{endpoint}") and r.ok else None)
    return got
