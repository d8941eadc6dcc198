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
    """Press Repair and wait for the result."""
    page.click("#go")
    page.locator("#result").wait_for(state="visible", timeout=90_000)
