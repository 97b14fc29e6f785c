"""Real photos for the oracle tests: scikit-image's bundled images (Debian's
python3-skimage), turned into model inputs by torchvision.transforms, the
preprocessing the torchvision models were trained with.

    photo_paths()             the photos, in a fixed order
    torchvision_inputs(n, size)
                              float32 [n, 3, size, size]: photo k (and, past the
                              last photo, its mirror image) through
                              Resize(size * 256 // 224) -> CenterCrop(size) ->
                              ToTensor -> Normalize(ImageNet mean/std)
    onnx_input_size(path)     the model's input height (224, 299, ...)
    ort_session(path)         an onnxruntime CPU session (single thread)
    nndiff_run(nndiff, path, x, precision, batch, tmp)
                              `nndiff run` on x: (first output, None), or
                              (None, "exit N: message")

Importing this module needs nothing; the functions import PIL, numpy,
torchvision and onnxruntime when called, so a test can skip (exit 77) with a
clear message when the venv lacks them.
"""
import os

SKIMAGE_DATA = "/usr/lib/python3/dist-packages/skimage/data"

# Colour photos first, then grey ones (converted to RGB as Pillow does).
PHOTOS = [
    "astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "hubble_deep_field.jpg",
    "ihc.png", "motorcycle_left.png", "motorcycle_right.png", "retina.jpg", "color.png",
    "phantom.png", "logo.png", "horse.png", "camera.png", "moon.png", "coins.png", "brick.png",
    "grass.png", "gravel.png", "cell.png", "clock_motion.png", "text.png", "page.png",
]

SKIP = 77


def photo_paths():
    paths = [os.path.join(SKIMAGE_DATA, p) for p in PHOTOS]
    return [p for p in paths if os.path.exists(p)]


def require_photos(minimum=8):
    paths = photo_paths()
    if len(paths) < minimum:
        print("skipped: fewer than %d scikit-image photos in %s (apt-get install python3-skimage)"
              % (minimum, SKIMAGE_DATA))
        raise SystemExit(SKIP)
    return paths


def require_modules(*names):
    missing = []
    for name in names:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        print("skipped: missing Python modules %s (run tools/setup_venv.sh)" % ", ".join(missing))
        raise SystemExit(SKIP)


def torchvision_transform(size):
    import torchvision.transforms as T
    return T.Compose([
        T.Resize(size * 256 // 224),
        T.CenterCrop(size),
        T.ToTensor(),
        T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])


def torchvision_inputs(n, size=224):
    """n inputs [n, 3, size, size] float32 from the photos (mirrored past the end)."""
    import numpy as np
    from PIL import Image, ImageOps

    paths = require_photos()
    tf = torchvision_transform(size)
    rows = []
    for k in range(n):
        img = Image.open(paths[k % len(paths)]).convert("RGB")
        variant = k // len(paths)
        if variant % 2 == 1:
            img = ImageOps.mirror(img)
        if variant >= 2:
            img = img.rotate(90 * (variant // 2), expand=True)
        rows.append(tf(img).numpy())
    return np.stack(rows).astype(np.float32)


def onnx_input_size(path):
    import onnx
    m = onnx.load(path, load_external_data=False)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    return int(dims[2].dim_value)


def ort_session(path, threads=1, optimize=True):
    """optimize=False runs the graph as written (no graph transformations):
    ONNX Runtime 1.19's optimizer folded a Pad into a following AveragePool
    whose count_include_pad=0, changing the border averages (inception_v3
    at opset 13: 0.11-0.23 of the max logit); the unoptimized run is the
    definition the optimized one must keep."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_run(path, x, batch=16, optimize=True):
    """The first output of the model on x ([N, ...]), run batch rows at a time."""
    import numpy as np
    sess = ort_session(path, optimize=optimize)
    name = sess.get_inputs()[0].name
    outs = [sess.run(None, {name: x[i:i + batch]})[0] for i in range(0, len(x), batch)]
    return np.concatenate(outs, axis=0)


def nndiff_run(nndiff, path, x, precision, batch, tmp):
    """`nndiff run` of the model on x (saved as .npy under tmp) in the given
    precision and batch: (first output as float64, None), or (None, the
    exit code and stderr) when it fails."""
    import subprocess
    import numpy as np
    xp, yp = os.path.join(tmp, "nndiff_x.npy"), os.path.join(tmp, "nndiff_y.npy")
    np.save(xp, x)
    proc = subprocess.run([nndiff, "run", path, "--data", xp, "--outputs", yp, "--precision",
                           precision, "--batch", str(batch)], capture_output=True, text=True)
    if proc.returncode != 0:
        return None, "exit %d: %s" % (proc.returncode, proc.stderr.strip())
    return np.load(yp).astype(np.float64), None
