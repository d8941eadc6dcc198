"""Writes the site's sample photos and the home page's before/after examples (run once, output committed).

    .venv/bin/python tools/make_samples.py        needs requirements-local.txt (the local CPU engine)

public/samples/<tool>.jpg          the photo "Try the sample" loads into the tool (640 px wide)
public/samples/<tool>-before.webp  the home page's example, before (320 px wide)
public/samples/<tool>-after.webp   the same after the tool ran on the local engine, through the real API

The photos are scikit-image's bundled ones (public domain / CC0; public/samples/README has each
source and licence). The denoise sample gets synthetic grain, the watermark sample a tiled text
mark drawn with Pillow's bundled Aileron font (CC0); the background one is left as it is.
Deterministic: the same inputs and engine give the same files.
"""

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "public" / "samples"
SAMPLE_WIDTH = 640
EXAMPLE_WIDTH = 320


def skimage_photo(name):
    from skimage import data

    return Image.fromarray(np.ascontiguousarray(getattr(data, name)()[..., :3]))


def resized(img, width):
    return img.resize((width, round(img.height * width / img.width)), Image.Resampling.LANCZOS)


def grainy(img):
    """Low-light grain: luminance and some colour noise, as a phone makes at high ISO."""
    rng = np.random.default_rng(7)
    pixels = np.asarray(img, dtype=np.float32)
    luma = rng.normal(0, 18, pixels.shape[:2])[..., None]
    chroma = rng.normal(0, 9, pixels.shape)
    return Image.fromarray(np.clip(pixels * 0.85 + luma + chroma, 0, 255).astype(np.uint8))


def watermarked(img):
    """A tiled, half-transparent white text mark over the whole photo, as stock previews carry."""
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default(size=34)
    for row, y in enumerate(range(30, img.height, 130)):
        for x in range(-60 + (row % 2) * 110, img.width, 260):
            draw.text((x, y), "© SAMPLE", font=font, fill=(255, 255, 255, 120))
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")


def jpeg(img, quality=90):
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
    return buf.getvalue()


def webp(img, quality=60):
    buf = io.BytesIO()
    img.save(buf, "WEBP", quality=quality, method=6)
    return buf.getvalue()


def run(client, tool, data):
    reply = client.post(f"/api/{tool}", data={"image": (io.BytesIO(data), f"{tool}.jpg")})
    if reply.status_code != 200:
        sys.exit(f"{tool}: {reply.status_code} {reply.get_data(as_text=True)[:200]}")
    return Image.open(io.BytesIO(reply.get_data()))


def main():
    from werkzeug.test import Client

    from dev import server as devserver

    client = Client(devserver.create_app())
    photos = {
        "denoise": grainy(resized(skimage_photo("chelsea"), SAMPLE_WIDTH)),
        "remove_bg": resized(skimage_photo("coffee"), SAMPLE_WIDTH),
        "remove_watermark": watermarked(resized(skimage_photo("rocket"), SAMPLE_WIDTH)),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    for tool, img in photos.items():
        data = jpeg(img)
        (OUT / f"{tool}.jpg").write_bytes(data)
        after = run(client, tool, data)
        (OUT / f"{tool}-before.webp").write_bytes(webp(resized(Image.open(io.BytesIO(data)), EXAMPLE_WIDTH)))
        (OUT / f"{tool}-after.webp").write_bytes(webp(resized(after, EXAMPLE_WIDTH)))
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1024:.1f} KB" for p in sorted(OUT.glob(f"{tool}*")))
        print(f"{tool}: {sizes}")


if __name__ == "__main__":
    main()
