"""lib.http: the JSON request log line, and that it reaches stdout where nothing configured logging."""

import json
import logging
import os
import pathlib
import subprocess
import sys

from lib import tokens
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
        {"endpoint": "/api/denoise", "status": 200, "error": None, "ms": lines[0]["ms"], "engine": "local"},
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
