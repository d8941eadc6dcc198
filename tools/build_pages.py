"""Writes public/*.html from pages/ and the English string table (`make pages`; standard library only).

    python3 tools/build_pages.py [--out DIR]        DIR defaults to public/

Template syntax of pages/*.html:
  {{name}} a value, HTML-escaped (`{{tool.id}}` reads a field); {{content}} and {{result}} inner parts' output, as is;
  {{for x in list}}…{{end}} once per item; {{if name}}…{{end}} only when name is set; {{# note}} is dropped.
A directive other than a value alone on its line takes the whole line with it. A file may start with settings:
a "---" line, "name: value" lines (`strings`: the key prefix of title and description, default the page's
name; `scripts`: more scripts, collected from every level; `beacon_path`), and a "---" line.

The pages: for each tool of lib/catalog.py, public/<tool.page>.html from pages/tools/<id>.html (optional, the
tool's options: {{content}}) and pages/tools/<id>-result.html (optional, its result controls: {{result}}) inside
pages/tool.html; for every other pages/<name>.html, public/<name>.html; each inside pages/layout.html. Then each
element with data-i18n="key" and no content of its own gets en.json's text, data-i18n-attr="attr:key" gets
attr="text" written in front of it, and the nav link to the page itself gets aria-current="page".
"""

import argparse
import html
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from lib import catalog  # noqa: E402  (a plain table, standard library only)

SOURCES = ROOT / "pages"
PUBLIC = ROOT / "public"
SHARED = ("layout", "tool")  # pages/ files that are parts of other pages, not pages
SETTINGS = ("strings", "scripts", "beacon_path")
RAW = ("content", "result")  # values that are the output of other templates, written as they are
RESULT = "-result"  # pages/tools/<id>-result.html: the tool's part of the result section
DIRECTIVE = re.compile(r"\{\{(.*?)\}\}")
ALONE = re.compile(r"^[ \t]*(\{\{(?:for |if |end|#).*?\}\})[ \t]*\n", re.M)
OPEN_TAG = re.compile(r"<[a-z][^>]*>")


class TemplateError(ValueError):
    pass


def load(path):
    """(settings, tree) of one template: text, ("value", name), ("for", x, list, body), ("if", name, body)."""
    text = path.read_text(encoding="utf-8")
    settings = {}
    if text.startswith("---\n"):
        head, _, text = text[4:].partition("\n---\n")
        for line in head.splitlines():
            name, _, value = (part.strip() for part in line.partition(":"))
            if name not in SETTINGS:
                raise TemplateError(f"{path.name}: unknown setting {name!r}")
            settings[name] = value
    root = []
    stack = [root]
    for i, piece in enumerate(DIRECTIVE.split(ALONE.sub(r"\1", text))):
        words = piece.split()
        if i % 2 == 0:
            stack[-1].append(piece)
        elif words[0].startswith("#"):
            continue
        elif words[0] == "end":
            if len(stack) == 1:
                raise TemplateError(f"{path.name}: {{{{end}}}} without a block")
            stack.pop()
        elif words[0] in ("for", "if"):
            if words[0] == "for" and (len(words) != 4 or words[2] != "in"):
                raise TemplateError(f"{path.name}: write {{{{for x in list}}}}, not {{{{{piece}}}}}")
            node = ("for", words[1], words[3], []) if words[0] == "for" else ("if", words[1], [])
            stack[-1].append(node)
            stack.append(node[-1])
        else:
            stack[-1].append(("value", piece.strip()))
    if len(stack) != 1:
        raise TemplateError(f"{path.name}: a block lacks its {{{{end}}}}")
    return settings, root


def lookup(context, name):
    """`tool.id`: the field id of the value tool; None when `tool` is not set."""
    head, *fields = name.split(".")
    value = context.get(head)
    for field in fields:
        value = getattr(value, field, None)
    return value


def render(tree, context):
    out = []
    for node in tree:
        if isinstance(node, str):
            out.append(node)
        elif node[0] == "value":
            value = lookup(context, node[1])
            if value is None:
                raise TemplateError(f"no value {node[1]!r} on this page")
            out.append(value if node[1] in RAW else html.escape(str(value)))
        elif node[0] == "for":
            out.extend(render(node[3], {**context, node[1]: item}) for item in lookup(context, node[2]))
        elif lookup(context, node[1]):  # "if"
            out.append(render(node[2], context))
    return "".join(out)


def fill(text, en):
    """The English fallback: text of each data-i18n element, each attribute named in data-i18n-attr."""
    def english(key):
        if key not in en:
            raise TemplateError(f"no key {key!r} in en.json")
        if "{" in en[key]:
            raise TemplateError(f"{key!r} has placeholders; leave it to the script")
        return html.escape(en[key])

    def one(match):
        tag = match.group(0)
        attrs = re.search(r' data-i18n-attr="([^"]*)"', tag)
        if attrs:
            written = ""
            for pair in attrs.group(1).split(";"):
                attr, key = (part.strip() for part in pair.split(":"))
                if re.search(rf"\s{attr}=", tag):
                    raise TemplateError(f"{attr}= comes from {key!r}, not from the source: {tag}")
                written += f' {attr}="{english(key)}"'
            tag = tag.replace(attrs.group(0), written + attrs.group(0))
        key = re.search(r' data-i18n="([^"]*)"', tag)
        if key:
            if not match.string.startswith("</", match.end()):
                raise TemplateError(f"{key.group(1)!r} text comes from en.json, not from the source")
            tag += english(key.group(1))
        return tag

    return OPEN_TAG.sub(one, text)


def mark_current(text, path):
    link = re.compile(rf'(<a href="{re.escape(path)}"[^>]*)>')
    return re.sub(r"<nav\b.*?</nav>", lambda nav: link.sub(r'\1 aria-current="page">', nav.group(0)), text, flags=re.S)


def page(chain, path, context, en, where):
    """One page: the templates of `chain` from the inside out, settings from the outside in."""
    context = {"tools": catalog.TOOLS, "scripts": [], "content": "", "result": "", **context}
    for settings, _ in reversed(chain):
        for name, value in settings.items():
            context[name] = context["scripts"] + value.split() if name == "scripts" else value
    try:
        for _, tree in chain:
            context["content"] = render(tree, context).rstrip("\n")
        return mark_current(fill(context["content"] + "\n", en), path)
    except TemplateError as error:
        raise TemplateError(f"{where}: {error}") from None


def build(sources=SOURCES):
    """{file name: HTML} of every page made from the templates in `sources`."""
    en = json.loads((PUBLIC / "i18n" / "en.json").read_text(encoding="utf-8"))
    layout, tool_body = (load(sources / f"{name}.html") for name in SHARED)
    parts = {p.stem: p for p in (sources / "tools").glob("*.html")}
    unknown = {stem.removesuffix(RESULT) for stem in parts} - set(catalog.IDS)
    if unknown:
        raise TemplateError(f"pages/tools/: no such tool in lib/catalog.py: {sorted(unknown)}")
    pages = {}
    for tool in catalog.TOOLS:
        settings, tree = load(parts[tool.id]) if tool.id in parts else ({}, [])
        context = {"strings": tool.id, "tool": tool}
        if tool.id + RESULT in parts:  # rendered first; its scripts come after the options part's
            extra, result_tree = load(parts[tool.id + RESULT])
            context["result"] = render(result_tree, {"tools": catalog.TOOLS, **context}).rstrip("\n")
            scripts = " ".join(filter(None, (settings.get("scripts"), extra.get("scripts"))))
            settings = {**extra, **settings, **({"scripts": scripts} if scripts else {})}
        name = tool.page.lstrip("/") + ".html"
        pages[name] = page([(settings, tree), tool_body, layout], tool.page, context, en, name)
    for source in sorted(sources.glob("*.html")):
        if source.stem in SHARED:
            continue
        if source.name in pages:
            raise TemplateError(f"pages/{source.name}: a tool page comes from pages/tool.html")
        path = "/" if source.stem == "index" else "/" + source.stem
        pages[source.name] = page([load(source), layout], path, {"strings": source.stem}, en, source.name)
    return pages


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PUBLIC, help="where to write the pages (default: public/)")
    out = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    pages = build()
    for name, text in pages.items():
        (out / name).write_text(text, encoding="utf-8")
    stale = sorted({p.name for p in out.glob("*.html")} - set(pages))
    if stale:
        print(f"not from pages/ (delete them if they are gone from pages/): {', '.join(stale)}", file=sys.stderr)


if __name__ == "__main__":
    main()
