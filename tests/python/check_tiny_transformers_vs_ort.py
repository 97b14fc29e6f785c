"""Small versions of torchvision's ViT, Swin, ConvNeXt and MaxViT,
exported by the real torch.onnx at opset 17 (LayerNormalization) and 13 (its
ReduceMean/Sub/Pow/Sqrt/Div decomposition), through `nndiff run` in both
precisions against ONNX Runtime, at batch 1 and 3 (the graphs compute
their shapes from the symbolic batch: Shape, Gather, ConstantOfShape,
Equal, Where, Expand, Range, Mod, ScatterND, Slice+Concat for torch.roll;
MaxViT's attention is Einsum).

The same architectures as the full-size interop fixtures, in seconds: 32x32
to 64x64 inputs, two blocks per stage, random seeded weights. Requires
max |nndiff - ort| <= 1e-4 x max |ort| and identical top-1. Exits 77 when
torch, torchvision, onnx or onnxruntime is missing.

Usage: check_tiny_transformers_vs_ort.py NNDIFF
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import photos  # noqa: E402

RTOL = 1e-4


def models():
    import torch
    from torchvision.models import convnext, maxvit, swin_transformer, vision_transformer

    out = []
    torch.manual_seed(0)
    out.append(("vit", 32, vision_transformer.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
        num_classes=10)))
    torch.manual_seed(1)
    out.append(("swin", 64, swin_transformer.SwinTransformer(
        patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 2], window_size=[4, 4],
        num_classes=10)))
    torch.manual_seed(3)
    cfg = [convnext.CNBlockConfig(16, 32, 2), convnext.CNBlockConfig(32, None, 2)]
    out.append(("convnext", 32, convnext.ConvNeXt(cfg, num_classes=10)))
    torch.manual_seed(5)
    # MaxViT's block and grid attention export as Einsum
    out.append(("maxvit", 64, maxvit.MaxVit(
        input_size=(64, 64), stem_channels=16, partition_size=4, block_channels=[16, 32],
        block_layers=[1, 1], head_dim=8, stochastic_depth_prob=0.0, num_classes=10)))
    # Fresh heads are zeros (ViT) and LayerNorms 1/0: make every constant
    # parameter look trained, or the logits say nothing.
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for _, _, m in out:
            for p in m.parameters():
                if bool((p == p.reshape(-1)[0]).all()):
                    p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    return out


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    photos.require_modules("numpy", "torch", "torchvision", "onnx", "onnxruntime")
    import numpy as np
    import onnxruntime as ort
    import torch

    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, size, model in models():
            model.eval()
            for opset in (17, 13):
                path = os.path.join(tmp, "%s_%d.onnx" % (name, opset))
                # grad on: ViT's attention would take the fused kernel torch.onnx
                # cannot export (see tools/export_torchvision.py)
                with torch.enable_grad():
                    torch.onnx.export(model, torch.randn(1, 3, size, size), path,
                                      opset_version=opset, input_names=["input"],
                                      output_names=["logits"],
                                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
                for batch in (1, 3):
                    x = np.random.RandomState(batch).randn(batch, 3, size, size).astype(np.float32)
                    ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
                        None, {"input": x})[0].astype(np.float64)
                    for precision in ("fast", "reference"):
                        got, error = photos.nndiff_run(argv[1], path, x, precision, batch, tmp)
                        tag = "%-8s opset %d batch %d %-9s" % (name, opset, batch, precision)
                        if error:
                            print("FAIL %s nndiff %s" % (tag, error))
                            failures += 1
                            continue
                        rel = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
                        same = bool((got.argmax(1) == ref.argmax(1)).all())
                        ok = rel <= RTOL and same
                        failures += not ok
                        print("%s %s rel %.2e top-1 %s" % ("ok  " if ok else "FAIL", tag, rel,
                                                          "same" if same else "DIFFERS"))
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
