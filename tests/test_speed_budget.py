"""The cheap, deterministic parts of the speed budget (issue 5, item 7); timings live in bench/speed_budget.py.

Each check runs in a fresh interpreter: sys.modules and the peak RSS of the pytest process reflect
every test that ran before, so only a new process can show what one import or one request costs.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMAGE_ENDPOINTS = ("denoise", "remove_bg", "remove_watermark", "watermark_mask")
# Heavy or Pro-only packages an image endpoint must not load when Vercel imports it: the ML stack
# (local engine only), Stripe (Pro endpoints only), the Replicate client (loaded on first run) and
# pi-heif's libheif (loaded on the first HEIF upload).
HEAVY = ("stripe", "numpy", "onnxruntime", "cv2", "skimage", "rembg", "pyoidn", "replicate", "httpx", "pi_heif",
         "pillow_heif")

CHILD_ENV_DROP = ("REDIS_URL", "REPLICATE_API_TOKEN", "REPLICATE_BASE_URL", "PYTHONPATH")


def run_child(code, stdin=b""):
    """Run Python code in a fresh interpreter at the repo root; its last stdout line, parsed as JSON."""
    env = {k: v for k, v in os.environ.items() if k not in CHILD_ENV_DROP}
    env.update(IMGMEND_ENGINE="local", RATE_LIMIT_PER_MINUTE="1000", FREE_DAILY_LIMIT="1000")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


@pytest.mark.parametrize("name", IMAGE_ENDPOINTS)
def test_importing_an_image_endpoint_loads_nothing_heavy(name):
    loaded = run_child(
        "import json, sys\n"
        f"import api.{name}\n"
        f"assert callable(api.{name}.app)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    assert loaded == []


def test_the_heif_parser_and_decoder_load_on_the_first_heif_upload_only():
    loaded = run_child(
        "import io, json, sys\n"
        "from tests.support.images import heic\n"
        "from PIL import Image\n"
        "data = heic(Image.new('RGB', (64, 64)))\n"
        "import api.denoise\n"
        "from lib import images\n"
        "before = sorted(m for m in ('lib.heif', 'pi_heif') if m in sys.modules)\n"
        "images.load_photo(data)\n"
        "after = sorted(m for m in ('lib.heif', 'pi_heif') if m in sys.modules)\n"
        "print(json.dumps([before, after]))\n"
    )
    assert loaded == [[], ["lib.heif", "pi_heif"]]


def test_the_heavy_list_is_detected_when_loaded():
    # The check above can fail: the same probe sees a heavy package once something imports it.
    loaded = run_child(
        "import json, sys\n"
        "import api.denoise, lib.engines.replicate\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    # (replicate's helpers also try numpy, which production does not install: no exact list.)
    assert {"httpx", "replicate"} <= set(loaded)


BOMB_CHILD = r"""
import io, json, sys
from PIL import ImageFile
from tests.support.hostile.build import png_bomb
from werkzeug.test import Client

def hwm_mb():
    # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over fork and exec).
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024

decodes = []
real_load = ImageFile.ImageFile.load
def spy(self):
    decodes.append(self.size)
    return real_load(self)
ImageFile.ImageFile.load = spy

import api.denoise
client = Client(api.denoise.app)
answers = []
for width, height, rows in SIZES:
    data = png_bomb(width, height, rows)
    before = hwm_mb()
    response = client.post("/api/denoise", data={"image": (io.BytesIO(data), "bomb.png", "image/png")})
    answers.append({"size": [width, height], "bytes": len(data), "status": response.status_code,
                    "code": response.get_json()["error"]["code"], "extra_mb": hwm_mb() - before})
print(json.dumps({"answers": answers, "decodes": decodes}))
"""


def test_a_pixel_bomb_is_refused_from_its_header_without_decoding_or_memory():
    # A valid bomb just over the 40 MP limit (117 KB -> 120 MB), and a header claiming 3.6 GP with one
    # row of body, far over Pillow's own guard too.
    sizes = [(8001, 5000, 5000), (60000, 60000, 1)]
    found = run_child(f"SIZES = {sizes!r}\n" + BOMB_CHILD)
    assert found["decodes"] == []  # no pixel decoded: refused from the header
    for answer in found["answers"]:
        assert answer["status"] == 413 and answer["code"] == "too_many_pixels", answer
        assert answer["bytes"] < 1_300_000  # small files (a real bomb), under the 4 MB cap
        # Decoding 8001x5000 RGB would need 120 MB; the refusal must stay far below that.
        assert answer["extra_mb"] < 50, answer


HEIF_BOMB_CHILD = r"""
import io, json, sys, time
from PIL import Image, ImageFile
from tests.support.hostile import isobmff
from tests.support.images import avif, heic
from werkzeug.test import Client

def hwm_mb():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024

small = Image.new("RGB", (64, 64), "gray")
bombs = [("heic", isobmff.set_ispe(heic(small), 9000, 9000), "image/heic"),
         ("avif", isobmff.set_ispe(avif(small), 9000, 9000), "image/avif")]
sys.modules.pop("pi_heif", None)
decodes = []
real_load = ImageFile.ImageFile.load
ImageFile.ImageFile.load = lambda self: decodes.append(self.size) or real_load(self)

import api.denoise
client = Client(api.denoise.app)
client.post("/api/denoise", data=b"not a photo", content_type="image/heic")  # the request path's first-use imports
answers = []
for name, data, ctype in bombs:
    for how in ("raw", "multipart"):
        before, started = hwm_mb(), time.perf_counter()
        if how == "raw":
            response = client.post("/api/denoise", data=data, content_type=ctype)
        else:
            response = client.post("/api/denoise", data={"image": (io.BytesIO(data), "IMG." + name, ctype)})
        answers.append({"name": name, "how": how, "bytes": len(data), "status": response.status_code,
                        "code": response.get_json()["error"]["code"], "ms": (time.perf_counter() - started) * 1000,
                        "extra_mb": hwm_mb() - before})
print(json.dumps({"answers": answers, "decodes": decodes, "pi_heif": "pi_heif" in sys.modules}))
"""


def test_a_heic_or_avif_claiming_81_mp_is_refused_from_its_header_without_a_decoder():
    """A 64x64 HEIC and AVIF whose ispe claims 9000x9000 (243 MB as RGB): 413 too_many_pixels from
    the header, pi-heif never even loaded, no pixel decoded, no memory to speak of."""
    found = run_child(HEIF_BOMB_CHILD)
    assert found["decodes"] == [] and found["pi_heif"] is False
    assert len(found["answers"]) == 4
    for answer in found["answers"]:
        assert answer["status"] == 413 and answer["code"] == "too_many_pixels", answer
        assert answer["bytes"] < 10_000 and answer["ms"] < 50 and answer["extra_mb"] < 10, answer
