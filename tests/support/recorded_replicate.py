"""The recorded Replicate API exchanges in tests/fixtures/replicate, as (method, path, status, JSON body)."""

import functools
import gzip
import json
import pathlib
import re
from urllib.parse import urlsplit

import yaml

FOLDER = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "replicate"


def _body(response):
    body = response.get("content") or response.get("body", {})
    if isinstance(body, dict):
        body = body.get("string", "")
    if isinstance(body, bytes):
        try:
            body = gzip.decompress(body)
        except OSError:
            pass
        body = body.decode()
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


@functools.cache
def exchanges():
    """Every recorded exchange: (cassette, method, path, status code, JSON body or None)."""
    found = []
    for path in sorted(FOLDER.glob("*.yaml")):
        for interaction in yaml.safe_load(path.read_text())["interactions"]:
            request, response = interaction["request"], interaction["response"]
            status = response.get("status_code") or response["status"]["code"]
            found.append((path.name, request["method"], urlsplit(request["uri"]).path, status, _body(response)))
    return tuple(found)


def bodies(method, path_pattern):
    """The JSON bodies of recorded answers to `method` on paths matching the regex `path_pattern`."""
    return [body for _, m, path, _, body in exchanges()
            if m == method and re.fullmatch(path_pattern, path) and isinstance(body, dict)]


def prediction(**fields):
    """A recorded prediction object (a finished version prediction), with `fields` patched in."""
    recorded = next(b for b in bodies("GET", r"/v1/predictions/\w+") if "metrics" in b)
    return {**json.loads(json.dumps(recorded)), **fields}


def file_object(**fields):
    """A recorded Files API object, with `fields` patched in."""
    recorded = bodies("POST", r"/v1/files")[0]
    return {**json.loads(json.dumps(recorded)), **fields}
