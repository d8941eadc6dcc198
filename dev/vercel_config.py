"""vercel.json as Vercel applies it: cleanUrls / trailingSlash redirects and `headers` rules.

`source` patterns are compiled like @vercel/routing-utils (path-to-regexp 6); the file is re-read
whenever it changes, so edits apply to the next request.
"""

import json
import re
import sys
import threading
from pathlib import Path


class VercelConfigError(ValueError):
    """vercel.json cannot be used (Vercel itself would refuse to deploy it)."""


def _lex(source):
    """path-to-regexp 6 tokens as (kind, value): CHAR, ESCAPED, NAME, PATTERN, MODIFIER, OPEN, CLOSE."""
    tokens, i = [], 0
    while i < len(source):
        char = source[i]
        if char in "*+?":
            tokens.append(("MODIFIER", char))
            i += 1
        elif char == "\\":
            if i + 1 >= len(source):
                raise VercelConfigError(f"dangling escape in {source!r}")
            tokens.append(("ESCAPED", source[i + 1]))
            i += 2
        elif char in "{}":
            tokens.append(("OPEN" if char == "{" else "CLOSE", char))
            i += 1
        elif char == ":":
            name = re.match(r"[A-Za-z0-9_]*", source[i + 1:]).group()
            if not name:
                raise VercelConfigError(f"missing parameter name at {i} in {source!r}")
            tokens.append(("NAME", name))
            i += 1 + len(name)
        elif char == "(":
            pattern, i = _lex_pattern(source, i)
            tokens.append(("PATTERN", pattern))
        else:
            tokens.append(("CHAR", char))
            i += 1
    return tokens


def _lex_pattern(source, start):
    """The regex inside balanced parentheses at `start`, and the index after them."""
    depth, i, pattern = 1, start + 1, ""
    if source[i:i + 1] == "?":
        raise VercelConfigError(f"pattern cannot start with '?' in {source!r}")
    while i < len(source):
        char = source[i]
        if char == "\\":
            pattern += source[i:i + 2]
            i += 2
            continue
        if char == ")":
            depth -= 1
            if depth == 0:
                if not pattern:
                    raise VercelConfigError(f"empty pattern in {source!r}")
                return pattern, i + 1
        elif char == "(":
            depth += 1
            if source[i + 1:i + 2] != "?":
                raise VercelConfigError(f"capturing groups are not allowed in a pattern: {source!r}")
        pattern += char
        i += 1
    raise VercelConfigError(f"unbalanced pattern in {source!r}")


def source_to_regex(source):
    """Compile a vercel.json `source` like @vercel/routing-utils (path-to-regexp 6, strict, case-sensitive).

    Returns (compiled regex for fullmatch, parameter names in group order; unnamed groups are None).
    Supports literals, `:name`, `:name(re)`, `(re)` and the `? * +` modifiers; not `{...}` groups.
    """
    tokens, i, names, literal, regex = _lex(source), 0, [], "", ""

    def take(kind):
        nonlocal i
        if i < len(tokens) and tokens[i][0] == kind:
            i += 1
            return tokens[i - 1][1]
        return None

    while i < len(tokens):
        char, name, pattern = take("CHAR"), take("NAME"), take("PATTERN")
        if name or pattern:
            prefix = char or ""
            if prefix not in ("", "/", "."):  # only these become an optional parameter's prefix
                literal, prefix = literal + prefix, ""
            regex, literal = regex + re.escape(literal), ""
            names.append(name)
            regex += _param_regex(prefix, pattern or r"[^\/]+?", take("MODIFIER") or "")
            continue
        value = char or take("ESCAPED")
        if value:
            literal += value
            continue
        raise VercelConfigError(f"unsupported syntax {tokens[i][1]!r} in source {source!r}")
    regex += re.escape(literal)
    try:
        return re.compile(regex), names
    except re.error as error:
        raise VercelConfigError(f"bad pattern in source {source!r}: {error}") from None


def _param_regex(prefix, pattern, modifier):
    prefix = re.escape(prefix)
    if not prefix:
        if modifier in ("+", "*"):
            return f"((?:{pattern}){modifier})"
        return f"({pattern}){modifier}"
    if modifier in ("+", "*"):
        optional = "?" if modifier == "*" else ""
        return f"(?:{prefix}((?:{pattern})(?:{prefix}(?:{pattern}))*)){optional}"
    return f"(?:{prefix}({pattern})){modifier}"


def _redirect_rules(settings):
    """The 308 routes Vercel generates for cleanUrls and trailingSlash (@vercel/routing-utils), in order."""
    rules = []
    trailing = settings.get("trailingSlash")
    if settings.get("cleanUrls"):
        location = "/$1/" if trailing else "/$1"
        rules.append((re.compile(r"/(?:(.+)/)?index(?:\.html)?/?"), location))
        rules.append((re.compile(r"/(.*)\.html/?"), location))
    if trailing is True:
        rules.append((re.compile(r"/\.well-known(?:/.*)?"), None))  # exempt: answered as is
        rules.append((re.compile(r"/((?:[^/]+/)*[^/.]+)"), "/$1/"))
        rules.append((re.compile(r"/((?:[^/]+/)*[^/]+\.\w+)/"), "/$1"))
    elif trailing is False:
        rules.append((re.compile(r"/(.*)/"), "/$1"))
    return rules


def _header_rules(settings):
    """(regex, names, [(key, value)]) per `headers` entry; entries with has/missing are skipped loudly."""
    rules = []
    for entry in settings.get("headers") or []:
        if entry.get("has") or entry.get("missing"):
            print(f"dev server: skipping headers entry {entry.get('source')!r}: has/missing not supported",
                  file=sys.stderr)
            continue
        regex, names = source_to_regex(entry["source"])
        rules.append((regex, names, [(h["key"], h["value"]) for h in entry.get("headers", [])]))
    return rules


class VercelConfig:
    """vercel.json, re-read whenever the file changes (checked on every request)."""

    def __init__(self, path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp = None
        self._parsed = ({}, [], [])

    def _load(self):
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}, [], []
        with self._lock:
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                try:
                    settings = json.loads(self.path.read_text(encoding="utf-8"))
                    parsed = (settings, _redirect_rules(settings), _header_rules(settings))
                except (ValueError, KeyError, TypeError, AttributeError) as error:
                    raise VercelConfigError(f"{self.path.name}: {error}") from None
                self._parsed, self._stamp = parsed, stamp
            return self._parsed

    @property
    def settings(self):
        """The parsed vercel.json object."""
        return self._load()[0]

    def redirect_for(self, path):
        """The Location a cleanUrls/trailingSlash rule sends `path` to, or None."""
        for regex, location in self._load()[1]:
            match = regex.fullmatch(path)
            if match:
                if location is None:
                    return None
                return re.sub(r"\$(\d)", lambda m: match.group(int(m.group(1))) or "", location)
        return None

    def headers_for(self, path):
        """The headers every matching `headers` entry declares; a later entry overrides an earlier key."""
        merged = {}
        for regex, names, headers in self._load()[2]:
            match = regex.fullmatch(path)
            if not match:
                continue
            params = {n: v or "" for n, v in zip(names, match.groups()) if n}
            for key, value in headers:
                if params:  # Vercel fills `:name` in keys and values only when the source names some
                    key, value = _fill(key, params), _fill(value, params)
                merged[key.lower()] = (key, value)
        return list(merged.values())


def _fill(text, params):
    return re.sub(r":([A-Za-z0-9_]+)", lambda m: params.get(m.group(1), m.group(0)), text)
