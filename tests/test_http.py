"""lib.http: the JSON request log line, and that it reaches stdout where nothing configured logging."""

import json
import logging
import os
import pathlib
import subprocess
import sys

import pytest

from lib import http, tokens
from tests.support.agents import CHROME_MAC
from tests.support.clients import post_image
from tests.support.images import encode, photo

ROOT = pathlib.Path(__file__).resolve().parents[1]
JPEG = encode(photo("chelsea", (64, 48)))
BROKEN = JPEG[:300]  # a truncated JPEG: invalid_image, found before the engine runs
EMAIL = "buyer@example.com"


def test_one_json_log_line_per_request_without_personal_data(api, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    pro, _ = tokens.issue_token("cus_Secret123")
    post_image(api, "denoise", JPEG, ip="198.51.100.23", **{"User-Agent": CHROME_MAC, "Authorization": f"Bearer {pro}"})
    post_image(api, "denoise", BROKEN, ip="198.51.100.23")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "imgmend"]
    assert lines == [
        {"endpoint": "/api/denoise", "status": 200, "error": None, "ms": lines[0]["ms"], "engine": "local",
         "queue_ms": 0},
        {"endpoint": "/api/denoise", "status": 400, "error": "invalid_image", "ms": lines[1]["ms"]},
    ]
    for forbidden in ("198.51.100.23", "Mozilla", "uniq-7f3a9c", pro, "cus_Secret123", EMAIL):
        assert forbidden not in caplog.text


def test_request_lines_reach_stdout_when_nothing_configured_logging():
    # As on Vercel: a fresh interpreter, no logging setup; the platform keeps what reaches stdout.
    script = (
        "from werkzeug.test import Client\n"
        "from api.config import app\n"
        "assert Client(app).get('/api/config').status_code == 200\n"
        "assert Client(app).post('/api/config').status_code == 405\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(x["endpoint"], x["status"], x["error"]) for x in lines] == [
        ("/api/config", 200, None), ("/api/config", 405, "method_not_allowed")]
    assert done.stderr == ""


@pytest.mark.parametrize("value, network", [
    ("203.0.113.7", "203.0.113.7"), (" 203.0.113.7 , 10.0.0.1", "203.0.113.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"), ("2001:DB8:1:2::ffff", "2001:db8:1:2::/64"),
    ("[2001:db8::1]", "2001:db8::/64"), ("::ffff:192.0.2.1", "192.0.2.1"), ("::1", "::/64"),
    ("fe80::1%eth0", "fe80::/64"), ("", None), (None, None), ("localhost", None), ("1.2.3", None),
    ("203.0.113.7:443", None), ("x" * 10_000, None),
])
def test_network_of(value, network):
    assert http.network_of(value) == network


@pytest.mark.parametrize("headers, foreign", [
    ({}, False), ({"Sec-Fetch-Site": "same-origin"}, False), ({"Sec-Fetch-Site": "SAME-SITE"}, False),
    ({"Sec-Fetch-Site": "none"}, False), ({"Sec-Fetch-Site": "cross-site"}, True),
    ({"Sec-Fetch-Site": "cross-site", "Origin": "http://127.0.0.1:3000"}, True),
    ({"Origin": "http://127.0.0.1:3000"}, False), ({"Origin": "http://127.0.0.1:3001"}, True),
    ({"Origin": "null"}, True), ({"Origin": ""}, True), ({"Origin": "garbage"}, True),
    ({"Sec-Fetch-Site": "weird", "Origin": "http://127.0.0.1:3000"}, False),
])
def test_from_another_site(headers, foreign):
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    request = Request(EnvironBuilder(method="POST", headers=headers).get_environ())
    assert http.from_another_site(request) is foreign
