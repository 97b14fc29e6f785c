"""Makes the TFLite fixtures with the real converter (TensorFlow's
TFLiteConverter), into fixtures/tflite/ (gitignored).

Run it with the TensorFlow venv (tools/setup_venv_tf.sh):
    .venv-tf/bin/python tools/make_tflite_fixtures.py [--out DIR] [--models a,b]

Models (Keras, seeded weights, built in this script):
  small      a 32x32 network touching every op the reader maps: Conv2D (SAME
             and VALID, strided, dilated), DepthwiseConv2D, ReLU/ReLU6 fused
             and standalone, hard-swish, sigmoid, Add/Multiply/Subtract,
             ZeroPadding2D (PAD), Max/AveragePooling2D, Concatenate, Permute
             (TRANSPOSE), a slice (STRIDED_SLICE), Reshape, global average
             pooling (MEAN), Dense (FULLY_CONNECTED), Softmax;
  ops        the ops `small` leaves out (standalone RELU6 and LeakyReLU,
             tanh, exp, sqrt, abs, MAXIMUM/MINIMUM, a Dense on a 3-D input,
             RESHAPE, a slice dropping an axis, REDUCE_MAX), logits out;
  mobilenetv2  keras.applications.MobileNetV2(weights=None) at 224x224.
Each is written as NAME.tflite (float32) and NAME_f16.tflite (float16
weights, which the converter stores as float16 constants behind
DEQUANTIZE). BatchNorm statistics are set from the seed (moving mean near
0, variance near 1) so activations neither vanish nor explode. A NAME.json
beside each records the seed and TensorFlow's version; a model whose files
and record are up to date is not converted again.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

keras = tf.keras
L = keras.layers
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def small_model():
    x_in = keras.Input((32, 32, 3), batch_size=1, name="image")
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="stem")(x_in)
    y = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = L.ReLU(6.0, name="dw_relu6")(y)
    y = L.Conv2D(8, 1, padding="valid", name="pw")(y)
    x = L.Add(name="residual")([x, y])
    h = L.Activation("hard_swish", name="hswish")(x)
    s = L.Activation("sigmoid", name="gate")(L.Conv2D(8, 1, name="gate_conv")(x))
    x = L.Multiply(name="gated")([h, s])
    x = L.Subtract(name="diff")([x, s])
    x = L.ZeroPadding2D(((1, 2), (0, 1)), name="pad")(x)
    x = L.Conv2D(12, 3, dilation_rate=2, padding="valid", activation="relu", name="dilated")(x)
    a = L.MaxPooling2D(2, padding="same", name="maxpool")(x)
    b = L.AveragePooling2D(3, strides=2, padding="same", name="avgpool")(x)
    x = L.Concatenate(name="concat")([a, b])
    x = L.Permute((2, 1, 3), name="permute")(x)
    x = L.Lambda(lambda t: t[:, 1:, :, 2:], name="crop")(x)
    x = L.Conv2D(16, 2, strides=(1, 2), padding="same", name="head_conv")(x)
    x = L.ReLU(name="head_relu")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Reshape((4, 4), name="to_grid")(x)
    x = L.Reshape((16,), name="flat")(x)
    x = L.Dense(10, name="logits")(x)
    x = L.Softmax(name="probs")(x)
    return keras.Model(x_in, x, name="small")


def ops_model():
    """The ops `small` does not reach: standalone RELU6 and LeakyReLU, tanh,
    exp, sqrt, abs, max/min, a Dense on a 3-D input, real reshapes, a slice
    that drops an axis, reductions with keepdims."""
    x_in = keras.Input((16, 16, 3), batch_size=1, name="image")
    x = L.Conv2D(6, 3, padding="same", name="conv")(x_in)
    x = L.LeakyReLU(0.2, name="leaky")(x)
    t = L.Activation("tanh", name="tanh")(x)
    r = L.Activation("relu6", name="relu6")(x)
    x = L.Maximum(name="max")([t, r])
    x = L.Reshape((256, 6), name="to_seq")(x)
    x = L.Dense(4, name="seq_dense")(x)
    x = L.Reshape((16, 16, 4), name="to_image")(x)
    x = L.MaxPooling2D(2, name="pool")(x)
    e = L.Lambda(lambda v: tf.exp(-tf.abs(v)), name="exp")(x)
    q = L.Lambda(lambda v: tf.sqrt(v * v + 1.0), name="sqrt")(x)
    x = L.Minimum(name="min")([e, q])
    m = L.Lambda(lambda v: tf.reduce_max(v, axis=[1, 2], keepdims=True), name="rmax")(x)
    x = L.Subtract(name="centre")([x, m])
    x = L.Lambda(lambda v: v[:, :, 0, :], name="column")(x)
    x = L.Flatten(name="flat")(x)
    x = L.Dense(10, name="logits")(x)
    return keras.Model(x_in, x, name="ops")


def mobilenetv2_model():
    x_in = keras.Input((224, 224, 3), batch_size=1, name="image")
    return keras.applications.MobileNetV2(input_tensor=x_in, weights=None, classes=1000)


# Bump when a model's definition changes, so up-to-date checks rebuild it.
VERSION = 1
MODELS = {"small": small_model, "ops": ops_model, "mobilenetv2": mobilenetv2_model}


def seed_weights(model, seed):
    """Seeded weights: Keras's initialisers for kernels (seeded through
    keras.utils.set_random_seed before building), BatchNorm statistics drawn
    near the identity so deep stacks stay in range, small nonzero biases so
    a lost bias shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([
                rng.uniform(0.8, 1.2, gamma.shape).astype(np.float32),
                rng.uniform(-0.1, 0.1, beta.shape).astype(np.float32),
                rng.uniform(-0.1, 0.1, mean.shape).astype(np.float32),
                rng.uniform(0.8, 1.2, var.shape).astype(np.float32)])
        elif getattr(layer, "use_bias", False) and layer.get_weights():
            w = layer.get_weights()
            w[-1] = rng.uniform(-0.1, 0.1, w[-1].shape).astype(np.float32)
            layer.set_weights(w)


def convert(model, f16):
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if f16:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    return conv.convert()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(ROOT, "fixtures", "tflite"))
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--seed", type=int, default=1234)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for name in [m for m in args.models.split(",") if m]:
        meta_path = os.path.join(args.out, name + ".json")
        meta = {"seed": args.seed, "tensorflow": tf.__version__, "version": VERSION}
        outs = [os.path.join(args.out, name + s + ".tflite") for s in ("", "_f16")]
        if all(os.path.exists(p) for p in outs) and os.path.exists(meta_path):
            with open(meta_path) as f:
                if json.load(f) == meta:
                    print("up to date: %s" % name)
                    continue
        keras.utils.set_random_seed(args.seed)
        model = MODELS[name]()
        seed_weights(model, args.seed)
        for f16 in (False, True):
            blob = convert(model, f16)
            path = os.path.join(args.out, name + ("_f16" if f16 else "") + ".tflite")
            with open(path + ".tmp", "wb") as f:
                f.write(blob)
            os.replace(path + ".tmp", path)
            print("wrote %s (%d bytes)" % (path, len(blob)), flush=True)
        with open(meta_path, "w") as f:
            json.dump(meta, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
