"""Synthetic watermarks for the detector and remover tests: coverage layers blended into real photos."""

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def centred_layer(size, text="SAMPLE", font_share=0.16):
    """One large word in the middle: white-on-black coverage (mode L)."""
    layer = Image.new("L", size, 0)
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default(size=int(size[0] * font_share))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((size[0] - right + left) // 2 - left, (size[1] - bottom + top) // 2 - top), text, fill=255, font=font)
    return layer


def tiled_layer(size, text="© photo", font_share=0.06, angle=30):
    """Small text tiled over the whole photo at an angle (mode L): what the Pillow heuristic mostly misses."""
    w, h = size
    side = int((w * w + h * h) ** 0.5) + 40
    big = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(big)
    font = ImageFont.load_default(size=int(w * font_share))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    for row, y in enumerate(range(0, side, int((bottom - top) * 3.2))):
        for x in range(-(row % 2) * (right - left), side, int((right - left) * 1.6)):
            draw.text((x - left, y - top), text, fill=255, font=font)
    big = big.rotate(angle, resample=Image.BILINEAR)
    return big.crop(((side - w) // 2, (side - h) // 2, (side - w) // 2 + w, (side - h) // 2 + h))


def watermark(image, layer, opacity, colour=(255, 255, 255)):
    """The image with `colour` blended in through `layer` at `opacity`."""
    alpha = np.asarray(layer, np.float32)[..., None] / 255 * opacity
    out = np.asarray(image, np.float32) * (1 - alpha) + np.array(colour, np.float32) * alpha
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")


def footprint_and_mask(layer):
    """(footprint bool, mask uint8 0/255): the mark's pixels and a generous mask grown by 2 px, like a brush."""
    import cv2

    truth = np.asarray(layer) > 0
    return truth, (cv2.dilate(truth.astype(np.uint8), np.ones((5, 5), np.uint8)) * 255).astype(np.uint8)


def box_round(truth, pad=8):
    """A rectangle `pad` px round the mark's footprint (uint8 0/255), as the editor's Box tool draws it."""
    ys, xs = np.nonzero(truth)
    box = np.zeros(truth.shape, np.uint8)
    box[max(0, ys.min() - pad) : ys.max() + pad + 1, max(0, xs.min() - pad) : xs.max() + pad + 1] = 255
    return box


def precision_recall(found, layer, tolerance=5):
    """Pixel precision (within `tolerance` px of a mark) and recall of a boolean mask against a layer."""
    import cv2

    truth = np.asarray(layer) > 0
    near = cv2.dilate(truth.astype(np.uint8), np.ones((tolerance, tolerance), np.uint8)) > 0
    return (found & near).sum() / max(found.sum(), 1), (found & truth).sum() / truth.sum()
