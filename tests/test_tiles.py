"""lib.tiles: the grid (no tile over the limit, full cover, shared bands) and a blend without seams."""

import numpy as np
import pytest
from PIL import Image, ImageFilter

from lib import tiles
from tests.support.images import photo

MP3 = 3_000_000
ENGINE_LIMIT = 2_500_000  # lib.engines.replicate.TILE_MAX_PIXELS: SCUNet fails over ~3 MP


def covered(grid):
    """How many tiles cover each pixel."""
    count = np.zeros((grid.height, grid.width), np.int32)
    for left, top, right, bottom in grid.boxes():
        count[top:bottom, left:right] += 1
    return count


@pytest.mark.parametrize("size, limit, expected_tiles", [
    ((4000, 3000), ENGINE_LIMIT, 6),  # a 12 MP phone photo: 3x2 tiles of 2.29 MP
    ((4000, 3000), MP3, 5),  # five strips of 2.78 MP: fewer tiles beat squarer ones
    ((3024, 4032), ENGINE_LIMIT, 6),  # a portrait phone photo
    ((8000, 5000), ENGINE_LIMIT, None),  # the contract's 40 MP
    ((1581, 1581), ENGINE_LIMIT, 1),  # just under the limit: sent whole
    ((3000, 1001), MP3, 2),
    ((12000, 400), ENGINE_LIMIT, None),  # a panorama
    ((400, 12000), ENGINE_LIMIT, None),
])
def test_no_tile_is_over_the_limit_and_every_pixel_is_covered(size, limit, expected_tiles):
    grid = tiles.plan(*size, limit)
    boxes = grid.boxes()
    assert all((r - l) * (b - t) <= limit for l, t, r, b in boxes)
    assert covered(grid).min() >= 1
    if expected_tiles is not None:
        assert len(boxes) == expected_tiles
    # Few tiles: at most twice what the pixel count alone needs.
    assert len(boxes) <= max(1, -(-size[0] * size[1] // limit)) * 2


def test_neighbours_share_a_band_of_the_overlap_centred_on_the_grid_line():
    grid = tiles.plan(4000, 3000, ENGINE_LIMIT, overlap=128)
    assert (grid.columns, grid.rows) == (3, 2)
    for c in range(1, grid.columns):
        left_end, right_start = grid.column_span(c - 1)[1], grid.column_span(c)[0]
        assert left_end - right_start == 128
        assert right_start == grid.xs[c] - 64
    assert grid.row_span(0) == (0, 1564) and grid.row_span(1) == (1436, 3000)
    assert covered(grid).max() == 4  # a corner where four tiles meet


def test_a_limit_below_the_overlap_is_refused():
    with pytest.raises(ValueError):
        tiles.plan(1000, 1000, 100, overlap=128)


def run_tiled(image, grid, model):
    return tiles.blend(grid, [model(image.crop(box), i) for i, box in enumerate(grid.boxes())])


def test_identity_tiles_give_back_the_image_exactly():
    image = photo("astronaut", (500, 360))
    grid = tiles.plan(*image.size, 40_000, overlap=32)
    assert grid.columns * grid.rows > 4
    out = run_tiled(image, grid, lambda tile, i: tile)
    assert out.size == image.size and out.tobytes() == image.tobytes()


def test_a_pixel_changing_model_gives_the_whole_image_result_away_from_borders():
    # A local operator with a receptive field (radius ~6) well inside the 64 px band: tiled and
    # whole differ only where a tile edge saw no context, and the ramp gives those pixels ~0 weight.
    image = photo("astronaut", (600, 450))
    model = lambda tile, i: tile.filter(ImageFilter.GaussianBlur(2)).point(lambda v: min(255, v * 1.1 + 3))  # noqa: E731
    whole = np.asarray(model(image, 0), np.int16)
    grid = tiles.plan(*image.size, 60_000, overlap=64)
    assert grid.columns >= 2 and grid.rows >= 2 and grid.columns * grid.rows >= 6
    tiled = np.asarray(run_tiled(image, grid, model), np.int16)
    inner = np.abs(tiled - whole)[8:-8, 8:-8]
    assert inner.max() <= 2 and inner.mean() < 0.05
    # The check can fail: cutting hard at the grid lines (no blend) leaves the tile-edge error in.
    hard = np.zeros_like(whole)
    for left, top, right, bottom in grid.boxes():
        hard[top:bottom, left:right] = np.asarray(model(image.crop((left, top, right, bottom)), 0), np.int16)
    assert np.abs(hard - whole)[8:-8, 8:-8].max() > 2


def test_a_brightness_offset_per_tile_leaves_no_step_at_the_seams():
    image = Image.new("RGB", (640, 480), (100, 100, 100))
    grid = tiles.plan(*image.size, 50_000, overlap=64)
    offsets = [(37 * i) % 60 for i in range(grid.rows * grid.columns)]
    assert max(offsets) - min(offsets) >= 40
    out = np.asarray(run_tiled(image, grid, lambda tile, i: tile.point(lambda v: v + offsets[i])), np.int16)
    steps = max(np.abs(np.diff(out, axis=0)).max(), np.abs(np.diff(out, axis=1)).max())
    # A raised cosine over 64 px changes by at most pi/2/64 of the offset per pixel: 60 -> ~1.5.
    assert steps <= 3
    # Without the blend the seam is the whole offset.
    hard = np.zeros_like(out)
    for i, (left, top, right, bottom) in enumerate(grid.boxes()):
        hard[top:bottom, left:right] = 100 + offsets[i]
    assert max(np.abs(np.diff(hard, axis=0)).max(), np.abs(np.diff(hard, axis=1)).max()) >= 20


def test_a_tile_the_model_rescaled_is_fitted_back_to_its_box():
    image = photo("coffee", (300, 200))
    grid = tiles.plan(*image.size, 20_000, overlap=32)
    out = run_tiled(image, grid, lambda tile, i: tile.resize((tile.width * 2, tile.height * 2)))
    assert out.size == image.size
    diff = np.abs(np.asarray(out, np.int16) - np.asarray(image, np.int16))
    assert diff.mean() < 3


def test_blend_consumes_the_results_and_checks_their_count():
    image = photo("coffee", (300, 200))
    grid = tiles.plan(*image.size, 20_000, overlap=32)
    results = [image.crop(box) for box in grid.boxes()]
    tiles.blend(grid, results)
    assert all(r is None for r in results)  # nothing held twice
    with pytest.raises(ValueError):
        tiles.blend(grid, [image])
