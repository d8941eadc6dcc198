"""Lighthouse (npm lighthouse@12.2.3, Debian chromium) on the home page and the three tool pages, on loopback.

Run from the repo root after `npm ci`:  python bench/lighthouse.py [--runs 3] [--form-factor mobile|desktop]
Prints performance, accessibility and best-practices scores (median of the runs), the bytes each page
loads (HTML + CSS + JS + images + fonts), and the audits that cost points. Exit 1 if a target is missed:
performance >= 95, accessibility 100, best practices 100, home page total <= 150 KB.

The site is served by the dev server (the same headers as vercel.json) on the local engine; Lighthouse
applies its default simulated throttling (slow 4G, 4x CPU slowdown) for the mobile form factor.
"""

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from werkzeug.serving import make_server  # noqa: E402

from dev import server as devserver  # noqa: E402

LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = os.environ.get("IMGMEND_CHROMIUM", "/usr/bin/chromium")
PAGES = ["/", "/denoise", "/remove-background", "/remove-watermark"]
CATEGORIES = ["performance", "accessibility", "best-practices"]
TARGETS = {"performance": 95, "accessibility": 100, "best-practices": 100}
HOME_BUDGET_BYTES = 150 * 1024


def serve():
    """The site on a loopback port, in a thread, with its request logs silenced; returns (server, origin)."""
    devserver.log_request = lambda *args, **kwargs: None
    logging.getLogger("imgmend").addHandler(logging.NullHandler())
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, devserver.create_app(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.port}"


def lighthouse(url, form_factor, out_dir):
    """One Lighthouse run; the parsed JSON report."""
    report = Path(out_dir) / "report.json"
    command = [
        str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={report}",
        f"--only-categories={','.join(CATEGORIES)}", f"--chrome-path={CHROMIUM}",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage",
    ]
    if form_factor == "desktop":
        command.append("--preset=desktop")
    subprocess.run(command, check=True, timeout=240, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return json.loads(report.read_text())


def weight(report):
    """Bytes the page loaded, by resource type, from the network-requests audit."""
    by_type = {}
    for item in report["audits"]["network-requests"]["details"]["items"]:
        kind = item.get("resourceType", "Other")
        by_type[kind] = by_type.get(kind, 0) + int(item.get("transferSize") or 0)
    return by_type


def lost_points(report):
    """Audits scored below 1 that count towards a category, as 'category: title'."""
    out = []
    for name in CATEGORIES:
        for ref in report["categories"][name]["auditRefs"]:
            audit = report["audits"][ref["id"]]
            if ref.get("weight", 0) > 0 and audit.get("score") is not None and audit["score"] < 1:
                out.append(f"{name}: {audit['title']} ({audit.get('displayValue', audit['score'])})")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--form-factor", choices=["mobile", "desktop"], default="mobile")
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        sys.exit("bench/lighthouse.py: run `npm ci` first (node_modules/.bin/lighthouse is missing)")
    if not shutil.which(CHROMIUM) and not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"bench/lighthouse.py: no chromium at {CHROMIUM}")

    server, origin = serve()
    version = subprocess.run([str(LIGHTHOUSE), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"lighthouse {version}, {args.form_factor}, median of {args.runs} runs, site on the dev server (loopback)")
    ok = True
    try:
        for path in PAGES:
            scores = {c: [] for c in CATEGORIES}
            last = None
            for _ in range(args.runs):
                with tempfile.TemporaryDirectory() as out:
                    last = lighthouse(origin + path, args.form_factor, out)
                for c in CATEGORIES:
                    scores[c].append(round(last["categories"][c]["score"] * 100))
            bytes_by_type = weight(last)
            total = sum(bytes_by_type.values())
            line = "  ".join(f"{c} {statistics.median(v):.0f} {v}" for c, v in scores.items())
            kinds = ", ".join(f"{k} {v / 1024:.1f}" for k, v in sorted(bytes_by_type.items()))
            print(f"{path:19s} {line}")
            print(f"{'':19s} weight {total / 1024:.1f} KB ({kinds} KB); LCP "
                  f"{last['audits']['largest-contentful-paint']['displayValue']}, TBT "
                  f"{last['audits']['total-blocking-time']['displayValue']}, CLS "
                  f"{last['audits']['cumulative-layout-shift']['displayValue']}")
            for finding in lost_points(last):
                print(f"{'':19s} - {finding}")
            for c, target in TARGETS.items():
                if statistics.median(scores[c]) < target:
                    ok = False
                    print(f"{'':19s} MISSED {c} >= {target}")
            if path == "/" and total > HOME_BUDGET_BYTES:
                ok = False
                print(f"{'':19s} MISSED home page weight <= {HOME_BUDGET_BYTES / 1024:.0f} KB")
    finally:
        server.shutdown()
    print("targets:", "MET" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
