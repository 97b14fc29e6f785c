#!/usr/bin/env python3
"""Export torchvision classification models to ONNX as nndiff test fixtures.

For every requested architecture this script

  * builds the model with random weights (torch.manual_seed(seed), weights=None,
    nothing is downloaded),
  * makes the weights look trained rather than freshly initialised: BatchNorm
    gamma/beta are drawn from U(0.5,1.5)/N(0,0.1) instead of 1/0, and any other
    parameter whose elements are all equal (zero-initialised conv/linear biases)
    gets N(0,0.01) noise (see DEDUP note below),
  * gives BatchNorm layers realistic running statistics: the running mean/var
    are measured on a few batches of random-normal
    input (BatchNorm layers alone in train() mode, the rest of the model in
    eval() so Dropout/StochasticDepth stay off, momentum=None so the running
    stats are the exact average over the batches),
  * exports it with torch.onnx.export (input "input", output "logits",
    dynamic batch axis "batch", do_constant_folding=True) keeping the
    BatchNormalization nodes (see BATCHNORM note below; --bn fold lets the
    exporter fold them into the convolutions instead),
  * writes DIR/<name>.onnx and DIR/<name>.torch.json, the reference facts the
    C tool's output is compared with:
        parameters     sum(p.numel() for p in model.parameters())
        macs           multiply-accumulates at batch 1, counted on the PyTorch
                       module with forward hooks: Conv2d = out_elems *
                       (in_channels/groups) * kh * kw, Linear = rows *
                       in_features * out_features, plus torch.matmul/bmm/mm
                       if a model calls them; bias is never counted
        macs_by_type   the same split per layer kind
        bn_running_stat_elems  elements of BN running_mean + running_var, which
                       the ONNX graph stores as initializers although they
                       are buffers, not parameters (so ONNX initializer
                       elements == parameters + bn_running_stat_elems)
        input_shape, output_shape, dynamic_axes, opset, seed, torch_version,
        torchvision_version, onnx_op_counts (op_type -> count in the graph)

Models whose .onnx and .torch.json already exist, are newer than this script
and were made with the same opset and seed are skipped, so reruns are fast.

BATCHNORM: with torch 1.13, training=TrainingMode.EVAL (the default for a
model in eval mode) runs the "eval peephole" pass, which fuses every
BatchNormalization into the preceding Conv -- whatever do_constant_folding is
set to (do_constant_folding=False does NOT keep BN). Exporting the eval()-mode
model with training=TrainingMode.PRESERVE skips that pass, so BN survives
while it still computes inference semantics (running statistics, Dropout off).
Constant folding stays on: it cannot touch BN because BN has a runtime input.
torch then warns that constant folding is not recommended in PRESERVE mode;
the warning is about models in train() mode and is silenced here.
DEDUP: torch 1.13's exporter de-duplicates initializers holding identical
values: one copy is kept and the others become Identity nodes fed by it.
Freshly initialised models are full of such twins (BN gamma=1/beta=0, zero
conv biases in SqueezeNet and the SE blocks of EfficientNet/MobileNetV3),
which would make the ONNX initializers sum to fewer elements than
`parameters`. Perturbing constant parameters (above) keeps every initializer
distinct, so the graphs hold no such Identity nodes; --no-perturb shows the
other behaviour.

Usage examples:
  .venv/bin/python tools/export_torchvision.py --out /tmp/fixtures
  .venv/bin/python tools/export_torchvision.py --out DIR --models resnet18 --opset 13 --check-ort
  .venv/bin/python tools/export_torchvision.py --list
"""

import argparse
import collections
import json
import os
import sys
import time
import warnings

# Default opset per model: spread over 11..17 (torch 1.13 exports up to 17) so
# the fixtures exercise several opset versions. --opset overrides.
MODEL_OPSETS = collections.OrderedDict([
    ("alexnet", 11),
    ("vgg11", 12),
    ("resnet18", 13),
    ("resnet50", 14),
    ("resnet101", 15),
    ("densenet121", 16),
    ("squeezenet1_1", 12),
    ("inception_v3", 17),
    ("googlenet", 11),
    ("mobilenet_v2", 12),
    ("mobilenet_v3_small", 14),
    ("mobilenet_v3_large", 15),
    ("efficientnet_b0", 17),
    ("shufflenet_v2_x0_5", 16),
    ("mnasnet0_5", 11),
    ("regnet_x_400mf", 13),
    ("regnet_y_400mf", 15),
    # The rest of torchvision 0.14's classification builders. Opsets 13..17
    # again; the transformers (ViT, Swin, MaxViT) and ConvNeXt at 17 export
    # LayerNormalization, at 13 (the second configuration tools/interop.sh
    # checks) its ReduceMean/Sub/Pow/Sqrt/Div decomposition.
    ("vit_b_16", 17),
    ("vit_b_32", 16),
    ("vit_l_16", 17),
    ("vit_l_32", 14),
    ("vit_h_14", 17),
    ("swin_t", 17),
    ("swin_s", 16),
    ("swin_b", 15),
    ("swin_v2_t", 17),
    ("swin_v2_s", 14),
    ("swin_v2_b", 13),
    ("maxvit_t", 17),
    ("convnext_tiny", 17),
    ("convnext_small", 16),
    ("convnext_base", 15),
    ("convnext_large", 14),
    ("regnet_y_800mf", 13),
    ("regnet_y_1_6gf", 14),
    ("regnet_y_3_2gf", 15),
    ("regnet_y_8gf", 16),
    ("regnet_y_16gf", 17),
    ("regnet_y_32gf", 13),
    ("regnet_y_128gf", 14),
    ("regnet_x_800mf", 15),
    ("regnet_x_1_6gf", 16),
    ("regnet_x_3_2gf", 17),
    ("regnet_x_8gf", 13),
    ("regnet_x_16gf", 14),
    ("regnet_x_32gf", 15),
    ("efficientnet_b1", 13),
    ("efficientnet_b2", 14),
    ("efficientnet_b3", 15),
    ("efficientnet_b4", 16),
    ("efficientnet_b5", 17),
    ("efficientnet_b6", 13),
    ("efficientnet_b7", 14),
    ("efficientnet_v2_s", 14),
    ("efficientnet_v2_m", 15),
    ("efficientnet_v2_l", 16),
    ("mnasnet0_75", 12),
    ("mnasnet1_0", 13),
    ("mnasnet1_3", 14),
    ("resnet34", 16),
    ("resnet152", 17),
    ("resnext50_32x4d", 12),
    ("resnext101_32x8d", 13),
    ("resnext101_64x4d", 14),
    ("wide_resnet50_2", 11),
    ("wide_resnet101_2", 15),
    ("vgg11_bn", 16),
    ("vgg13", 13),
    ("vgg13_bn", 14),
    ("vgg16", 15),
    ("vgg16_bn", 13),
    ("vgg19", 17),
    ("vgg19_bn", 12),
    ("densenet161", 13),
    ("densenet169", 14),
    ("densenet201", 15),
    ("squeezenet1_0", 13),
    ("shufflenet_v2_x1_0", 13),
    ("shufflenet_v2_x1_5", 14),
    ("shufflenet_v2_x2_0", 15),
])

# Small-but-diverse set for CI (covers opsets 11..17).
DEFAULT_MODELS = [
    "squeezenet1_1", "resnet18", "mobilenet_v2", "mobilenet_v3_small",
    "efficientnet_b0", "shufflenet_v2_x0_5", "mnasnet0_5", "regnet_y_400mf",
    "googlenet", "densenet121",
]

CALIB_BATCHES = 3
CALIB_BATCH_SIZE = 4

# The first 17 models calibrate BatchNorm on random-normal input (their
# fixtures stay as they were). Every model added later calibrates on the test
# photos (tests/python/photos.py) instead: deep residual stacks calibrated on
# noise blow up on photos (EfficientNetV2-S: logits of 2e5, with float32 and
# float64 PyTorch 48% apart, so no float32 engine can agree with another),
# while statistics measured on images keep them as tame as trained networks
# (max logit 0.34, float32 within 3e-6 of float64).
NOISE_CALIBRATED = set(list(MODEL_OPSETS)[:17])


def input_size(name):
    return 299 if name == "inception_v3" else 224


def build_model(name, seed):
    import torch
    import torchvision

    torch.manual_seed(seed)
    kwargs = {"weights": None}
    if name == "inception_v3":
        kwargs.update(aux_logits=False, init_weights=True, transform_input=False)
    elif name == "googlenet":
        kwargs.update(aux_logits=False, init_weights=True, transform_input=False)
    ctor = getattr(torchvision.models, name)
    return ctor(**kwargs)


def perturb_constant_params(model, gen):
    """Make BN gamma/beta and all-equal parameters look trained (see DEDUP)."""
    import torch

    done = set()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.affine:
                m.weight.copy_(torch.empty(m.weight.shape).uniform_(0.5, 1.5, generator=gen))
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
                done.update((id(m.weight), id(m.bias)))
        for p in model.parameters():
            if id(p) not in done and p.numel() > 1 and bool((p == p.reshape(-1)[0]).all()):
                p.add_(torch.randn(p.shape, generator=gen) * 0.01)


def calib_source(name):
    return "noise" if name in NOISE_CALIBRATED else "photos"


def calib_batches(size, source, gen):
    import torch
    if source == "noise":
        return [torch.randn(CALIB_BATCH_SIZE, 3, size, size, generator=gen)
                for _ in range(CALIB_BATCHES)]
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                    "python"))
    import photos
    x = torch.from_numpy(photos.torchvision_inputs(CALIB_BATCHES * CALIB_BATCH_SIZE, size))
    return list(torch.split(x, CALIB_BATCH_SIZE))


def calibrate_batchnorm(model, size, seed, perturb, source="noise"):
    """Optionally perturb constant params, then measure BN running stats on
    `source` input ("noise" or "photos", see NOISE_CALIBRATED)."""
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    gen = torch.Generator().manual_seed(seed + 1)
    if perturb:
        perturb_constant_params(model, gen)
    with torch.no_grad():
        model.eval()
        saved = []
        for bn in bns:
            bn.reset_running_stats()
            saved.append(bn.momentum)
            bn.momentum = None  # cumulative average over the calibration batches
            bn.train()
        for x in calib_batches(size, source, gen):
            model(x)
        for bn, mom in zip(bns, saved):
            bn.momentum = mom
    model.eval()
    return len(bns)


class MacCounter:
    """Counts multiply-accumulates of Conv2d/Linear (hooks) and matmul-likes."""

    def __init__(self, model):
        import torch
        self.torch = torch
        self.model = model
        self.by_type = collections.Counter()
        self.handles = []

    def _conv(self, mod, inp, out):
        kh, kw = mod.kernel_size
        self.by_type["Conv2d"] += out.numel() * (mod.in_channels // mod.groups) * kh * kw

    def _linear(self, mod, inp, out):
        rows = inp[0].numel() // mod.in_features
        self.by_type["Linear"] += rows * mod.in_features * mod.out_features

    def count(self, x):
        torch = self.torch
        for m in self.model.modules():
            if isinstance(m, torch.nn.Conv2d):
                self.handles.append(m.register_forward_hook(self._conv))
            elif isinstance(m, torch.nn.Linear):
                self.handles.append(m.register_forward_hook(self._linear))
            elif isinstance(m, (torch.nn.Conv1d, torch.nn.Conv3d, torch.nn.ConvTranspose2d)):
                raise RuntimeError("MAC counting does not handle %s" % type(m).__name__)
        counter = self

        class MatmulMode(torch.overrides.TorchFunctionMode):
            FUNCS = {torch.matmul, torch.bmm, torch.mm,
                     torch.Tensor.matmul, torch.Tensor.__matmul__,
                     torch.Tensor.bmm, torch.Tensor.mm}

            def __torch_function__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                if func in self.FUNCS:
                    a = args[0]
                    k = a.shape[-1]
                    counter.by_type["MatMul"] += out.numel() * k
                return out

        try:
            with torch.no_grad(), MatmulMode():
                y = self.model(x)
        finally:
            for h in self.handles:
                h.remove()
            self.handles = []
        return y, sum(self.by_type.values()), dict(self.by_type)


def onnx_stats(path):
    """(op_type -> count, total elements of all initializers) of an ONNX file."""
    import onnx
    m = onnx.load(path, load_external_data=False)
    ops = dict(sorted(collections.Counter(n.op_type for n in m.graph.node).items()))
    elems = 0
    for t in m.graph.initializer:
        n = 1
        for d in t.dims:
            n *= d
        elems += n
    return ops, elems


def up_to_date(name, out_dir, opset, seed, perturb, script_mtime, bn="keep"):
    onnx_path = os.path.join(out_dir, name + ".onnx")
    json_path = os.path.join(out_dir, name + ".torch.json")
    try:
        if min(os.path.getmtime(onnx_path), os.path.getmtime(json_path)) <= script_mtime:
            return False
        with open(json_path) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return False
    return (meta.get("opset") == opset and meta.get("seed") == seed
            and meta.get("params_perturbed") == perturb
            and meta.get("bn_calibration", "noise") == calib_source(name)
            and meta.get("batchnorm", "kept") == ("folded" if bn == "fold" else "kept"))


def check_ort(onnx_path, model, size, seed):
    """Run onnxruntime and torch on one random input; return (max_abs, max_ref)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    gen = torch.Generator().manual_seed(seed + 2)
    x = torch.randn(2, 3, size, size, generator=gen)  # batch 2: exercises the dynamic axis
    with torch.no_grad():
        ref = model(x).numpy()
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    got = sess.run(["logits"], {"input": x.numpy()})[0]
    if got.shape != ref.shape:
        raise RuntimeError("onnxruntime output shape %s != torch %s" % (got.shape, ref.shape))
    return float(np.max(np.abs(got - ref))), float(np.max(np.abs(ref)))


def export_one(name, out_dir, opset, seed, perturb, do_check, bn="keep"):
    import torch
    import torchvision

    size = input_size(name)
    onnx_path = os.path.join(out_dir, name + ".onnx")
    json_path = os.path.join(out_dir, name + ".torch.json")

    model = build_model(name, seed)
    n_bn = calibrate_batchnorm(model, size, seed, perturb, calib_source(name))
    params = sum(p.numel() for p in model.parameters())
    bn_stats = sum(m.running_mean.numel() + m.running_var.numel() for m in model.modules()
                   if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))

    x1 = torch.zeros(1, 3, size, size)
    y1, macs, macs_by_type = MacCounter(model).count(x1)

    tmp_path = onnx_path + ".tmp"
    # ViT's nn.MultiheadAttention takes its fused inference kernel
    # (aten::_native_multi_head_attention, which torch.onnx 1.13 cannot export)
    # whenever autograd is off; with grad enabled it traces the plain ops.
    grad = torch.enable_grad() if name.startswith("vit_") else torch.no_grad()
    with grad, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*constant folding be turned off.*")
        torch.onnx.export(
            model, torch.randn(1, 3, size, size), tmp_path,
            export_params=True,
            opset_version=opset,
            do_constant_folding=True,
            # PRESERVE keeps BN, EVAL folds it into the convs (see BATCHNORM note)
            training=(torch.onnx.TrainingMode.EVAL if bn == "fold"
                      else torch.onnx.TrainingMode.PRESERVE),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    op_counts, init_elems = onnx_stats(tmp_path)
    if bn == "keep" and n_bn and op_counts.get("BatchNormalization", 0) != n_bn:
        raise RuntimeError("model has %d BatchNorm layers but the ONNX graph has %d "
                           "BatchNormalization nodes" % (n_bn, op_counts.get("BatchNormalization", 0)))
    os.replace(tmp_path, onnx_path)

    meta = collections.OrderedDict([
        ("model", name),
        ("parameters", params),
        ("macs", macs),
        ("macs_by_type", macs_by_type),
        ("bn_running_stat_elems", bn_stats),
        ("input_shape", [1, 3, size, size]),
        ("output_shape", list(y1.shape)),
        ("input_name", "input"),
        ("output_name", "logits"),
        ("dynamic_axes", {"input": {"0": "batch"}, "logits": {"0": "batch"}}),
        ("opset", opset),
        ("seed", seed),
        ("batchnorm_layers", n_bn),
        ("bn_calibration", calib_source(name)),
        ("batchnorm", "folded" if bn == "fold" else "kept"),
        ("params_perturbed", bool(perturb)),
        ("onnx_op_counts", op_counts),
        ("onnx_initializer_elems", init_elems),
        ("torch_version", torch.__version__),
        ("torchvision_version", torchvision.__version__),
    ])
    result = {"params": params, "macs": macs, "size": os.path.getsize(onnx_path)}
    if do_check:
        diff, ref_max = check_ort(onnx_path, model, size, seed)
        meta["ort_max_abs_diff"] = diff
        result["ort"] = (diff, ref_max)
    with open(json_path + ".tmp", "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    os.replace(json_path + ".tmp", json_path)
    return result


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Export torchvision classifiers (random weights, calibrated "
                    "BatchNorm) to ONNX plus a .torch.json of reference facts.",
        epilog="Default models: " + ",".join(DEFAULT_MODELS))
    p.add_argument("--out", help="output directory (created if missing)")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help="comma-separated model names, or 'all' (default: the CI set below)")
    p.add_argument("--opset", type=int, default=None,
                   help="ONNX opset for every model (default: per-model table, 11..17)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--list", action="store_true",
                   help="print the supported models with their default opset and exit")
    p.add_argument("--check-ort", action="store_true",
                   help="run onnxruntime on one random input and compare with torch "
                        "(max abs diff); forces re-export; fails on a mismatch")
    p.add_argument("--rtol", type=float, default=1e-3,
                   help="--check-ort fails when max|ort-torch| > atol + rtol*max|torch| (default 1e-3)")
    p.add_argument("--atol", type=float, default=1e-4, help="see --rtol (default 1e-4)")
    p.add_argument("--no-perturb", action="store_true",
                   help="keep torchvision's initial values for BN gamma/beta and "
                        "constant (e.g. zero) biases; the export then holds Identity "
                        "nodes for de-duplicated initializers")
    p.add_argument("--bn", choices=("keep", "fold"), default="keep",
                   help="keep the BatchNormalization nodes (default; TrainingMode.PRESERVE) or "
                        "let torch.onnx fold them into the convolutions (TrainingMode.EVAL)")
    p.add_argument("--force", action="store_true", help="re-export even if up to date")
    args = p.parse_args(argv)
    if args.list:
        return args
    if not args.out:
        p.error("--out is required")
    models = list(MODEL_OPSETS) if args.models == "all" else \
        [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODEL_OPSETS]
    if unknown:
        p.error("unknown model(s): %s (see --list)" % ", ".join(unknown))
    if not models:
        p.error("no models given")
    if args.opset is not None and not 7 <= args.opset <= 17:
        p.error("--opset must be in 7..17 (torch 1.13)")
    args.model_list = models
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        for name, opset in MODEL_OPSETS.items():
            print("%-20s opset %2d  input %d%s" % (
                name, opset, input_size(name), "  (default set)" if name in DEFAULT_MODELS else ""))
        return 0

    try:
        import torch
        import torchvision  # noqa: F401
        import onnx  # noqa: F401
        if args.check_ort:
            import onnxruntime  # noqa: F401
    except ImportError as e:
        print("export_torchvision: error: %s\n  run tools/setup_venv.sh and use .venv/bin/python "
              "(needs Debian's python3-torch python3-torchvision)" % e, file=sys.stderr)
        return 2

    os.makedirs(args.out, exist_ok=True)
    script_mtime = os.path.getmtime(os.path.abspath(__file__))
    failed = []
    t_all = time.time()
    n = len(args.model_list)
    for i, name in enumerate(args.model_list, 1):
        opset = args.opset if args.opset is not None else MODEL_OPSETS[name]
        tag = "[%d/%d] %-20s opset %2d" % (i, n, name, opset)
        if not (args.force or args.check_ort) and \
                up_to_date(name, args.out, opset, args.seed, not args.no_perturb, script_mtime,
                           args.bn):
            print("%s  up to date, skipped" % tag, flush=True)
            continue
        t0 = time.time()
        try:
            r = export_one(name, args.out, opset, args.seed, not args.no_perturb, args.check_ort,
                           args.bn)
        except Exception as e:  # report and go on with the other models
            print("%s  FAILED: %s: %s" % (tag, type(e).__name__, e), flush=True)
            failed.append(name)
            continue
        line = "%s  %6.1fs  %9.3f MB  params %11d  macs %14d" % (
            tag, time.time() - t0, r["size"] / 1e6, r["params"], r["macs"])
        if "ort" in r:
            diff, ref_max = r["ort"]
            ok = diff <= args.atol + args.rtol * ref_max
            line += "  ort max|diff| %.3g (max|ref| %.3g)%s" % (diff, ref_max, "" if ok else "  MISMATCH")
            if not ok:
                failed.append(name)
        print(line, flush=True)
    print("done in %.1fs: %d model(s), %d failed%s" % (
        time.time() - t_all, n, len(failed), (": " + ", ".join(failed)) if failed else ""))
    if failed:
        print("export_torchvision: error: failed: %s" % ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
