"""dev.reload: edits under api/ and lib/ are picked up by the next request, without a restart."""

import os


from dev import server as devserver
from tests.support.dev_site import HELLO, write


# --- reload without restart -----------------------------------------------------------------------

def test_api_edit_is_picked_up_without_restart(site, client):
    assert client.get("/api/hello").json["version"] == 1
    write(site / "api" / "hello.py", HELLO.replace('seen["version"] = 1', 'seen["version"] = 22'))
    assert client.get("/api/hello").json["version"] == 22


def test_same_size_edit_is_picked_up(site, client):
    path = site / "api" / "hello.py"
    assert client.get("/api/hello").json["version"] == 1
    before = path.stat().st_mtime_ns
    path.write_text(HELLO.replace('seen["version"] = 1', 'seen["version"] = 2'))
    # Same size and (almost always) the same second: a .pyc, if one were used, would look current.
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    assert client.get("/api/hello").json["version"] == 2


def test_lib_edit_reloads_the_api_modules(site):
    server = devserver.create_app(site)
    first = server.api.app_for("hello")
    assert server.api.app_for("hello") is first  # cached while nothing changes
    write(site / "lib" / "helper.py", "VALUE = 2  # edited\n")
    assert server.api.app_for("hello") is not first


def test_new_and_deleted_modules(site, client):
    write(site / "api" / "later.py", HELLO)
    assert client.get("/api/later").status_code == 200
    (site / "api" / "later.py").unlink()
    assert client.get("/api/later").status_code == 404
