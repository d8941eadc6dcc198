"""The operator's stats page in a real browser: token asked for, kept in memory only, numbers drawn."""

import json

from tests.support.browser import ARTIFACTS, run_tool, upload

ADMIN = "admin-token-for-the-browser-test-0123456789"


def test_stats_page_draws_the_counts_and_keeps_no_token(visit, photo_file, monkeypatch):
    monkeypatch.setenv("IMGMEND_ADMIN_TOKEN", ADMIN)
    # Playwright's own UA says "HeadlessChrome", which counts as a bot: browse as a person would.
    v = visit(user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/131.0.6778.85 Safari/537.36")
    for path in ("/", "/denoise", "/pro"):
        v.goto(path)
    page = v.goto("/denoise")
    upload(page, photo_file)
    run_tool(page)
    page.goto(v.site + "/admin/stats")
    page.fill("#token", "wrong-token")
    page.click("#login button[type=submit]")
    page.wait_for_function("document.getElementById('status').textContent.length > 0")
    assert page.locator("#report svg").count() == 0
    page.fill("#token", ADMIN)
    page.click("#login button[type=submit]")
    page.locator("#report svg").first.wait_for()
    text = page.text_content("#report")
    for expected in ("/denoise", "/pro", "Chrome 131", "desktop", "Runs of denoise by outcome"):
        assert expected in text, expected
    reply = page.request.get(v.site + "/api/stats?days=1", headers={"Authorization": f"Bearer {ADMIN}"})
    stats = reply.json()
    (ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "admin-stats.png"), full_page=True)
    (ARTIFACTS / "stats-sample.json").write_text(json.dumps(stats, indent=2))
    assert page.evaluate("[Object.keys(localStorage).length, Object.keys(sessionStorage).length, document.cookie]") \
        == [0, 0, ""]
    assert ADMIN not in page.url
    assert v.foreign_requests() == []
    assert [e for e in v.errors if "401" not in e] == []  # the wrong token's refusal is the only one
