"""public/*.html is generated from pages/ (`make pages`): the committed pages are the generator's output,
every English string is written once (in public/i18n/en.json), and each tool's names come from lib/catalog.py."""

import functools
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lib import catalog

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "pages"
PUBLIC = ROOT / "public"
SOURCE_FILES = sorted(SOURCES.rglob("*.html"))
EN = json.loads((PUBLIC / "i18n" / "en.json").read_text(encoding="utf-8"))
ZH = json.loads((PUBLIC / "i18n" / "zh.json").read_text(encoding="utf-8"))

_spec = importlib.util.spec_from_file_location("build_pages", ROOT / "tools" / "build_pages.py")
build_pages = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_pages)


@functools.cache
def used_keys():
    """Every key the generated pages name."""
    return frozenset().union(*(keys(html) for html in build_pages.build().values()))


def keys(html):
    """The string keys an HTML text names, in data-i18n and data-i18n-attr."""
    found = set(re.findall(r'data-i18n="([^"]+)"', html))
    return found | {pair.split(":", 1)[1].strip() for attr in re.findall(r'data-i18n-attr="([^"]+)"', html)
                    for pair in attr.split(";")}


def test_generated_equals_committed(tmp_path):
    # Edit pages/ or the string tables, then run `make pages`: this fails while public/ is stale.
    subprocess.run([sys.executable, str(ROOT / "tools" / "build_pages.py"), "--out", str(tmp_path)], check=True)
    generated = {p.name: p.read_bytes() for p in tmp_path.glob("*.html")}
    committed = {p.name: p.read_bytes() for p in PUBLIC.glob("*.html")}
    assert sorted(generated) == sorted(committed)
    stale = [name for name in committed if generated[name] != committed[name]]
    assert stale == [], f"public/ is stale, run `make pages`: {stale}"


def test_every_key_of_the_pages_is_in_both_tables():
    assert used_keys() <= set(EN) & set(ZH), used_keys() - (set(EN) & set(ZH))


@pytest.mark.parametrize("source", SOURCE_FILES, ids=lambda p: p.relative_to(SOURCES).as_posix())
def test_sources_carry_keys_only_and_every_key_is_in_both_tables(source):
    text = source.read_text(encoding="utf-8")
    for tag, after in re.findall(r'(<[a-z][^>]*\sdata-i18n="[^"]*"[^>]*>)(.?.?)', text):
        assert after == "</", f"the text of {tag} comes from en.json, not from the source"
    for tag, pairs in re.findall(r'(<[^>]*\sdata-i18n-attr="([^"]*)"[^>]*>)', text):
        for attr in (pair.split(":")[0].strip() for pair in pairs.split(";")):
            assert not re.search(rf"\s{attr}=", tag), f"{attr}= of {tag} comes from en.json, not from the source"
    for key in keys(text):
        if "{{" in key:  # {{tool.id}}.name: the keys it stands for are checked in the generated pages
            pattern = re.sub(r"\\\{\\\{.*?\\\}\\\}", r"[a-z_]+", re.escape(key))
            assert any(re.fullmatch(pattern, k) for k in used_keys()), key
        else:
            assert key in EN and key in ZH, key


def test_the_generator_refuses_english_in_a_source(tmp_path):
    sources = tmp_path / "pages"
    shutil.copytree(SOURCES, sources)
    about = sources / "about.html"
    about.write_text(about.read_text(encoding="utf-8").replace('data-i18n="about.h1">', 'data-i18n="about.h1">About'),
                     encoding="utf-8")
    with pytest.raises(build_pages.TemplateError, match="about.h1"):
        build_pages.build(sources)
    about.write_text('<main><p data-i18n="about.nothing"></p></main>\n', encoding="utf-8")
    with pytest.raises(build_pages.TemplateError, match="about.nothing"):
        build_pages.build(sources)


@pytest.mark.parametrize("tool", catalog.TOOLS, ids=lambda t: t.id)
def test_each_tool_page_and_its_names_come_from_the_catalog(tool):
    page = (PUBLIC / f"{tool.page.lstrip('/')}.html").read_text(encoding="utf-8")
    assert f'<main id="main" tabindex="-1" class="tool" data-tool="{tool.id}" data-suffix="{tool.suffix}">' in page
    assert f'<title data-i18n="{tool.id}.title">' in page
    assert re.search(rf'<a href="{tool.page}" data-i18n="{tool.id}.name" aria-current="page">', page)
    for other in PUBLIC.glob("*.html"):
        assert f'<a href="{tool.page}" data-i18n="{tool.id}.name"' in other.read_text(encoding="utf-8"), other.name


def test_a_tools_strings_are_prefixed_with_its_id_only():
    assert not {key.split(".")[0] for key in EN} & {"bg", "wm", "remove-background", "remove-watermark"}
    assert not [key for key in EN if re.fullmatch(r"privacy\.l[0-9]+x?", key)]  # semantic keys, not line numbers


def test_the_sources_stay_out_of_the_function_bundles():
    exclude = json.loads((ROOT / "vercel.json").read_text())["functions"]["api/*.py"]["excludeFiles"]
    assert "pages" in re.fullmatch(r"\{(.*)\}/\*\*", exclude).group(1).split(",")


def test_a_tools_result_part_lands_in_its_result_section_with_its_scripts():
    # pages/tools/<id>-result.html goes inside <section id="result">; its scripts come after the page's own.
    pages = build_pages.build()
    denoise = pages["denoise.html"]
    result = re.search(r'<section id="result".*?\n    </section>', denoise, re.S).group(0)
    assert 'id="strength"' in result and 'id="strength"' not in denoise.replace(result, "")
    scripts = re.findall(r'<script src="/([a-z0-9-]+)\.js"', denoise)
    assert scripts.index("strength") > scripts.index("tool") and scripts[-1] == "beacon"
    background = pages["remove-background.html"]
    assert 'id="refine"' in re.search(r'<section id="result".*?\n    </section>', background, re.S).group(0)
    assert background.count('src="/cutout.js"') == 1 and 'id="refine"' not in pages["remove-watermark.html"]
