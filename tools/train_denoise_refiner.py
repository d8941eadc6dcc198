"""Train the local denoiser's learned last pass for heavy noise (lib/engines/local/refiner.py).

Runs on the CPU; two steps, since the inputs come from the local engine and the training from PyTorch:
    .venv/bin/python tools/train_denoise_refiner.py data --dir .refiner-data        # ~3 min on 2 cores
    TORCH_PYTHON tools/train_denoise_refiner.py train --dir .refiner-data --out OUT --steps 6000  # ~9 min
TORCH_PYTHON is a Python with torch and onnx (not project requirements; on this project's machines:
pip install torch==2.13.0 onnx numpy). `train` writes OUT/train.log, OUT/denoise_refiner.pt and
OUT/denoise_refiner.onnx; the ONNX file goes to lib/engines/local/models/, the log to
tools/models/denoise_refiner_train.log.

Data: scikit-image's own sample photos (public domain / CC0, as skimage.data lists them) outside
bench/quality.py's held-out set (china, flower, grace_hopper, hubble_deep_field, camera, face and
ascent are never read here), grey ones scored as RGB; chelsea, rocket and moon are kept out of
training and report the validation gain in the log. Each gets heavy noise (Gaussian sigma 25-65, Poisson-Gaussian at 8-30
photo-electrons, some then saved as JPEG 75-95) with seeds the bench never uses, and goes through the
local denoiser as an upload would (lib.images.load_photo, then LocalEngine's Denoiser told the JPEG
quality); only copies whose noise estimate is >= 24 are kept (the pass runs from 28).
Model: 6 convolutions of 32 channels (3x3, ReLU) on the upload and the denoiser's result,
pixel-unshuffled to half resolution, plus three constants (told noise / 50, the Wiener pass's
share, (100 - JPEG quality) / 25); it predicts a correction to the result (last layer zero at the
start, so training starts from the denoiser as it is). Loss: mean squared error on 96 px crops,
flipped, rotated and with shuffled colour channels.
"""

import argparse
import glob
import math
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLOUR = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "retina"]
GREY = ["brick", "grass", "gravel", "clock", "coins", "moon", "cell", "page", "text"]
HELD_OUT = {"china", "flower", "grace_hopper", "hubble_deep_field", "camera", "face", "ascent"}  # bench/quality.py's
VALIDATION = {"chelsea", "rocket", "moon"}
MIN_SIGMA = 24.0  # noise estimate (0..255) from which a copy is kept: a little under where the pass runs
CHANNELS, LAYERS = 32, 6  # 48 channels scored the same on the validation photos, at 2x the cost
SEED = 888_000  # the bench draws its noise with seeds below 10 000
DRAWS = 2  # noise draws per photo and case


def cases():
    """(name, noise, JPEG quality or None); noise: ("gauss", sigma) or ("pg", photo-electrons at white)."""
    out = [(f"gauss{s}", ("gauss", s), None) for s in (25, 28, 30, 33, 36, 40, 45, 50, 55, 65)]
    out += [(f"pg{p}", ("pg", p), None) for p in (8, 12, 18, 30)]
    out += [("pg12+jpeg90", ("pg", 12), 90), ("gauss45+jpeg90", ("gauss", 45), 90),
            ("gauss40+jpeg95", ("gauss", 40), 95), ("gauss50+jpeg85", ("gauss", 50), 85),
            ("gauss40+jpeg75", ("gauss", 40), 75)]
    return out


def load_photo(name):
    """A scikit-image sample photo as RGB uint8, big ones (retina) resized to 640 x 640."""
    import skimage.data
    from PIL import Image

    assert name not in HELD_OUT
    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.dstack([image] * 3)
    image = np.ascontiguousarray(image[..., :3])
    if max(image.shape[:2]) > 720:
        image = np.asarray(Image.fromarray(image).resize((640, 640), Image.LANCZOS))
    return image


def noisy_upload(clean, noise, quality, rng):
    """(decoded uint8 RGB, JPEG quality read from the file or None) of `clean` with `noise`, drawn by
    bench/quality.py's own noise models."""
    from quality import as_jpeg, poisson_gaussian, to_u8

    from lib import images

    kind, level = noise
    x = clean.astype(np.float64)
    noisy = to_u8(x + rng.normal(0, level, x.shape)) if kind == "gauss" else poisson_gaussian(x, rng, level)
    if quality is None:
        return noisy, None
    upload = images.load_photo(as_jpeg(noisy, quality)[1])
    return np.asarray(upload.rgb()), upload.jpeg_quality


def make_data(directory):
    """Write one .npz per photo: clean, and the kept noisy uploads with the denoiser's results."""
    sys.path[:0] = [ROOT, os.path.join(ROOT, "bench")]
    from lib.engines.local import denoise, refiner

    os.makedirs(directory, exist_ok=True)
    denoiser = denoise.Denoiser(learned=False)  # the inputs are the denoiser's result before this pass
    for pi, name in enumerate(COLOUR + GREY):
        start, clean = time.time(), load_photo(name)
        kept = {"noisy": [], "estimate": [], "cond": [], "sigma": [], "case": []}
        for ci, (draw, (case, noise, quality)) in enumerate((n, c) for n in range(DRAWS) for c in cases()):
            noisy, told_quality = noisy_upload(clean, noise, quality, np.random.default_rng(SEED + 100 * ci + pi))
            sigma = denoise.noise_sigma(noisy)
            if sigma < MIN_SIGMA:
                continue
            kept["noisy"].append(noisy)
            kept["estimate"].append(denoiser(noisy, told_quality))
            told, share = denoise.told_sigma(sigma, told_quality), denoise.wiener_share(sigma)
            kept["cond"].append(refiner.conditioning(told, share, told_quality)[0])
            kept["sigma"].append(sigma)
            kept["case"].append(case)
        np.savez(os.path.join(directory, f"{name}.npz"), clean=clean, learned_from=denoise.LEARNED_FROM,
                 **{k: np.array(v) for k, v in kept.items()})
        print(f"{name}: {len(kept['case'])} copies, {time.time() - start:.1f} s", flush=True)


def train(directory, out, steps, batch, crop, lr):
    """Train, validate every 500 steps, save the state dict and the ONNX export to `out`."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))
    torch.manual_seed(0)
    os.makedirs(out, exist_ok=True)
    log = open(os.path.join(out, "train.log"), "w")

    def say(line):
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    class Refiner(nn.Module):
        def __init__(self):
            super().__init__()
            layers = [nn.Conv2d(27, CHANNELS, 3, padding=1), nn.ReLU()]
            for _ in range(LAYERS - 2):
                layers += [nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1), nn.ReLU()]
            last = nn.Conv2d(CHANNELS, 12, 3, padding=1)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.body = nn.Sequential(*layers, last)

        def forward(self, noisy, estimate, cond):  # (n, 3, h, w) in 0..1, h and w even; cond (n, 3)
            x = F.pixel_unshuffle(torch.cat([noisy, estimate], 1), 2)
            c = cond[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
            return estimate + F.pixel_shuffle(self.body(torch.cat([x, c], 1)), 2)

    photos = {os.path.basename(p)[:-4]: dict(np.load(p)) for p in sorted(glob.glob(os.path.join(directory, "*.npz")))}
    assert not HELD_OUT & set(photos)
    pool = [(n, i) for n, d in photos.items() if n not in VALIDATION for i in range(len(d["case"]))]
    held = [(n, i) for n, d in photos.items() if n in VALIDATION for i in range(len(d["case"]))]
    say(f"{len(pool)} training copies of {len(photos) - len(VALIDATION & set(photos))} photos, {len(held)} validation"
        f" copies of {sorted(VALIDATION & set(photos))}; {steps} steps, batch {batch}, crop {crop}, lr {lr}")
    rng = np.random.default_rng(0)

    def planar(arrays):
        return torch.from_numpy(np.stack(arrays).astype(np.float32).transpose(0, 3, 1, 2) / 255)

    def sample():
        noisy, estimate, cond, clean = [], [], [], []
        for _ in range(batch):
            name, i = pool[rng.integers(len(pool))]
            d = photos[name]
            h, w = d["clean"].shape[:2]
            y, x = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
            crops = [a[y : y + crop, x : x + crop] for a in (d["noisy"][i], d["estimate"][i], d["clean"])]
            if rng.random() < 0.5:
                crops = [a[:, ::-1] for a in crops]
            turns, order = rng.integers(4), rng.permutation(3)
            crops = [np.rot90(a, turns)[..., order] for a in crops]
            for target, a in zip((noisy, estimate, clean), crops):
                target.append(a)
            cond.append(d["cond"][i])
        return planar(noisy), planar(estimate), torch.from_numpy(np.stack(cond)), planar(clean)

    def psnr(a, b):
        return 10 * math.log10(255**2 / max(np.mean((a.astype(np.float64) - b) ** 2), 1e-12))

    def validate(model):
        model.eval()
        gains = {}
        with torch.no_grad():
            for name, i in held:
                d = photos[name]
                h, w = d["clean"].shape[:2]
                even = ((0, h % 2), (0, w % 2), (0, 0))
                feed = [planar([np.pad(d[k][i], even, mode="symmetric")]) for k in ("noisy", "estimate")]
                y = model(*feed, torch.from_numpy(d["cond"][i][None]))[0].numpy().transpose(1, 2, 0)[:h, :w]
                y = np.clip(y * 255 + 0.5, 0, 255).astype(np.uint8)
                gain = psnr(d["clean"], y) - psnr(d["clean"], d["estimate"][i])
                gains.setdefault(str(d["case"][i]), []).append(gain)
                if d["sigma"][i] >= d["learned_from"]:  # where the denoiser runs the pass
                    gains.setdefault(f"ALL from {float(d['learned_from']):g}", []).append(gain)
        model.train()
        return {k: float(np.mean(v)) for k, v in gains.items()}

    model = Refiner()
    optimiser = torch.optim.Adam(model.parameters(), lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, lr, total_steps=steps, pct_start=0.05)
    start, smooth = time.time(), None
    for step in range(1, steps + 1):
        noisy, estimate, cond, clean = sample()
        loss = F.mse_loss(model(noisy, estimate, cond), clean)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        smooth = loss.item() if smooth is None else 0.98 * smooth + 0.02 * loss.item()
        if step % 500 == 0 or step == steps:
            line = f"step {step} loss {smooth:.6f} ({time.time() - start:.0f} s)"
            if held:
                gains = validate(model)
                line += "; validation gain dB over the denoiser: " + ", ".join(f"{k} {v:+.2f}" for k, v in sorted(gains.items()))
            say(line)
    torch.save(model.state_dict(), os.path.join(out, "denoise_refiner.pt"))
    model.eval()
    example = torch.rand(1, 3, 64, 64)
    dims = {2: "height", 3: "width"}
    torch.onnx.export(model, (example, example, torch.zeros(1, 3)), os.path.join(out, "denoise_refiner.onnx"),
                      input_names=["noisy", "estimate", "cond"], output_names=["refined"],
                      dynamic_axes={"noisy": dims, "estimate": dims, "refined": dims}, opset_version=17, dynamo=False)
    say(f"wrote denoise_refiner.onnx and denoise_refiner.pt; torch {torch.__version__}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("data", "train"))
    parser.add_argument("--dir", default=".refiner-data", help="where the training copies are written / read")
    parser.add_argument("--out", default="refiner-out")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    if args.step == "data":
        make_data(args.dir)
    else:
        train(args.dir, args.out, args.steps, args.batch, args.crop, args.lr)


if __name__ == "__main__":
    main()
