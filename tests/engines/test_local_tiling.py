"""lib/engines/local/tiling.py: the repeats of a tiled mark, and each pixel read from all its copies."""

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from lib.engines.local import tiling
from tests.support.marks import centred_layer, footprint_and_mask, tiled_layer


def _coverage(layer):
    """(coverage 0..1, mask) of a mark layer, the mask grown by 2 px as a brush draws it."""
    _, mask = footprint_and_mask(layer)
    marks = mask > 0
    return np.where(marks, np.asarray(layer, np.float32) / 255, 0).astype(np.float32), marks


def _misfit(coverage, marks, dy, dx):
    """Mean absolute difference between the coverage and itself moved by (dy, dx) (bilinear, scipy),
    over the masked pixels whose moved position is masked too."""
    ys, xs = np.nonzero(marks)
    ty, tx = ys + dy, xs + dx
    inside = map_coordinates(marks.astype(np.float32), [ty, tx], order=1, cval=0) >= 0.999
    moved = map_coordinates(coverage, [ty, tx], order=1, cval=0)
    return float(np.abs(coverage[ys, xs] - moved)[inside].mean())


@pytest.mark.parametrize(("size", "text"), [((512, 384), "© photo"), ((640, 427), "SAMPLE")])
def test_a_tiled_mark_repeats_under_the_shifts_found(size, text):
    coverage, marks = _coverage(tiled_layer(size, text))
    shifts = tiling.repeats(coverage, marks)
    assert len(shifts) >= 4
    assert all((-dy, -dx) in shifts for dy, dx in shifts)  # both signs
    # Each shift maps the mark onto itself far better than a shift that is not a repeat (13, 7 px).
    # The tiler rounds each copy to whole pixels, so some copies fit less well (0.12-0.14 of 0.34-0.40
    # misfit); the strongest repeats fit within 0.035.
    control = _misfit(coverage, marks, 13, 7)
    misfits = [_misfit(coverage, marks, dy, dx) for dy, dx in shifts]
    assert max(misfits) < 0.5 * control, (shifts, misfits, control)
    assert sum(m < 0.1 * control for m in misfits) >= 4, (shifts, misfits, control)  # two, both signs


def test_a_centred_word_does_not_repeat():
    coverage, marks = _coverage(centred_layer((512, 384)))
    assert tiling.repeats(coverage, marks) == []


def test_an_empty_or_tiny_mask_does_not_repeat():
    assert tiling.repeats(np.zeros((64, 64), np.float32), np.zeros((64, 64), bool)) == []


def test_copies_median_outvotes_the_copy_a_photo_spoils():
    # One pattern stamped four times along x, 40 px apart; copy 2 reads 0.9 everywhere (the photo
    # under it happened to look like the mark). Each pixel's median ignores it.
    rng = np.random.default_rng(1)
    tile = rng.uniform(0, 1, (20, 30)).astype(np.float32)
    coverage, marks = np.zeros((30, 170), np.float32), np.zeros((30, 170), bool)
    for k in range(4):
        coverage[5:25, 5 + 40 * k:35 + 40 * k] = 0.9 if k == 2 else tile
        marks[5:25, 5 + 40 * k:35 + 40 * k] = True
    shifts = [(0.0, 40.0 * k) for k in (1, 2, 3)] + [(0.0, -40.0 * k) for k in (1, 2, 3)]
    ys, xs = np.nonzero(marks)
    median, copies = tiling.copies_median(coverage, marks, ys, xs, shifts)
    assert (copies == 3).all()  # every copy sees the three others, none falls outside the mask
    truth = tile[ys - 5, (xs - 5) % 40]
    first = xs < 35
    # four readings, three of them the tile's: the median is the tile's reading, the spoiled one outvoted
    assert np.abs(median[first] - truth[first]).max() < 1e-5
    on_spoiled = (xs >= 85) & (xs < 115)
    assert np.abs(median[on_spoiled] - truth[on_spoiled]).max() < 1e-5


def test_copies_median_reads_between_pixels_and_skips_copies_off_the_mask():
    # A ramp along x moved by half a pixel reads halfway between neighbours; a copy whose bilinear
    # footprint leaves the mask does not count.
    coverage = np.tile(np.linspace(0, 1, 50, dtype=np.float32), (10, 1))
    marks = np.ones((10, 50), bool)
    ys, xs = np.array([5, 5]), np.array([10, 49])
    median, copies = tiling.copies_median(coverage, marks, ys, xs, [(0.0, 0.5)])
    assert copies.tolist() == [1, 0]
    assert median[0] == pytest.approx((coverage[5, 10] + (coverage[5, 10] + coverage[5, 11]) / 2) / 2, abs=1e-4)
    assert median[1] == pytest.approx(coverage[5, 49])
