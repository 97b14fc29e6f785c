#!/usr/bin/env python3
"""Oracle test: nndiff's decoding + preprocessing against Pillow (and
torchvision.transforms when importable) on real photos.

For every image and pipeline, tests/tools/preprocess_dump decodes the image and
writes the decoded RGB, the resized+cropped uint8 image and the final float32
tensor as .npy; this script computes the same stages with Pillow/numpy (and
torchvision) and asserts they are at most one 8-bit step apart (1/255 before
normalisation) per pixel for JPEG sources and identical for PNG sources. It
prints the maximum differences it measured (0 everywhere with Debian's Pillow,
which shares our libjpeg-turbo).

Images: skimage's bundled photos (Debian python3-skimage) plus files derived
from them with Pillow: JPEGs (4:2:0, 4:4:4, progressive, gray, CMYK) and PNGs
of every colour type (palette, palette+tRNS, gray, 1-bit, gray+alpha, RGBA,
16-bit gray, hand-written 16-bit RGB).

usage: test_resize_vs_pillow.py --tool build/tests/preprocess_dump [--images DIR]
Exit codes: 0 pass, 1 fail, 77 skipped (no numpy/Pillow or no images).
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile
import zlib

SKIP = 77

try:
    import numpy as np
    from PIL import Image
except ImportError as e:  # pragma: no cover
    print("skipped: %s" % e)
    sys.exit(SKIP)

try:
    import torch  # noqa: F401
    import torchvision.transforms as T
except Exception:  # torchvision is optional: Pillow is the oracle
    T = None

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
CAFFE_MEAN_BGR = [103.939, 116.779, 123.68]


def py_round_half_even(x):
    return int(round(x))


def center_crop(im, h, w):
    """torchvision.transforms.functional.center_crop on a PIL image."""
    iw, ih = im.size
    if w > iw or h > ih:
        pad = Image.new(im.mode, (max(iw, w), max(ih, h)))
        left = (w - iw) // 2 if w > iw else 0
        top = (h - ih) // 2 if h > ih else 0
        pad.paste(im, (left, top))
        im = pad
        iw, ih = im.size
    top = py_round_half_even((ih - h) / 2.0)
    left = py_round_half_even((iw - w) / 2.0)
    return im.crop((left, top, left + w, top + h))


def shorter_side_size(im, size):
    w, h = im.size
    short, long_ = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long_ / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def tf_central_crop(im, fraction):
    w, h = im.size
    top = int((h - h * fraction) / 2)
    left = int((w - w * fraction) / 2)
    return im.crop((left, top, w - left, h - top))


def normalise(u8, scale_div, mean, std, bgr, nchw):
    x = np.asarray(u8).astype(np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    if bgr:
        x = x[:, :, ::-1]
    c = x.shape[2]
    m = np.array(mean[:c], dtype=np.float32)
    s = np.array(std[:c], dtype=np.float32)
    y = (x / np.float32(scale_div) - m) / s
    return np.ascontiguousarray(y.transpose(2, 0, 1) if nchw else y)


# Each pipeline: (name, spec for preprocess_dump, model size, channels,
#                 oracle(PIL RGB image) -> (uint8 HxWxC array, float tensor),
#                 one 8-bit step in output units)
def pil_pipeline(resize, size, crop, fraction=1.0, filt=Image.BILINEAR, gray=False):
    def run(im):
        if gray:
            im = im.convert("L")
        if fraction < 1.0:
            im = tf_central_crop(im, fraction)
        if resize == "shorter":
            im = im.resize(shorter_side_size(im, size), filt)
        else:
            im = im.resize((size, size), filt)
        return center_crop(im, crop, crop)
    return run


def pipelines():
    P = []

    def add(name, spec, size, channels, stage, scale_div, mean, std, bgr, nchw, tv=None):
        def oracle(im):
            u8 = stage(im)
            return (np.asarray(u8), normalise(u8, scale_div, mean, std, bgr, nchw))
        step = max(1.0 / scale_div / min(std[:channels]), 1e-9)
        P.append((name, spec, size, channels, oracle, step, tv))

    tv = None
    if T is not None:
        tv = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                        T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    add("torchvision", "torchvision", 224, 3, pil_pipeline("shorter", 256, 224), 255.0,
        IMAGENET_MEAN, IMAGENET_STD, False, True, tv)
    tv299 = None
    if T is not None:
        tv299 = T.Compose([T.Resize(342), T.CenterCrop(299), T.ToTensor(),
                           T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    add("torchvision-342/299", "torchvision size=342 crop=299", 299, 3,
        pil_pipeline("shorter", 342, 299), 255.0, IMAGENET_MEAN, IMAGENET_STD, False, True, tv299)
    tvpad = None
    if T is not None:
        tvpad = T.Compose([T.Resize(200), T.CenterCrop(224), T.ToTensor(),
                           T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    add("torchvision-pad", "torchvision size=200", 224, 3, pil_pipeline("shorter", 200, 224),
        255.0, IMAGENET_MEAN, IMAGENET_STD, False, True, tvpad)
    add("inception", "inception", 299, 3, pil_pipeline("direct", 299, 299, fraction=0.875),
        127.5, [1, 1, 1], [1, 1, 1], False, False)
    add("keras-tf", "keras-tf", 224, 3, pil_pipeline("direct", 224, 224), 127.5, [1, 1, 1],
        [1, 1, 1], False, False)
    add("keras-caffe", "keras-caffe", 224, 3, pil_pipeline("direct", 224, 224), 1.0,
        CAFFE_MEAN_BGR, [1, 1, 1], True, False)
    add("keras-torch", "keras-torch", 224, 3, pil_pipeline("direct", 224, 224), 255.0,
        IMAGENET_MEAN, IMAGENET_STD, False, False)
    add("keras-tf-nearest", "keras-tf filter=nearest", 224, 3,
        pil_pipeline("direct", 224, 224, filt=Image.NEAREST), 127.5, [1, 1, 1], [1, 1, 1],
        False, False)
    add("direct-257-crop", "raw size=257", 224, 3, pil_pipeline("direct", 257, 224), 1.0,
        [0, 0, 0], [1, 1, 1], False, True)
    add("direct-259-crop", "raw size=259", 224, 3, pil_pipeline("direct", 259, 224), 1.0,
        [0, 0, 0], [1, 1, 1], False, True)
    add("upscale-640", "raw", 640, 3, pil_pipeline("direct", 640, 640), 1.0, [0, 0, 0],
        [1, 1, 1], False, True)
    add("gray-torchvision", "torchvision", 224, 1, pil_pipeline("shorter", 256, 224, gray=True),
        255.0, IMAGENET_MEAN, IMAGENET_STD, False, True)
    return P


def write_png_rgb16(path, rgb16):
    """A minimal 16-bit RGB PNG writer (Pillow cannot write one)."""
    h, w, _ = rgb16.shape
    raw = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(
            ">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


def make_images(src_dir, tmp):
    """Real photos, plus every JPEG/PNG flavour derived from them."""
    names = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "camera.png",
             "hubble_deep_field.jpg", "retina.jpg", "motorcycle_left.png", "coins.png",
             "palette_color.png", "green_palette.png", "logo.png"]
    imgs = [os.path.join(src_dir, n) for n in names if os.path.exists(os.path.join(src_dir, n))]
    if not imgs:
        return []
    ast = Image.open(os.path.join(src_dir, "astronaut.png")).convert("RGB")
    che = Image.open(os.path.join(src_dir, "chelsea.png")).convert("RGB")
    cof = Image.open(os.path.join(src_dir, "coffee.png")).convert("RGB")

    def save(im, name, **kw):
        p = os.path.join(tmp, name)
        im.save(p, **kw)
        imgs.append(p)
    save(ast, "astronaut_q90_420.jpg", quality=90, subsampling=2)
    save(che, "chelsea_q95_444.jpg", quality=95, subsampling=0)
    save(cof, "coffee_progressive.jpg", quality=85, progressive=True)
    save(ast.convert("L"), "astronaut_gray.jpg", quality=90)
    save(che.convert("CMYK"), "chelsea_cmyk.jpg", quality=90)
    save(ast.crop((100, 50, 137, 100)), "tiny_37x50.png")  # magnified, not shrunk
    save(che.crop((0, 0, 301, 257)), "odd_301x257.jpg", quality=92)
    rgba = ast.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(ast.size))
    save(rgba, "astronaut_rgba.png")
    save(rgba.convert("LA"), "astronaut_la.png")
    save(cof.convert("P", palette=Image.ADAPTIVE, colors=64), "coffee_palette.png")
    pt = che.convert("P", palette=Image.ADAPTIVE, colors=16)
    save(pt, "chelsea_palette_trns.png", transparency=3)
    save(ast.convert("1"), "astronaut_1bit.png")
    g16 = (np.asarray(cof.convert("L")).astype(np.int32) * 3)  # crosses 255: Pillow clips
    save(Image.fromarray(g16, "I"), "coffee_gray16.png")
    rgb16 = np.asarray(che).astype(np.uint16) * 257 + 3
    p = os.path.join(tmp, "chelsea_rgb16.png")
    write_png_rgb16(p, rgb16)
    imgs.append(p)
    return imgs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--images", default="/usr/lib/python3/dist-packages/skimage/data")
    args = ap.parse_args()
    if not os.path.isdir(args.images):
        print("skipped: no image directory %s (install python3-skimage)" % args.images)
        return SKIP
    failures = 0
    worst = {}
    with tempfile.TemporaryDirectory() as tmp:
        images = make_images(args.images, tmp)
        if not images:
            print("skipped: no images in %s" % args.images)
            return SKIP
        print("%-28s %-20s %7s %5s %9s %9s %s" % ("image", "pipeline", "decoded", "u8",
                                                   "u8 #diff", "f32", "torchvision f32"))
        for path in images:
            im = Image.open(path)
            im.load()
            rgb = im.convert("RGB")
            base = os.path.basename(path)
            for name, spec, size, ch, oracle, step, tv in pipelines():
                prefix = os.path.join(tmp, "out")
                cmd = [args.tool, "-p", spec, "-s", str(size), "-c", str(ch), path, prefix]
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    print("FAIL %s %s: %s" % (base, name, r.stderr.strip()))
                    failures += 1
                    continue
                dec = np.load(prefix + ".decoded.npy")
                u8 = np.load(prefix + ".u8.npy")
                f32 = np.load(prefix + ".f32.npy")
                ref_u8, ref_f32 = oracle(rgb)
                if ref_u8.ndim == 2:
                    ref_u8 = ref_u8[:, :, None]
                d_dec = int(np.abs(dec.astype(int) - np.asarray(rgb).astype(int)).max())
                ok = ref_u8.shape == u8.shape and ref_f32.shape == f32.shape
                d_u8 = int(np.abs(u8.astype(int) - ref_u8.astype(int)).max()) if ok else -1
                n_u8 = int((u8 != ref_u8).sum()) if ok else -1
                d_f32 = float(np.abs(f32 - ref_f32).max()) if ok else -1.0
                d_tv = ""
                if tv is not None and ch == 3:
                    t = tv(rgb).numpy()
                    d_tv = "%.3g" % float(np.abs(f32 - t).max()) if t.shape == f32.shape else "shape!"
                    if t.shape != f32.shape or float(np.abs(f32 - t).max()) > step * 1.0001:
                        ok = False
                # PNG decoding has one right answer, so any resize/crop
                # difference there is ours: demand bit-exactness. JPEG
                # decoders may round differently (a Pillow wheel bundles its
                # own libjpeg-turbo): allow one 8-bit step.
                tol = 0 if base.lower().endswith(".png") else 1
                bad = (not ok or d_dec > tol or d_u8 > tol or d_f32 > tol * step * 1.0001)
                print("%-28s %-20s %7d %5d %9d %9.3g %s%s" % (base[:28], name, d_dec, d_u8, n_u8,
                                                             d_f32, d_tv, "  FAIL" if bad else ""))
                if bad:
                    failures += 1
                w = worst.setdefault(name, [0, 0, 0.0])
                w[0] = max(w[0], d_dec)
                w[1] = max(w[1], d_u8)
                w[2] = max(w[2], d_f32)
    print("\nworst per pipeline (decoded / u8 / f32 max abs diff):")
    for name, (a, b, c) in worst.items():
        print("  %-20s %d / %d / %.3g" % (name, a, b, c))
    print("%s: %d failure(s)" % ("FAIL" if failures else "PASS", failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
