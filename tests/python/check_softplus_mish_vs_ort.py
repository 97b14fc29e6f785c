"""Softplus, and Mish as torch.onnx 1.13 writes it (Mul(x, Tanh(Softplus(x))),
YOLOv4's activation), through `nndiff run` in both precisions against ONNX
Runtime, at batch 1 and 3, for models exported by the real torch.onnx at
opsets 13 and 17:

  - a small YOLOv4-style network: Conv-BatchNorm-Mish blocks with a
    residual, then nn.Softplus, global pooling and a linear head;
  - nn.Softplus straight on inputs spread over +-120: exp(x) overflows
    float32 beyond 88 and log(1 + exp(x)) rounds to 0 below -17, so only a
    numerically stable kernel agrees there.

Requires max |nndiff - ort| <= 1e-4 x max |ort| and, for the classifier,
identical top-1; the plain Softplus must also match numpy's float64
logaddexp(0, x), rounded to float32, to 1e-5 relative in every element
(the tiny values at large negative x included). Exits 77 when torch, onnx or onnxruntime is missing.

Usage: check_softplus_mish_vs_ort.py NNDIFF
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import photos  # noqa: E402

RTOL = 1e-4


def models():
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(c)
            self.act = nn.Mish()

        def forward(self, x):
            return x + self.act(self.bn(self.conv(x)))

    torch.manual_seed(0)
    yolo = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.Mish(),
        Block(16), nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.Mish(), Block(32),
        nn.Softplus(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    # BatchNorm at its defaults (1, 0, 0, 1) is the identity: make it act
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for m in yolo.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(1 + 0.5 * torch.rand(m.running_var.shape, generator=gen))
    return [("yolo_mish", yolo, 1.0, True), ("softplus_wide", nn.Softplus(), 40.0, False)]


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    photos.require_modules("numpy", "torch", "onnx", "onnxruntime")
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch

    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, spread, classifier in models():
            model.eval()
            for opset in (13, 17):
                path = os.path.join(tmp, "%s_%d.onnx" % (name, opset))
                torch.onnx.export(model, torch.randn(1, 3, 32, 32), path, opset_version=opset,
                                  input_names=["input"], output_names=["out"],
                                  dynamic_axes={"input": {0: "batch"}, "out": {0: "batch"}})
                ops = [n.op_type for n in onnx.load(path).graph.node]
                if "Softplus" not in ops:
                    print("FAIL %s opset %d: the export has no Softplus (%s)" % (name, opset, ops))
                    failures += 1
                    continue
                for batch in (1, 3):
                    x = (np.random.RandomState(batch).randn(batch, 3, 32, 32) * spread).astype(
                        np.float32)
                    ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
                        None, {"input": x})[0].astype(np.float64)
                    for precision in ("fast", "reference"):
                        got, error = photos.nndiff_run(argv[1], path, x, precision, batch, tmp)
                        tag = "%-13s opset %d batch %d %-9s" % (name, opset, batch, precision)
                        if error:
                            print("FAIL %s nndiff %s" % (tag, error))
                            failures += 1
                            continue
                        got = got.reshape(ref.shape)
                        rel = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
                        same = not classifier or bool((got.argmax(1) == ref.argmax(1)).all())
                        ok = rel <= RTOL and same and bool(np.isfinite(got).all())
                        if not classifier:
                            exact = np.logaddexp(0, x.astype(np.float64)).astype(np.float32)
                            exact = exact.astype(np.float64)
                            elem = float(np.max(np.abs(got - exact) / np.maximum(exact, 1e-45)))
                            ok = ok and elem <= 1e-5
                            tag += " elementwise %.1e" % elem
                        failures += not ok
                        print("%s %s rel %.2e%s" % ("ok  " if ok else "FAIL", tag, rel,
                                                    "" if not classifier else
                                                    " top-1 " + ("same" if same else "DIFFERS")))
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
