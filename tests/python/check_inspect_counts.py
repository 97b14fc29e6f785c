"""Oracle test: `nndiff inspect` against PyTorch's own counts.

For every model exported by tools/export_torchvision.py, the export wrote
`<name>.torch.json` with sum(p.numel() for p in model.parameters()) and MACs
counted with forward hooks on the PyTorch module. nndiff must report exactly
the same parameter count and MACs within 1%, plus the same input/output
shapes. Usage: check_inspect_counts.py NNDIFF FIXTURE_DIR
"""
import json
import os
import subprocess
import sys
import tempfile


def main():
    nndiff, fixture_dir = sys.argv[1], sys.argv[2]
    refs = sorted(f for f in os.listdir(fixture_dir) if f.endswith(".torch.json"))
    if len(refs) < 8:
        print(f"expected at least 8 exported models in {fixture_dir}, found {len(refs)}")
        return 1
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for ref_name in refs:
            model = ref_name[: -len(".torch.json")]
            with open(os.path.join(fixture_dir, ref_name)) as f:
                ref = json.load(f)
            out = os.path.join(tmp, model + ".json")
            onnx_path = os.path.join(fixture_dir, model + ".onnx")
            proc = subprocess.run([nndiff, "inspect", onnx_path, "--json", out],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"FAIL {model}: exit {proc.returncode}: {proc.stderr.strip()}")
                failures += 1
                continue
            with open(out) as f:
                got = json.load(f)
            problems = []
            if got["parameters"] != ref["parameters"]:
                problems.append(f"parameters {got['parameters']} != torch {ref['parameters']}")
            rel = abs(got["macs"] - ref["macs"]) / ref["macs"]
            if rel > 0.01:
                problems.append(f"macs {got['macs']} vs torch {ref['macs']} ({rel:.2%} off)")
            in_shape = [d if isinstance(d, int) else 1 for d in got["inputs"][0]["shape"]]
            if in_shape[1:] != list(ref["input_shape"])[1:]:
                problems.append(f"input shape {got['inputs'][0]['shape']} vs {ref['input_shape']}")
            out_shape = [d if isinstance(d, int) else 1 for d in got["outputs"][0]["shape"]]
            if out_shape[1:] != list(ref["output_shape"])[1:]:
                problems.append(f"output shape {got['outputs'][0]['shape']} vs {ref['output_shape']}")
            if got["unsupported_ops"]:
                problems.append(f"unsupported ops {got['unsupported_ops']}")
            status = "FAIL" if problems else "ok  "
            print(f"{status} {model}: parameters {got['parameters']} (torch {ref['parameters']}), "
                  f"macs {got['macs']} (torch {ref['macs']}, {rel:.3%})"
                  + ("; " + "; ".join(problems) if problems else ""))
            failures += bool(problems)
    print(f"{len(refs) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
