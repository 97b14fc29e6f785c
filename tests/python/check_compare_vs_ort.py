"""Oracle test: `nndiff compare` against the same metrics computed in Python
from ONNX Runtime's outputs on the same inputs.

From one small fixture (A, squeezenet1_1 by default) the test makes, with
the onnx API in a temporary directory:
  B  A with its first convolution's weights perturbed (a lossy "converter"),
  C  B with the classifier convolution perturbed as well (a second step),
  R  A with every node and tensor renamed (a converter that changes nothing),
  S  A with its output sliced to 500 classes (an incompatible model).
Inputs: 32 real photos preprocessed by torchvision (a .npy), with labels.

Checks:
  compare A B        exit 1; label_discrepancy, discrepant_count and the
                     discrepant inputs (index, top1_a, top1_b) equal ORT's;
                     per-input tau equals scipy's tau-b over the union of
                     the top-5 sets; grades, max/mean |diff| and cosine agree
                     with numpy on ORT's outputs (within float tolerance);
                     accuracy per model equals ORT's.
  compare A A, A R   exit 0, discrepancy 0, outputs identical (max |diff| 0).
  compare A B C --chain
                     exit 1; all three pairs as above; the chain's per-step
                     "broke" counts and each input's first changed step equal
                     those derived from ORT's top-1 labels.
  compare A C on the photos folder itself (nndiff decodes and preprocesses):
                     the same discrepant files as ORT on torchvision's
                     tensors of the same files.
  compare A S        exit 2 naming both output shapes.

Usage: check_compare_vs_ort.py NNDIFF FIXTURE_DIR [--model squeezenet1_1]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
import photos  # noqa: E402

N_INPUTS = 32
RTOL = 1e-4

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what, flush=True)
    return cond


def run_compare(nndiff, model_paths, data, tmp, tag, extra=()):
    js = os.path.join(tmp, tag + ".json")
    cmd = [nndiff, "compare"] + list(model_paths) + ["--data", data, "--json", js, "--threads", "1"]
    cmd += list(extra)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    doc = None
    if os.path.exists(js):
        with open(js) as f:
            doc = json.load(f)
        os.remove(js)
    return proc, doc


def ort_pair_oracle(oa, ob):
    import numpy as np
    ta, tb = oa.argmax(1), ob.argmax(1)
    idx = np.nonzero(ta != tb)[0]
    grades = {"none": 0, "minor": 0, "major": 0}
    taus = []
    for i in range(len(oa)):
        la = list(np.argsort(-oa[i], kind="stable")[:5])
        lb = list(np.argsort(-ob[i], kind="stable")[:5])
        grades["major" if la[0] != lb[0] else "none" if la == lb else "minor"] += 1
        taus.append(models.kendall_tau_top5_union(oa[i], ob[i]))
    d = np.abs(oa.astype(np.float64) - ob)
    na = np.linalg.norm(oa.astype(np.float64), axis=1)
    nb = np.linalg.norm(ob.astype(np.float64), axis=1)
    cos = np.sum(oa.astype(np.float64) * ob, axis=1) / (na * nb)
    return {"discrepant": [int(i) for i in idx], "top1_a": ta, "top1_b": tb, "grades": grades,
            "taus": taus, "max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean()),
            "cosine": float(cos.mean())}


def check_pair(tag, pair, oa, ob, scale):
    o = ort_pair_oracle(oa, ob)
    n = len(oa)
    got_idx = [e["index"] for e in pair["discrepant_inputs"]]
    check(got_idx == o["discrepant"],
          "%s: discrepant inputs %s, ORT says %s" % (tag, got_idx, o["discrepant"]))
    check(pair["discrepant_count"] == len(o["discrepant"]),
          "%s: discrepant_count %d, ORT %d" % (tag, pair["discrepant_count"], len(o["discrepant"])))
    check(abs(pair["label_discrepancy"] - len(o["discrepant"]) / n) < 1e-12,
          "%s: label_discrepancy %g, ORT %g" % (tag, pair["label_discrepancy"],
                                                len(o["discrepant"]) / n))
    for e in pair["discrepant_inputs"]:
        i = e["index"]
        check(e["top1_a"] == int(o["top1_a"][i]) and e["top1_b"] == int(o["top1_b"][i]),
              "%s: input %d top-1 %d/%d, ORT %d/%d" % (tag, i, e["top1_a"], e["top1_b"],
                                                       o["top1_a"][i], o["top1_b"][i]))
        check(abs(e["tau"] - o["taus"][i]) < 1e-6,
              "%s: input %d tau %g, scipy %g" % (tag, i, e["tau"], o["taus"][i]))
        check(e["grade"] == "major", "%s: input %d grade %s" % (tag, i, e["grade"]))
    check(pair["grades"] == o["grades"], "%s: grades %s, ORT %s" % (tag, pair["grades"], o["grades"]))
    tau_mean = sum(o["taus"]) / n
    check(abs(pair["kendall_tau_top5_mean"] - tau_mean) < 1e-6,
          "%s: tau mean %g, scipy %g" % (tag, pair["kendall_tau_top5_mean"], tau_mean))
    tol = RTOL * scale
    check(abs(pair["max_abs_diff"] - o["max_abs_diff"]) <= 2 * tol,
          "%s: max_abs_diff %g, ORT %g" % (tag, pair["max_abs_diff"], o["max_abs_diff"]))
    check(abs(pair["mean_abs_diff"] - o["mean_abs_diff"]) <= 2 * tol,
          "%s: mean_abs_diff %g, ORT %g" % (tag, pair["mean_abs_diff"], o["mean_abs_diff"]))
    check(abs(pair["cosine"] - o["cosine"]) < 1e-5,
          "%s: cosine %.8f, ORT %.8f" % (tag, pair["cosine"], o["cosine"]))
    print("ok   %s: %d of %d inputs differ in top-1 (%s), tau mean %.4f, max|diff| %.4g "
          "(ORT %.4g), cosine %.6f" % (tag, pair["discrepant_count"], n, got_idx, tau_mean,
                                      pair["max_abs_diff"], o["max_abs_diff"], pair["cosine"]),
          flush=True)
    return o


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("nndiff")
    p.add_argument("fixture_dir")
    p.add_argument("--model", default="squeezenet1_1")
    args = p.parse_args(argv)
    photos.require_modules("numpy", "onnx", "onnxruntime", "torchvision", "PIL", "scipy")
    paths = photos.require_photos()
    import numpy as np

    src = os.path.join(args.fixture_dir, args.model + ".onnx")
    if not os.path.exists(src):
        print("skipped: %s not exported" % src)
        return photos.SKIP
    with tempfile.TemporaryDirectory() as tmp:
        A = os.path.join(tmp, "a.onnx")
        B = os.path.join(tmp, "b_conv0_perturbed.onnx")
        C = os.path.join(tmp, "c_classifier_perturbed.onnx")
        R = os.path.join(tmp, "a_renamed.onnx")
        S = os.path.join(tmp, "a_500_classes.onnx")
        shutil.copy(src, A)
        models.perturb_conv(A, B, 0, 0.2)
        models.perturb_conv(B, C, -1, 0.2)
        models.rename_all(A, R)
        models.slice_output(A, S, 500)

        x = photos.torchvision_inputs(N_INPUTS, 224)
        xp = os.path.join(tmp, "inputs.npy")
        np.save(xp, x)
        oa, ob, oc = (photos.ort_run(m, x) for m in (A, B, C))
        scale = float(max(np.abs(oa).max(), np.abs(ob).max(), np.abs(oc).max()))
        ta, tb, tc = oa.argmax(1), ob.argmax(1), oc.argmax(1)
        if not (np.any(ta != tb) and np.any(tb != tc) and np.any(ta == tc)):
            print("FAIL test setup: the perturbations should change some but not all labels "
                  "(A/B %d, B/C %d, A/C %d of %d)" % (np.sum(ta != tb), np.sum(tb != tc),
                                                      np.sum(ta != tc), N_INPUTS))
            return 1
        # Labels: ORT's top-1 of A for even inputs, something else for odd ones.
        labels = np.where(np.arange(N_INPUTS) % 2 == 0, ta, (ta + 1) % 1000).astype(np.int64)
        lp = os.path.join(tmp, "labels.npy")
        np.save(lp, labels)

        # A vs B: a real difference.
        proc, doc = run_compare(args.nndiff, [A, B], xp, tmp, "ab", ["--labels", lp])
        if check(proc.returncode == 1 and doc, "compare A B: exit %d (want 1): %s"
                 % (proc.returncode, proc.stderr.strip())):
            check(doc["inputs"] == N_INPUTS, "compare A B: inputs %s" % doc["inputs"])
            check([m["id"] for m in doc["models"]] == ["A", "B"], "compare A B: model ids")
            check(len(doc["pairs"]) == 1, "compare A B: %d pairs" % len(doc["pairs"]))
            check_pair("A vs B", doc["pairs"][0], oa, ob, scale)
            for m, out in zip(doc["accuracy"], (oa, ob)):
                top5 = np.argsort(-out, axis=1, kind="stable")[:, :5]
                t1 = float(np.mean(out.argmax(1) == labels))
                t5 = float(np.mean([labels[i] in top5[i] for i in range(N_INPUTS)]))
                check(abs(m["top1"] - t1) < 1e-9 and abs(m["top5"] - t5) < 1e-9,
                      "accuracy %s: %s/%s, ORT %s/%s" % (m["model"], m["top1"], m["top5"], t1, t5))
            check("differ on" in proc.stdout or "differs on" in proc.stdout,
                  "compare A B: text names the discrepancy")

        # A vs itself and A vs a renamed copy: nothing differs.
        for tag, pair in (("A vs A", [A, A]), ("A vs renamed A", [A, R])):
            proc, doc = run_compare(args.nndiff, pair, xp, tmp, "same")
            if check(proc.returncode == 0 and doc, "compare %s: exit %d (want 0): %s"
                     % (tag, proc.returncode, proc.stderr.strip())):
                pr = doc["pairs"][0]
                check(pr["label_discrepancy"] == 0 and pr["discrepant_count"] == 0
                      and pr["discrepant_inputs"] == [], "%s: discrepancy %s" % (tag, pr))
                check(pr["max_abs_diff"] == 0 and pr["grades"]["none"] == N_INPUTS,
                      "%s: outputs differ (max %s, grades %s)" % (tag, pr["max_abs_diff"],
                                                                 pr["grades"]))
                print("ok   %s: exit 0, discrepancy 0, max|diff| 0" % tag)

        # A -> B -> C as a conversion chain.
        proc, doc = run_compare(args.nndiff, [A, B, C], xp, tmp, "chain", ["--chain"])
        if check(proc.returncode == 1 and doc, "compare A B C --chain: exit %d: %s"
                 % (proc.returncode, proc.stderr.strip())):
            pairs = {(q["a"], q["b"]): q for q in doc["pairs"]}
            check(sorted(pairs) == [("A", "B"), ("A", "C"), ("B", "C")], "chain: pairs %s" % pairs)
            outs = {"A": oa, "B": ob, "C": oc}
            for (a, b), q in sorted(pairs.items()):
                check_pair("%s vs %s (3 models)" % (a, b), q, outs[a], outs[b], scale)
            m = doc["label_discrepancy_matrix"]
            check(m[0][1] == pairs[("A", "B")]["label_discrepancy"] and m[2][1] == m[1][2],
                  "chain: matrix %s" % m)
            ch = doc["chain"]
            disc = [i for i in range(N_INPUTS) if ta[i] != tc[i]]
            first = {i: (1 if ta[i] != tb[i] else 2) for i in disc}
            broke = [sum(1 for i in disc if first[i] == s) for s in (1, 2)]
            got = [s["broke"] for s in ch["steps"]]
            check(ch["discrepant_count"] == len(disc) and got == broke,
                  "chain: discrepant %d broke %s, ORT %d %s" % (ch["discrepant_count"], got,
                                                                len(disc), broke))
            got_first = {e["index"]: e["first_changed_step"] for e in ch["discrepant_inputs"]}
            check(got_first == first, "chain: first steps %s, ORT %s" % (got_first, first))
            for e in ch["discrepant_inputs"]:
                i = e["index"]
                check(e["top1"] == [int(ta[i]), int(tb[i]), int(tc[i])],
                      "chain: input %d labels %s" % (i, e["top1"]))
            print("ok   chain A -> B -> C: %d of %d inputs changed end to end; broke per step %s"
                  % (len(disc), N_INPUTS, broke))

        # The photos themselves: nndiff decodes and preprocesses, ORT gets
        # torchvision's tensors of the same files in the same (sorted) order.
        img_dir = os.path.join(tmp, "photos")
        os.makedirs(img_dir)
        for pth in paths:
            shutil.copy(pth, img_dir)
        names = sorted(os.listdir(img_dir))
        from PIL import Image
        tf = photos.torchvision_transform(224)
        xi = np.stack([tf(Image.open(os.path.join(img_dir, n)).convert("RGB")).numpy()
                       for n in names]).astype(np.float32)
        oai, oci = photos.ort_run(A, xi), photos.ort_run(C, xi)
        want = [names[i] for i in np.nonzero(oai.argmax(1) != oci.argmax(1))[0]]
        proc, doc = run_compare(args.nndiff, [A, C], img_dir, tmp, "photos")
        if check(proc.returncode in (0, 1) and doc, "compare on photos: exit %d: %s"
                 % (proc.returncode, proc.stderr.strip())):
            got = [e["file"] for e in doc["pairs"][0]["discrepant_inputs"]]
            check(got == want and proc.returncode == (1 if want else 0),
                  "compare on photos: discrepant %s (exit %d), ORT on torchvision tensors %s"
                  % (got, proc.returncode, want))
            print("ok   compare A C on %d photos: discrepant files %s" % (len(names), got))

        # Output shapes that differ: a usage error naming both.
        proc, doc = run_compare(args.nndiff, [A, S], xp, tmp, "shapes")
        err = proc.stderr.strip()
        check(proc.returncode == 2 and "[batch,500]" in err and "[batch,1000]" in err
              and len(err.splitlines()) == 1 and doc is None,
              "compare A S: exit %d, stderr %r (want 2 naming both shapes)" % (proc.returncode, err))
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
