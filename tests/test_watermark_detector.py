"""lib/watermark_detector.py: the learned watermark detector on numpy + Pillow, against its ONNX twin.

The network's probabilities must equal onnxruntime's (the ONNX export, tests/support/onnx_detector.py) to float
precision, its post-processing OpenCV's, so its masks are the ONNX detector's; it must run where
onnxruntime, OpenCV and scipy are missing (the Vercel bundle) and cost nothing to import.
15-35 s on the shared 2-core machine, most of it the two detectors on the same photos.
"""

import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from lib import watermark_detector
from tests.support import onnx_detector as watermark_model
from tests.support.images import photo
from tests.support.marks import centred_layer, precision_recall, tiled_layer, watermark

def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


@pytest.fixture(scope="module")
def ours():
    return watermark_detector.WatermarkDetector()


@pytest.fixture(scope="module")
def onnx():
    return watermark_model.WatermarkDetector(threads=2)


# ---------- the network ----------


def test_weights_ship_in_lib_models():
    assert watermark_detector.available()
    assert watermark_detector.MODEL.endswith("lib/models/watermark_detector.npz")
    with np.load(watermark_detector.MODEL, allow_pickle=False) as npz:
        assert sum(npz[name].size for name in npz.files) == 920833  # the 0.92 M-parameter U-Net


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])  # 512x512, 451x300, 600x400: padded or not
def test_probabilities_match_onnxruntime(ours, onnx, name):
    rgb = np.asarray(photo(name))
    expected = onnx.probability(rgb)
    got = ours.probability(rgb)
    assert got.shape == expected.shape == rgb.shape[:2] and got.dtype == np.float32
    assert np.abs(got - expected).max() < 1e-4


def test_probabilities_match_on_a_tiny_and_a_narrow_image(ours, onnx):
    rng = np.random.default_rng(5)
    for shape in [(5, 7, 3), (16, 16, 3), (20, 300, 3)]:  # edge-padded, exact, reflect-padded
        rgb = rng.integers(0, 256, shape, dtype=np.uint8)
        assert np.abs(ours.probability(rgb) - onnx.probability(rgb)).max() < 1e-4


def test_small_products_path_matches_too(onnx):
    # Where numpy's OpenBLAS cannot be held at one thread, every product is cut to _SERIAL_MACS instead.
    serial = watermark_detector.WatermarkDetector(threads=2)
    serial._pool.chunk_macs = watermark_detector._SERIAL_MACS
    rgb = np.asarray(photo("coffee"))
    assert np.abs(serial.probability(rgb) - onnx.probability(rgb)).max() < 1e-4


def test_openblas_held_at_one_thread_only_while_detecting(ours):
    blas = watermark_detector._serial_blas()
    if not blas.available:
        pytest.skip("numpy's BLAS here is not its bundled scipy-openblas")
    before = blas._get()
    seen = []
    original = ours._forward

    def spy(*args):
        seen.append(blas._get())
        return original(*args)

    ours._forward = spy
    try:
        ours.probability(np.zeros((32, 48, 3), np.uint8))
    finally:
        del ours._forward
    assert seen == [1] and blas._get() == before


# ---------- the mask ----------


@pytest.mark.parametrize("name, size, colour", [
    ("coffee", None, (0, 0, 0)),  # native size: no working copy
    ("rocket", None, (255, 255, 255)),
    ("chelsea", (1500, 998), (255, 255, 255)),  # a 1226x816 working copy (non-integer area scale)
])
def test_mask_matches_the_onnx_detector(ours, onnx, name, size, colour):
    clean = photo(name, size)
    marked = watermark(clean, tiled_layer(clean.size), 0.5, colour)
    mask = ours.detect(marked)
    assert mask.mode == "L" and mask.size == clean.size
    assert set(np.unique(np.asarray(mask))) <= {0, 255}
    expected = np.asarray(onnx.detect(marked)) > 127
    assert expected.sum() > 0.01 * expected.size  # the comparison is about a real mask
    assert iou(np.asarray(mask) > 127, expected) >= 0.98


def test_clean_photo_and_thick_blobs_as_the_onnx_detector(ours, onnx):
    # A clean photo: the few flagged specks and blobs the thickness and area rules keep or drop alike.
    clean = photo("astronaut")
    assert np.array_equal(np.asarray(ours.detect(clean)), np.asarray(onnx.detect(clean)))


@pytest.mark.parametrize("name, colour", [("coffee", (0, 0, 0)), ("rocket", (255, 255, 255))])
def test_finds_tiled_small_text(ours, name, colour):
    clean = photo(name)
    layer = tiled_layer(clean.size)
    mask = np.asarray(ours.detect(watermark(clean, layer, 0.5, colour))) > 127
    precision, recall = precision_recall(mask, layer)  # 2 px tolerance, as elsewhere
    assert precision >= 0.7 and recall >= 0.5, (precision, recall)


def test_big_photo_and_tiny_photo(ours):
    big = photo("rocket", (2400, 1601))  # ~3.8 MP: a ~1 MP working copy, the mask back at full size
    layer = centred_layer(big.size)
    mask = ours.detect(watermark(big, layer, 0.42))
    assert mask.mode == "L" and mask.size == big.size
    found, truth = np.asarray(mask) > 127, np.asarray(layer) > 0
    assert (found & truth).sum() / truth.sum() >= 0.6
    assert ours.detect(Image.new("RGB", (7, 5), (120, 130, 140))).size == (7, 5)
    assert ours.detect(Image.new("L", (40, 30), 90)).getextrema() == (0, 0)  # grey input, nothing to find


def test_concurrent_detections_agree_with_sequential_ones(ours):
    from concurrent.futures import ThreadPoolExecutor

    images = [watermark(photo(name), tiled_layer(photo(name).size), 0.5) for name in ("coffee", "chelsea", "rocket")]
    sequential = [np.asarray(ours.detect(im)) for im in images]
    with ThreadPoolExecutor(3) as pool:
        parallel = list(pool.map(lambda im: np.asarray(ours.detect(im)), images))
    assert all(np.array_equal(a, b) for a, b in zip(sequential, parallel))
    blas = watermark_detector._serial_blas()
    assert not blas._users  # every forward pass let go of the one-thread hold


def test_working_copy_size():
    assert watermark_detector._work_size(1224, 816) == (1224, 816)  # under 1 MP: the photo itself
    assert watermark_detector._work_size(4000, 3000) == (1155, 866)  # as the ONNX detector's
    assert watermark_detector._work_size(90000, 12) == (86603, 12)  # a side under 16 px is never enlarged
    index, weight = watermark_detector._area_taps(12, 12)
    assert np.array_equal(index[:, 0], np.arange(12)) and np.allclose(weight.sum(axis=1), 1)
    index, weight = watermark_detector._area_taps(4000, 1155)
    assert np.allclose(weight.sum(axis=1), 1, atol=1e-5) and index.max() == 3999


def test_module_level_detector_is_shared():
    first = watermark_detector.detect_watermark(Image.new("RGB", (32, 32), (10, 200, 30)))
    assert first.size == (32, 32) and watermark_detector._shared is not None
    shared = watermark_detector._shared
    watermark_detector.detect_watermark(Image.new("RGB", (16, 48)))
    assert watermark_detector._shared is shared


# ---------- post-processing pieces against OpenCV ----------


def random_mask(shape, seed, density=0.45, grow=1):
    """Blobby random masks: many components of all sizes, some touching the border."""
    rng = np.random.default_rng(seed)
    noise = (rng.random((shape[0] // 4 + 1, shape[1] // 4 + 1)) < density).astype(np.uint8)
    mask = cv2.resize(noise, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=grow) > 0 if grow else mask > 0


@pytest.mark.parametrize("shape, seed", [((120, 200), 1), ((300, 90), 2), ((257, 255), 3)])
def test_distance_transform_is_opencvs(shape, seed):
    mask = random_mask(shape, seed, grow=0)
    expected = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    got = watermark_detector._chamfer(mask)
    assert np.allclose(got[mask], expected[mask], atol=1e-3)
    assert np.isinf(watermark_detector._chamfer(np.ones((4, 6), bool))).all()  # no background: infinitely far


@pytest.mark.parametrize("shape, seed", [((120, 200), 4), ((300, 90), 5), ((500, 500), 6)])
def test_stroke_rule_is_the_onnx_detectors(shape, seed):
    found = random_mask(shape, seed)
    assert np.array_equal(watermark_detector._strokes(found), watermark_model._strokes(found).astype(bool))


def test_components_are_opencvs():
    found = random_mask((200, 300), 7, density=0.5, grow=0)
    count, labels = cv2.connectedComponents(found.astype(np.uint8), connectivity=8)
    row, start, end, component = watermark_detector._components(found)
    ours = np.zeros(found.shape, np.int64)
    for r, s, e, c in zip(row, start, end, component):
        ours[r, s:e] = c + 1
    assert len(np.unique(component)) == count - 1
    # The same partition: each of our components is exactly one of OpenCV's.
    pairs = set(zip(ours[found].tolist(), labels[found].tolist()))
    assert len(pairs) == count - 1
    assert watermark_detector._components(np.zeros((3, 4), bool))[0].size == 0


def test_dilation_and_resampling_are_opencvs():
    found = random_mask((90, 130), 8, density=0.1, grow=0)
    assert np.array_equal(watermark_detector._dilate3(found), cv2.dilate(found.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    up = cv2.resize(found.astype(np.float32), (397, 271), interpolation=cv2.INTER_LINEAR) > 0.25
    assert (watermark_detector._upsample(found, 397, 271) != up).mean() < 1e-3
    big = photo("chelsea", (1203, 802))
    expected = cv2.resize(np.asarray(big), (517, 345), interpolation=cv2.INTER_AREA).astype(int)
    got = watermark_detector._area_resize(big, 517, 345).astype(int)
    assert np.abs(got - expected).max() <= 1 and (got != expected).mean() < 0.01


# ---------- production constraints ----------


def run_python(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_runs_without_onnxruntime_opencv_or_scipy():
    code = (
        "import sys\n"
        "for name in ('onnxruntime', 'cv2', 'scipy', 'skimage', 'torch'): sys.modules[name] = None\n"
        "from PIL import Image, ImageDraw, ImageFont\n"
        "from lib.watermark_detector import detect_watermark\n"
        "im = Image.new('RGB', (480, 320), (70, 110, 60))\n"
        "font = ImageFont.load_default(size=64)\n"
        "ImageDraw.Draw(im).text((60, 120), 'SAMPLE', fill=(200, 220, 190), font=font)\n"
        "m = detect_watermark(im); print(m.mode, m.size, m.getbbox() is not None)\n"
        "print(sorted(n for n in ('onnxruntime', 'cv2', 'scipy') if sys.modules.get(n) is not None))\n"
    )
    assert run_python(code) == "L (480, 320) True\n[]"


def test_import_costs_nothing():
    code = ("import sys, lib.watermark_detector\n"
            "print(sorted(m for m in ('numpy', 'PIL', 'concurrent.futures') if m in sys.modules))")
    assert run_python(code) == "[]"
