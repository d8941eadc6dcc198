"""Train the local engine's watermark detector and remover on synthetic marks; export both to ONNX.

Run once on a GPU machine (the ONNX export and the log are committed under tools/models/; then
tools/export_detector_weights.py writes the weights both engines run, lib/models/watermark_detector.npz):
    python tools/train_watermark.py --assets .wmtrain --out OUT --minutes 7
CPU smoke test (under a minute, mostly imports and the ONNX export):
    python tools/train_watermark.py --assets .wmtrain --out /tmp/wm --steps 3 --crop 64 --batch 2 --workers 0
Writes train.log, watermark_detector.onnx, watermark_remover.onnx and the PyTorch state dicts.
Only the detector ships: the remover (same U-Net, image + mask in, residual inside the mask) lost
to the reverse alpha blend of lib/engines/local/watermark.py on bench/quality.py after one 7-minute
run (23.2 vs 24.9 dB inside text marks), so it stays here for a longer training run.

--assets holds fonts/ (TTF/TTC files) and photos/ (PNG/JPEG). Photos also come from scikit-learn's
sample images and matplotlib's sample_data where those packages are installed, plus procedural
textures. The bench photos (astronaut, chelsea/cat, coffee, rocket) are never used.
Marks follow out = (1 - a*c)*B + a*c*M: c = anti-aliased coverage, a = opacity, M = mark colour.
Detector target: c > 0. Remover target: the clean photo B inside the (grown) mask.
Needs torch, onnx, numpy, Pillow, opencv-python-headless (not part of the project's requirements).
"""

import argparse
import collections
import glob
import io
import math
import os
import random
import time

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

BENCH_PHOTOS = ("astronaut", "chelsea", "cat", "coffee", "rocket")  # evaluation only: never trained on
WORDS = ["SAMPLE", "PREVIEW", "watermark", "COPYRIGHT", "Stock Photo", "DRAFT", "CONFIDENTIAL", "PROOF",
         "© 2024 Studio", "© Photo Agency", "photo by Alex", "www.example.com", "@username", "Not for sale",
         "DO NOT COPY", "shutter", "LICENSED", "Made with app", "demo", "TRIAL VERSION"]
CJK_WORDS = ["水印", "样片", "版权所有", "预览", "仅供参考", "图片来源", "摄影"]


# ---------- photos ----------


def load_photos(assets):
    """List of uint8 RGB arrays (grey photos stay 2-D and are tinted per sample)."""
    paths = sorted(glob.glob(os.path.join(assets, "photos", "*")))
    try:  # matplotlib ships a few sample photos
        import matplotlib

        paths += sorted(glob.glob(os.path.join(matplotlib.get_data_path(), "sample_data", "*.[jp][pn]g")))
    except ImportError:
        pass
    photos = []
    for path in paths:
        if any(name in os.path.basename(path).lower() for name in BENCH_PHOTOS):
            continue
        try:
            image = Image.open(path)
            image.load()
        except Exception:
            continue
        if min(image.size) < 160:
            continue
        photos.append(np.asarray(image.convert("L" if image.mode in ("L", "I", "I;16", "1") else "RGB")))
    try:  # scikit-learn's china.jpg and flower.jpg
        from sklearn.datasets import load_sample_images

        photos += [np.asarray(p) for p in load_sample_images().images]
    except Exception:
        pass
    return photos


def procedural(rng, size):
    """A photo-like texture: smooth colour fields, blobs, stripes and grain."""
    h = w = size
    out = np.zeros((h, w, 3), np.float32)
    for _ in range(rng.integers(1, 4)):
        small = rng.uniform(0, 255, (rng.integers(2, 9), rng.integers(2, 9), 3)).astype(np.float32)
        out += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    out /= max(1, out.max() / 255)
    if rng.random() < 0.5:
        layer = Image.new("RGB", (w, h))
        draw = ImageDraw.Draw(layer)
        for _ in range(rng.integers(3, 25)):
            x0, y0 = rng.integers(-w // 4, w, 2)
            x1, y1 = x0 + rng.integers(4, w // 2), y0 + rng.integers(4, h // 2)
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
        blur = rng.uniform(0, 3)
        shapes = np.asarray(layer.filter(ImageFilter.GaussianBlur(blur)), np.float32)
        out = 0.5 * out + 0.5 * shapes
    if rng.random() < 0.3:
        t = rng.uniform(0.02, 0.3)
        yy, xx = np.mgrid[0:h, 0:w]
        out *= (0.75 + 0.25 * np.sin(t * (xx * math.cos(t * 7) + yy * math.sin(t * 7))))[..., None]
    out += rng.normal(0, rng.uniform(0, 12), out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def photo_crop(rng, photos, size):
    """A size x size augmented crop of a random photo (or a procedural texture)."""
    if not photos or rng.random() < 0.15:
        return procedural(rng, size)
    src = photos[rng.integers(len(photos))]
    h, w = src.shape[:2]
    scale = rng.uniform(0.35, 1.6) * max(size / min(h, w), 0.25)
    scale = max(scale, size / min(h, w))  # the crop must fit
    img = cv2.resize(src, (max(size, round(w * scale)), max(size, round(h * scale))),
                     interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    y, x = rng.integers(0, img.shape[0] - size + 1), rng.integers(0, img.shape[1] - size + 1)
    img = img[y:y + size, x:x + size].astype(np.float32)
    if img.ndim == 2:  # tint grey photos so they look like colour ones
        img = img[..., None] * rng.uniform(0.55, 1.0, 3).astype(np.float32)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    if rng.random() < 0.3:
        img = np.rot90(img, rng.integers(1, 4))
    # Colour jitter: gain, offset, saturation, gamma.
    img = img * rng.uniform(0.7, 1.25) + rng.uniform(-30, 30)
    grey = img.mean(-1, keepdims=True)
    img = grey + (img - grey) * rng.uniform(0.4, 1.5)
    img = np.clip(img, 0, 255)
    img = 255 * (img / 255) ** rng.uniform(0.7, 1.4)
    return np.ascontiguousarray(np.clip(img, 0, 255)).astype(np.uint8)


# ---------- marks ----------


class Fonts:
    """Font files plus Pillow's built-in scalable font; CJK text only with a CJK font."""

    def __init__(self, assets):
        files = sorted(glob.glob(os.path.join(assets, "fonts", "*.tt[fc]")) + glob.glob(os.path.join(assets, "fonts", "*.otf")))
        self.latin = [f for f in files if "CJK" not in f]
        self.cjk = [f for f in files if "CJK" in f]

    def pick(self, rng, px, cjk=False):
        px = max(6, int(px))
        pool = self.cjk if cjk and self.cjk else self.latin + [None]
        path = pool[rng.integers(len(pool))]
        if path is None:
            return ImageFont.load_default(size=px)
        return ImageFont.truetype(path, px)


def random_text(rng, fonts):
    r = rng.random()
    if r < 0.5:
        return WORDS[rng.integers(len(WORDS))], False
    if r < 0.65 and fonts.cjk:
        return CJK_WORDS[rng.integers(len(CJK_WORDS))], True
    chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .@©-"
    n = rng.integers(3, 13)
    return "".join(chars[i] for i in rng.integers(0, len(chars), n)).strip() or "X", False


def _draw_text(draw, xy, text, font, rng):
    size = getattr(font, "size", 12)
    stroke = int(rng.integers(1, max(2, size // 14))) if size >= 18 and rng.random() < 0.12 else 0
    if stroke and rng.random() < 0.5:  # outline-only lettering
        draw.text(xy, text, fill=0, font=font, stroke_width=stroke, stroke_fill=255)
    else:
        draw.text(xy, text, fill=255, font=font, stroke_width=stroke, stroke_fill=255)


def mark_single_text(rng, fonts, size):
    text, cjk = random_text(rng, fonts)
    font = fonts.pick(rng, size * rng.uniform(0.05, 0.3), cjk)
    side = int(size * 1.5)
    layer = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(layer)
    l, t, r, b = draw.textbbox((0, 0), text, font=font)
    x = side // 2 - (r - l) // 2 - l + int(rng.normal(0, size * 0.25))
    y = side // 2 - (b - t) // 2 - t + int(rng.normal(0, size * 0.25))
    _draw_text(draw, (x, y), text, font, rng)
    if rng.random() < 0.5:
        layer = layer.rotate(rng.uniform(-60, 60), resample=Image.BILINEAR)
    o = (side - size) // 2
    return layer.crop((o, o, o + size, o + size))


def mark_tiled_text(rng, fonts, size):
    text, cjk = random_text(rng, fonts)
    font = fonts.pick(rng, size * rng.uniform(0.035, 0.14), cjk)
    side = int(size * 1.6)
    layer = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(layer)
    l, t, r, b = draw.textbbox((0, 0), text, font=font)
    tw, th = max(1, r - l), max(1, b - t)
    step_x, step_y = int(tw * rng.uniform(1.1, 2.2)), int(th * rng.uniform(1.8, 4.5))
    stagger = rng.random() < 0.6
    ox, oy = rng.integers(0, step_x), rng.integers(0, step_y)
    # Render the text once and paste it: the same lettering everywhere, and much faster.
    pad = 8
    tile = Image.new("L", (tw + 2 * pad, th + 2 * pad), 0)
    _draw_text(ImageDraw.Draw(tile), (pad - l, pad - t), text, font, rng)
    for row, y in enumerate(range(-oy, side, step_y)):
        for x in range(-ox - (row % 2) * step_x // 2 * stagger, side, step_x):
            layer.paste(tile, (x - pad, y - pad), tile)
    angle = rng.uniform(-50, 50) if rng.random() < 0.8 else 0
    layer = layer.rotate(angle, resample=Image.BILINEAR)
    o = (side - size) // 2
    return layer.crop((o, o, o + size, o + size))


def mark_logo(rng, fonts, size):
    ss = 4  # shapes are drawn at 4x and box-filtered: anti-aliased like text
    big = Image.new("L", (size * ss, size * ss), 0)
    draw = ImageDraw.Draw(big)
    radius = int(size * ss * rng.uniform(0.04, 0.2))
    cx, cy = rng.integers(0, size * ss, 2)
    width = max(ss, int(radius * rng.uniform(0.08, 0.35)))
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    kind = rng.integers(4)
    fill = rng.random() < 0.35
    if kind == 0:
        draw.ellipse(box, outline=255, width=width, fill=255 if fill else None)
    elif kind == 1:
        draw.rounded_rectangle(box, radius=radius // 3, outline=255, width=width, fill=255 if fill else None)
    elif kind == 2:
        n = rng.integers(3, 9)
        pts = [(cx + radius * (0.5 + 0.5 * (i % 2 == 0)) * math.cos(2 * math.pi * i / (2 * n)),
                cy + radius * (0.5 + 0.5 * (i % 2 == 0)) * math.sin(2 * math.pi * i / (2 * n))) for i in range(2 * n)]
        draw.polygon(pts, outline=255, fill=255 if fill else None, width=width)
    else:
        draw.arc(box, rng.uniform(0, 180), rng.uniform(200, 360), fill=255, width=width)
        draw.line((cx - radius, cy, cx + radius, cy), fill=255, width=width)
    layer = big.resize((size, size), Image.BOX)
    if rng.random() < 0.7:  # shape + text, like a brand mark
        text, cjk = random_text(rng, fonts)
        font = fonts.pick(rng, radius / ss * rng.uniform(0.6, 1.3), cjk)
        draw = ImageDraw.Draw(layer)
        l, t, r, b = draw.textbbox((0, 0), text, font=font)
        x = (cx + radius) // ss + radius // (2 * ss)
        if rng.random() < 0.3 or not fill:
            x = cx // ss - (r - l) // 2 if rng.random() < 0.3 else x
        _draw_text(draw, (x - l, cy // ss - (b - t) // 2 - t), text, font, rng)
    return layer


def random_mark(rng, fonts, size):
    """Coverage layer (float32 0..1); several marks now and then."""
    makers = (mark_single_text, mark_tiled_text, mark_logo)
    cover = np.zeros((size, size), np.float32)
    for _ in range(1 if rng.random() < 0.85 else 2):
        make = makers[rng.choice(3, p=(0.35, 0.4, 0.25))]
        cover = np.maximum(cover, np.asarray(make(rng, fonts, size), np.float32) / 255)
    if rng.random() < 0.1:  # soft-edged marks (blurred or upscaled)
        cover = cv2.GaussianBlur(cover, (0, 0), rng.uniform(0.5, 1.5))
    return cover


def mark_colour(rng):
    r = rng.random()
    if r < 0.42:
        return np.full(3, rng.uniform(235, 255), np.float32)
    if r < 0.72:
        return np.full(3, rng.uniform(0, 25), np.float32)
    if r < 0.85:
        return np.full(3, rng.uniform(60, 200), np.float32)
    return rng.uniform(0, 255, 3).astype(np.float32)


def sample(rng, photos, fonts, size):
    """(marked uint8 HxWx3, clean uint8, coverage float32 HxW) for one synthetic example."""
    clean = photo_crop(rng, photos, size)
    if rng.random() < 0.1:
        cover = np.zeros((size, size), np.float32)
    else:
        cover = random_mark(rng, fonts, size)
    opacity = rng.uniform(0.15, 0.9) if rng.random() < 0.8 else rng.uniform(0.25, 0.75)
    alpha = (cover * opacity)[..., None]
    marked = clean.astype(np.float32) * (1 - alpha) + mark_colour(rng) * alpha
    if rng.random() < 0.15:
        marked += rng.normal(0, rng.uniform(1, 6), marked.shape)
    marked = np.clip(marked + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:  # marked photos are often re-saved as JPEG
        buf = io.BytesIO()
        Image.fromarray(marked).save(buf, "JPEG", quality=int(rng.integers(60, 96)))
        marked = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return marked, clean, cover


# ---------- models ----------


def build_models():
    import torch
    from torch import nn

    class Block(nn.Sequential):
        def __init__(self, cin, cout):
            super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                             nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class UNet(nn.Module):
        """Plain U-Net: max-pool down, nearest-neighbour up; input sides must be multiples of 16."""

        def __init__(self, cin, cout, widths):
            super().__init__()
            self.down = nn.ModuleList()
            c = cin
            for w in widths:
                self.down.append(Block(c, w))
                c = w
            self.up = nn.ModuleList(Block(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(len(widths) - 1)))
            self.head = nn.Conv2d(widths[0], cout, 1)

        def forward(self, x):
            skips = []
            for i, block in enumerate(self.down):
                x = block(x)
                if i < len(self.down) - 1:
                    skips.append(x)
                    x = nn.functional.max_pool2d(x, 2)
            for block in self.up:
                x = nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")
                x = block(torch.cat([x, skips.pop()], 1))
            return self.head(x)

    class Detector(nn.Module):
        """RGB 0..1 -> probability that a pixel carries a mark."""

        def __init__(self):
            super().__init__()
            self.net = UNet(3, 1, (16, 32, 64, 96, 128))

        def forward(self, image):
            return self.net(image * 2 - 1)

    class Remover(nn.Module):
        """RGB 0..1 + mask 0/1 -> the RGB with the masked pixels restored (residual inside the mask)."""

        def __init__(self):
            super().__init__()
            self.net = UNet(4, 3, (16, 32, 64, 96, 128))

        def forward(self, image, mask):
            residual = self.net(torch.cat([image * 2 - 1, mask], 1))
            return image + mask * (torch.clamp(image + residual, 0, 1) - image)

    return Detector(), Remover()


# ---------- training ----------


def make_batch(rng, photos, fonts, crop, batch):
    """numpy (marked, clean, target, mask), uint8 NCHW; mask = the footprint grown 0-4 px, like a brush."""
    out = [np.empty((batch, c, crop, crop), np.uint8) for c in (3, 3, 1, 1)]
    for i in range(batch):
        marked, clean, cover = sample(rng, photos, fonts, crop)
        grow = int(rng.integers(0, 5))
        target = (cover > 0).astype(np.uint8)
        mask = cv2.dilate(target, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) if grow else target
        out[0][i], out[1][i] = marked.transpose(2, 0, 1), clean.transpose(2, 0, 1)
        out[2][i, 0], out[3][i, 0] = target, mask
    return out


_POOL = {}


def _pool_init(seed, photos, fonts, crop, batch):
    _POOL.update(rng=np.random.default_rng([seed, os.getpid()]), photos=photos, fonts=fonts, crop=crop, batch=batch)


def _pool_batch(_):
    return make_batch(_POOL["rng"], _POOL["photos"], _POOL["fonts"], _POOL["crop"], _POOL["batch"])


def batches(args, photos, fonts, log):
    """Endless stream of torch uint8 batches from worker processes.

    A DataLoader passes tensors through /dev/shm; where that is small, a process pool and pipes.
    """
    import shutil

    import torch

    if args.workers == 0:
        rng = np.random.default_rng(args.seed)
        while True:
            yield [torch.from_numpy(a) for a in make_batch(rng, photos, fonts, args.crop, args.batch)]
    try:
        shm = shutil.disk_usage("/dev/shm").free
    except OSError:
        shm = 0
    if shm > 4 * 2**30 and not os.environ.get("WM_POOL"):
        class Stream(torch.utils.data.IterableDataset):
            def __iter__(self):
                info = torch.utils.data.get_worker_info()
                rng = np.random.default_rng([args.seed, info.id if info else 0])
                while True:
                    yield [torch.from_numpy(a) for a in make_batch(rng, photos, fonts, args.crop, args.batch)]

        loader = torch.utils.data.DataLoader(Stream(), batch_size=None, num_workers=args.workers,
                                             pin_memory=args.device == "cuda", prefetch_factor=4)
        try:
            for item in loader:
                yield item
        except RuntimeError as exc:  # a worker died (e.g. out of shared memory): go on with pipes
            log(f"DataLoader failed ({exc}); switching to a process pool")
    else:
        log(f"/dev/shm has {shm / 2**30:.1f} GiB free: using a process pool")
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(args.workers, _pool_init, (args.seed + 1, photos, fonts, args.crop, args.batch)) as pool:
        pending = collections.deque(pool.apply_async(_pool_batch, (0,)) for _ in range(2 * args.workers))
        while True:  # a bounded queue: results must not pile up faster than training eats them
            item = pending.popleft().get()
            pending.append(pool.apply_async(_pool_batch, (0,)))
            yield [torch.from_numpy(a) for a in item]


def export(model, inputs, names, path):
    import torch

    model.eval()
    dynamic = {n: {2: "height", 3: "width"} for n in names + ["output"]}
    kwargs = dict(input_names=names, output_names=["output"], dynamic_axes=dynamic, opset_version=17)
    try:
        torch.onnx.export(model, inputs, path, dynamo=False, **kwargs)
    except TypeError:
        torch.onnx.export(model, inputs, path, **kwargs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", default=".wmtrain")
    parser.add_argument("--out", required=True)
    parser.add_argument("--minutes", type=float, default=7.0, help="training wall-clock budget")
    parser.add_argument("--steps", type=int, default=10**9)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=14)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    args.device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cudnn.benchmark = True
    os.makedirs(args.out, exist_ok=True)
    log_file = open(os.path.join(args.out, "train.log"), "a")

    def log(*parts):
        line = " ".join(str(p) for p in parts)
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    torch.manual_seed(args.seed)
    photos, fonts = load_photos(args.assets), Fonts(args.assets)
    log(f"device {args.device}; {len(photos)} photos; fonts {len(fonts.latin)} latin + built-in, {len(fonts.cjk)} CJK;"
        f" crop {args.crop}, batch {args.batch}, {args.minutes} min")
    detector, remover = build_models()
    for name, m in (("detector", detector), ("remover", remover)):
        log(f"{name}: {sum(p.numel() for p in m.parameters()) / 1e6:.3f} M params")
    detector.to(args.device).train()
    remover.to(args.device).train()
    params = list(detector.parameters()) + list(remover.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    loader = batches(args, photos, fonts, log)
    budget = args.minutes * 60
    start = time.time()
    step, hist = 0, []
    use_bf16 = args.device == "cuda"
    while step < args.steps and time.time() - start < budget:
        marked, clean, target, mask = next(loader)
        marked = marked.to(args.device, non_blocking=True).float() / 255
        clean = clean.to(args.device, non_blocking=True).float() / 255
        target = target.to(args.device, non_blocking=True).float()
        mask = mask.to(args.device, non_blocking=True).float()
        progress = min(1.0, max((time.time() - start) / budget, step / args.steps))
        warm = min(1.0, (step + 1) / 200)
        for group in opt.param_groups:  # warm-up then cosine decay on the wall clock
            group["lr"] = args.lr * warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=use_bf16):
            logits = detector(marked).float()
            restored = remover(marked, mask).float()
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
        prob = torch.sigmoid(logits)
        dice = 1 - (2 * (prob * target).sum() + 1) / (prob.sum() + target.sum() + 1)
        l1 = ((restored - clean).abs() * mask).sum() / (mask.sum() * 3 + 1)
        loss = bce + 0.5 * dice + 4 * l1
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        with torch.no_grad():  # stays on the GPU: one synchronisation per log line, not per step
            pred = (prob > 0.5).float()
            tp = (pred * target).sum()
            hist.append(torch.stack([bce, dice, l1, tp / pred.sum().clamp(min=1), tp / target.sum().clamp(min=1),
                                     ((marked - clean).abs() * mask).sum() / (mask.sum() * 3 + 1)]).detach())
        if step % 200 == 0 or step == args.steps or step == 1:
            h = torch.stack(hist).mean(0).cpu().numpy()
            hist = []
            log(f"step {step:6d} t {time.time() - start:6.0f}s lr {opt.param_groups[0]['lr']:.2e} bce {h[0]:.4f} "
                f"dice {h[1]:.3f} P {h[3]:.3f} R {h[4]:.3f} | remover L1 {h[2] * 255:.2f}/255 (input {h[5] * 255:.2f})")
    log(f"trained {step} steps in {time.time() - start:.0f} s")
    loader.close()  # stop the data workers now, not at interpreter exit

    detector.cpu().eval()
    remover.cpu().eval()

    class Prob(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, image):
            return torch.sigmoid(self.net(image))

    x = torch.rand(1, 3, 64, 96)
    m = (torch.rand(1, 1, 64, 96) > 0.7).float()
    export(Prob(detector), (x,), ["image"], os.path.join(args.out, "watermark_detector.onnx"))
    export(remover, (x, m), ["image", "mask"], os.path.join(args.out, "watermark_remover.onnx"))
    # Check the exported files against PyTorch on another size (dynamic height and width).
    import onnxruntime as ort

    x2, m2 = torch.rand(1, 3, 128, 160), (torch.rand(1, 1, 128, 160) > 0.7).float()
    with torch.no_grad():
        ref_d, ref_r = torch.sigmoid(detector(x2)).numpy(), remover(x2, m2).numpy()
    got_d = ort.InferenceSession(os.path.join(args.out, "watermark_detector.onnx")).run(None, {"image": x2.numpy()})[0]
    got_r = ort.InferenceSession(os.path.join(args.out, "watermark_remover.onnx")).run(
        None, {"image": x2.numpy(), "mask": m2.numpy()})[0]
    log(f"onnx max abs diff: detector {np.abs(got_d - ref_d).max():.2e}, remover {np.abs(got_r - ref_r).max():.2e}")
    torch.save(detector.state_dict(), os.path.join(args.out, "detector.pt"))
    torch.save(remover.state_dict(), os.path.join(args.out, "remover.pt"))
    evaluate(detector, remover, photos, fonts, log)
    log_file.close()
    os._exit(0)  # leftover worker processes must not hold the exit


def evaluate(detector, remover, photos, fonts, log, n=64, size=256):
    """Held-out synthetic check (fixed seed): detector P/R at 0.5, remover PSNR inside the mask."""
    import torch

    rng = np.random.default_rng(12345)
    tp = npred = ntrue = 0
    gains = []
    with torch.no_grad():
        for _ in range(n):
            marked, clean, cover = sample(rng, photos, fonts, size)
            x = torch.from_numpy(marked.copy()).permute(2, 0, 1)[None].float() / 255
            pred = (torch.sigmoid(detector(x))[0, 0].numpy() > 0.5)
            truth = cover > 0
            tp += int((pred & truth).sum())
            npred += int(pred.sum())
            ntrue += int(truth.sum())
            if truth.sum() > 20:
                mask = cv2.dilate(truth.astype(np.uint8), np.ones((5, 5), np.uint8))
                out = remover(x, torch.from_numpy(mask)[None, None].float())[0].permute(1, 2, 0).numpy() * 255
                err_in = ((out - clean) ** 2)[truth].mean()
                err_marked = ((marked.astype(np.float32) - clean) ** 2)[truth].mean()
                gains.append((10 * math.log10(255**2 / max(err_marked, 1e-6)), 10 * math.log10(255**2 / max(err_in, 1e-6))))
    g = np.mean(gains, 0) if gains else (float("nan"),) * 2
    log(f"held-out synthetic: detector precision {tp / max(1, npred):.3f} recall {tp / max(1, ntrue):.3f}; "
        f"remover PSNR in footprint {g[1]:.2f} dB (marked {g[0]:.2f})")


if __name__ == "__main__":
    main()
