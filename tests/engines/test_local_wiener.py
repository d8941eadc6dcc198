"""The DCT Wiener pass (lib.engines.local.wiener): what it keeps, what it drops, where it stops."""

import numpy as np
import pytest
import skimage.data

from lib.engines.local import wiener
from tests.support.images import psnr


@pytest.fixture(scope="module")
def clean_and_noisy():
    clean = skimage.data.coffee()[:192, :256]
    noise = np.random.default_rng(0).normal(0, 20, clean.shape)
    return clean, np.clip(clean + noise + 0.5, 0, 255).astype(np.uint8)


def test_a_perfect_pilot_steers_the_noisy_photo_to_it(clean_and_noisy):
    # With the clean photo as pilot the gains are the oracle Wiener's: most of the noise goes, the
    # photo's own coefficients stay (a pass that returned the pilot would score infinity, hence < 60).
    clean, noisy = clean_and_noisy
    out = wiener.refine(noisy, clean, 20.0)
    assert out.shape == clean.shape and out.dtype == np.float32
    assert psnr(clean, noisy) + 8 <= psnr(clean, out) < 60


def test_a_flat_pilot_flattens(clean_and_noisy):
    # A pilot with no texture keeps only the block averages: the result is far smoother than the photo.
    clean, noisy = clean_and_noisy
    flat = np.full_like(clean, 128)
    out = wiener.refine(noisy, flat, 20.0)
    assert np.abs(np.diff(out, axis=1)).mean() < 0.3 * np.abs(np.diff(noisy.astype(np.float32), axis=1)).mean()


@pytest.mark.parametrize("sigma,shape", [(0.0, (64, 64, 3)), (20.0, (6, 40, 3)), (20.0, (40, 7, 3))],
                         ids=["no-noise", "thinner-than-a-block", "narrower-than-a-block"])
def test_nothing_to_filter_returns_the_pilot(sigma, shape):
    rng = np.random.default_rng(1)
    noisy = rng.integers(0, 256, shape, dtype=np.uint8)
    pilot = rng.integers(0, 256, shape, dtype=np.uint8)
    np.testing.assert_allclose(wiener.refine(noisy, pilot, sigma), pilot, atol=1e-3)


@pytest.mark.parametrize("plan,rows", [(((8, 4),), 192), (wiener.PLAN, 12)],
                         ids=["luminance-only-plan", "too-short-for-the-colour-blocks"])
def test_unfiltered_channels_keep_the_pilots_colour(clean_and_noisy, plan, rows):
    clean, noisy = clean_and_noisy[0][:rows], clean_and_noisy[1][:rows]
    pilot = (clean * 0.9).astype(np.uint8)
    out = wiener.refine(noisy, pilot, 20.0, plan)
    chroma = wiener._OPPONENT[1:].T
    np.testing.assert_allclose(out @ chroma, pilot.astype(np.float32) @ chroma, atol=1e-2)
    assert not np.allclose(out @ wiener._OPPONENT[0], pilot.astype(np.float32) @ wiener._OPPONENT[0], atol=1)


def test_the_colour_axes_are_filtered_too(clean_and_noisy):
    clean, noisy = clean_and_noisy
    out = wiener.refine(noisy, clean, 20.0)
    for axis in wiener._OPPONENT[1:]:
        assert not np.allclose(out @ axis, clean.astype(np.float32) @ axis, atol=1)


def test_a_stride_must_divide_its_block(clean_and_noisy):
    clean, noisy = clean_and_noisy
    with pytest.raises(ValueError):
        wiener.refine(noisy, clean, 20.0, ((8, 3),))
