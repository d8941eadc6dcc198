"""Static facts about public/: CSP-safe markup, the same keys in both string tables, every page wired."""

import json
import re
from pathlib import Path

import pytest

PUBLIC = Path(__file__).resolve().parents[2] / "public"
PAGES = sorted(PUBLIC.glob("*.html"))
SCRIPTS = sorted(PUBLIC.glob("*.js"))
EN = json.loads((PUBLIC / "i18n" / "en.json").read_text(encoding="utf-8"))
ZH = json.loads((PUBLIC / "i18n" / "zh.json").read_text(encoding="utf-8"))


def test_all_pages_exist():
    names = {p.name for p in PAGES}
    assert {"index.html", "denoise.html", "remove-background.html", "remove-watermark.html", "pro.html",
            "privacy.html", "faq.html", "about.html", "terms.html", "404.html"} <= names


def test_string_tables_have_the_same_keys_and_no_markup():
    assert set(EN) == set(ZH)
    for table in (EN, ZH):
        assert all(isinstance(v, str) and v.strip() and "<" not in v for v in table.values())


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_obeys_the_csp_and_is_wired(page):
    html = page.read_text(encoding="utf-8")
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", html, re.IGNORECASE)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all(body.strip() == "" and re.search(r'src="/[a-z0-9-]+\.js"', attrs) for attrs, body in scripts)
    assert '<script src="/beacon.js" defer></script>' in html
    assert '<script src="/i18n.js" defer></script>' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing loaded from another origin
    keys = set(re.findall(r'data-i18n="([^"]+)"', html))
    keys |= {pair.split(":", 1)[1] for attr in re.findall(r'data-i18n-attr="([^"]+)"', html) for pair in attr.split(";")}
    assert keys and keys <= set(EN), keys - set(EN)
    assert re.search(r"<title data-i18n=", html) and '<meta name="description"' in html


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_are_small_and_safe(script):
    js = script.read_text(encoding="utf-8")
    assert len(js) < 12_000, "split it"
    assert "innerHTML" not in js and "outerHTML" not in js and "insertAdjacentHTML" not in js
    assert "eval(" not in js and "document.write" not in js
    assert "http://" not in js and "https://" not in js
    assert "localStorage.setItem" not in js or script.name == "i18n.js"  # only the language is kept


def test_privacy_page_states_the_quota_hash_in_both_languages():
    html = (PUBLIC / "privacy.html").read_text(encoding="utf-8")
    assert "keyed hash of your IP address" in html and "24 hours" in html
    key = re.search(r'data-i18n="(privacy\.[^"]+)">[^<]*keyed hash', html).group(1)
    assert "哈希" in ZH[key] and "24 小时" in ZH[key]


def _chrome(html, tag):
    block = re.search(rf'<{tag} class="site">.*?</{tag}>', html, re.S).group(0)
    return block.replace(' aria-current="page"', "")


def test_every_page_shares_one_header_and_footer():
    # The pages are generated from one layout (pages/layout.html, `make pages`): the output keeps one chrome.
    html = {p.name: p.read_text(encoding="utf-8") for p in PAGES}
    for tag in ("header", "footer"):
        reference = _chrome(html["index.html"], tag)
        drifted = [name for name, text in html.items() if _chrome(text, tag) != reference]
        assert drifted == [], (tag, drifted)
    for name, text in html.items():
        current = re.findall(r'<a href="([^"]+)"[^>]*aria-current="page"', text)
        expected = "/" if name == "index.html" else "/" + name[: -len(".html")]
        assert current in ([], [expected]), (name, current)


def test_html_fallback_text_matches_the_english_table():
    # Before the tables load (or without JS) the HTML text shows: it must be the English string.
    import html as entities

    for page in PAGES:
        for key, text in re.findall(r'data-i18n="([^"]+)"[^>]*>([^<]+)<', page.read_text(encoding="utf-8")):
            if "{" in EN[key]:
                continue  # filled in by script with numbers or names
            assert entities.unescape(text).strip() == EN[key], (page.name, key)


def test_privacy_page_states_replicates_one_hour_retention_in_both_languages():
    """Beside "deleted at once": Replicate keeps a prediction's inputs, result and logs for an hour."""
    html = (PUBLIC / "privacy.html").read_text(encoding="utf-8")
    for key in ("privacy.images.replicate_retention", "privacy.collect.images"):
        assert f'data-i18n="{key}"' in html
    assert "one hour" in EN["privacy.images.replicate_retention"] and "no way to delete them sooner" in EN["privacy.images.replicate_retention"]
    assert "一小时" in ZH["privacy.images.replicate_retention"] and "不提供提前删除" in ZH["privacy.images.replicate_retention"]
    assert "one hour" in EN["privacy.collect.images"] and "一小时" in ZH["privacy.collect.images"]
    assert "immediately" not in EN["privacy.collect.images"]


def test_privacy_page_says_what_revocation_keeps_in_both_languages():
    """What the code now keeps for an ended Pro plan: a keyed hash of the customer id, 13 hours."""
    from lib import pro

    html = (PUBLIC / "privacy.html").read_text(encoding="utf-8")
    assert 'data-i18n="privacy.collect.revocation"' in html
    hours = round(pro.REVOKED_TTL_S / 3600)
    assert f"{hours} hours" in EN["privacy.collect.revocation"] and "keyed hash" in EN["privacy.collect.revocation"]
    assert f"{hours} 小时" in ZH["privacy.collect.revocation"] and "哈希" in ZH["privacy.collect.revocation"]
