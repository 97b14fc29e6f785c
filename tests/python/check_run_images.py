"""Oracle test: `nndiff run` on a folder of real photos with broken files.

The folder holds scikit-image's photos (PNG and JPEG, colour, grey, RGBA,
one in a subfolder), a corrupt JPEG (a JPEG header followed by garbage) and
a truncated PNG (the first half of a real one). Checks:

  --on-error fail   exit 2, one line on stderr naming the first broken file
                    (in dataset order), and no result files;
  --on-error skip   exit 0; JSON lists both broken files under "skipped" with
                    a reason, and every photo under "images" (index, file,
                    label, top); --outputs holds float32 [N, 1000] in dataset
                    order, NaN rows for the broken files, the other rows
                    equal to ONNX Runtime's outputs on torchvision's
                    preprocessing of the same files (max |diff| <= 1e-4 *
                    max |ort|, same top-1); the JSON top-5 equals ORT's;
                    accuracy top-1/top-5 from a labels file equal the values
                    computed from ORT's rankings; the text report has the
                    preprocessing line, the skipped list, the summary for
                    more than 20 inputs (all inputs with --verbose);
  --softmax         scores are probabilities (ORT softmax) in the JSON;
  --limit 5         5 inputs visited, --outputs has 5 rows.

Usage: check_run_images.py NNDIFF FIXTURE_DIR [--model squeezenet1_1]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import photos  # noqa: E402

RTOL = 1e-4
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what, flush=True)
    return cond


def run(nndiff, args):
    return subprocess.run([nndiff, "run"] + args, capture_output=True, text=True)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("nndiff")
    p.add_argument("fixture_dir")
    p.add_argument("--model", default="squeezenet1_1")
    args = p.parse_args(argv)
    photos.require_modules("numpy", "onnxruntime", "torchvision", "PIL")
    paths = photos.require_photos()
    import numpy as np
    from PIL import Image

    model = os.path.join(args.fixture_dir, args.model + ".onnx")
    if not os.path.exists(model):
        print("skipped: %s not exported" % model)
        return photos.SKIP
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, "photos")
        os.makedirs(os.path.join(d, "more"))
        for i, pth in enumerate(paths):
            shutil.copy(pth, os.path.join(d, "more" if i == 0 else "", os.path.basename(pth)))
        # Broken files, named so that the corrupt JPEG comes first in order.
        with open(os.path.join(d, "a_corrupt.jpg"), "wb") as f:
            f.write(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8)
        with open(paths[0], "rb") as f:
            png = f.read()
        with open(os.path.join(d, "b_truncated.png"), "wb") as f:
            f.write(png[: len(png) // 2])
        names = []
        for root, _, files in os.walk(d):
            for fn in files:
                names.append(os.path.relpath(os.path.join(root, fn), d))
        names.sort(key=lambda s: s.encode())
        broken = {"a_corrupt.jpg", "b_truncated.png"}
        good = [n for n in names if n not in broken]
        n_all = len(names)

        # ORT on torchvision's preprocessing of the good files.
        tf = photos.torchvision_transform(224)
        x = np.stack([tf(Image.open(os.path.join(d, n)).convert("RGB")).numpy()
                      for n in good]).astype(np.float32)
        ref = photos.ort_run(model, x)
        ref_max = float(np.abs(ref).max())
        ref_rank = np.argsort(-ref, axis=1, kind="stable")
        labels = {n: int(ref_rank[i, 0] if i % 3 == 0 else ref_rank[i, 3] if i % 3 == 1
                         else (ref_rank[i, 0] + 1) % 1000) for i, n in enumerate(good)}
        lab_path = os.path.join(tmp, "labels.txt")
        with open(lab_path, "w") as f:
            for n, lab in labels.items():
                f.write("%s %d\n" % (n, lab))

        out_dir = os.path.join(tmp, "out")
        os.makedirs(out_dir)
        npy, js = os.path.join(out_dir, "out.npy"), os.path.join(out_dir, "run.json")

        # --on-error fail (the default): exit 2 naming the first broken file.
        proc = run(args.nndiff, [model, "--data", d, "--outputs", npy, "--json", js])
        err = proc.stderr.strip().splitlines()
        check(proc.returncode == 2 and len(err) == 1 and "a_corrupt.jpg" in err[0]
              and err[0].startswith("nndiff: "),
              "fail policy: exit %d, stderr %r (want 2, one line naming a_corrupt.jpg)"
              % (proc.returncode, proc.stderr))
        check(os.listdir(out_dir) == [], "fail policy left files: %s" % os.listdir(out_dir))
        print("ok   --on-error fail: exit 2: %s" % (err[0] if err else ""))

        # --on-error skip: the full report.
        proc = run(args.nndiff, [model, "--data", d, "--on-error", "skip", "--outputs", npy,
                                 "--json", js, "--labels", lab_path, "--threads", "2",
                                 "--batch", "4"])
        if not check(proc.returncode == 0, "skip policy: exit %d: %s" % (proc.returncode,
                                                                         proc.stderr.strip())):
            return 1
        with open(js) as f:
            doc = json.load(f)
        out = np.load(npy)
        check(out.shape == (n_all, 1000) and out.dtype == np.float32,
              "--outputs shape %s %s, want (%d, 1000) float32" % (out.shape, out.dtype, n_all))
        rows_good = np.array([names.index(n) for n in good])
        rows_bad = [names.index(n) for n in sorted(broken)]
        check(np.all(np.isnan(out[rows_bad])), "skipped rows are not NaN")
        got = out[rows_good]
        diff = float(np.max(np.abs(got.astype(np.float64) - ref)))
        check(diff <= RTOL * ref_max, "outputs vs ORT: max|diff| %.3g > %.3g" % (diff, RTOL * ref_max))
        check(np.array_equal(got.argmax(1), ref.argmax(1)), "outputs vs ORT: top-1 differs")
        print("ok   --outputs: %s float32, %d NaN rows; vs ORT on torchvision tensors: max|diff| "
              "%.3g (max|ort| %.3g)" % (out.shape, len(rows_bad), diff, ref_max))

        skipped = {s["file"]: s for s in doc["skipped"]}
        check(set(skipped) == broken and all(s["reason"] for s in skipped.values())
              and [s["index"] for s in doc["skipped"]] == rows_bad,
              "JSON skipped: %s" % doc["skipped"])
        imgs = doc["images"]
        check([e["file"] for e in imgs] == good and [e["index"] for e in imgs] == list(rows_good),
              "JSON images: files/indices %s" % [(e["index"], e.get("file")) for e in imgs])
        for i, e in enumerate(imgs):
            top = [c for c, _ in e["top"]]
            check(top == [int(c) for c in ref_rank[i, :5]],
                  "JSON top-5 of %s: %s, ORT %s" % (e["file"], top, list(ref_rank[i, :5])))
            check(all(abs(s - float(ref[i, c])) <= RTOL * ref_max for c, s in e["top"]),
                  "JSON scores of %s differ from ORT" % e["file"])
            check(e.get("label") == labels[e["file"]], "JSON label of %s" % e["file"])
        t1 = float(np.mean([ref_rank[i, 0] == labels[n] for i, n in enumerate(good)]))
        t5 = float(np.mean([labels[n] in ref_rank[i, :5] for i, n in enumerate(good)]))
        acc = doc["accuracy"]
        check(abs(acc["top1"] - t1) < 1e-9 and abs(acc["top5"] - t5) < 1e-9
              and acc["labelled"] == len(good),
              "accuracy %s, ORT top-1 %.6f top-5 %.6f" % (acc, t1, t5))
        print("ok   JSON: %d images, %d skipped, accuracy top-1 %.4f top-5 %.4f (ORT %.4f %.4f)"
              % (len(imgs), len(skipped), acc["top1"], acc["top5"], t1, t5))
        for key in ("throughput", "preprocessing", "model", "engine"):
            check(key in doc, "JSON lacks %s" % key)
        check(doc["preprocessing"].startswith("torchvision: resize shorter side to 256"),
              "JSON preprocessing %r" % doc["preprocessing"])
        check(doc["throughput"]["images"] == len(good) and doc["throughput"]["images_per_second"] > 0,
              "JSON throughput %s" % doc["throughput"])
        text = proc.stdout
        check("preprocessing  torchvision: resize shorter side to 256" in text,
              "text lacks the preprocessing line")
        check("skipped 2 of %d inputs" % n_all in text and "a_corrupt.jpg" in text,
              "text lacks the skipped list")
        check("images/s" in text and "ms/image" in text, "text lacks the throughput")
        if len(good) > 20:
            check("... %d more" % (len(good) - 10) in text and "distinct top-1 class" in text,
                  "text lacks the head/tail summary for %d inputs" % len(good))
            proc = run(args.nndiff, [model, "--data", d, "--on-error", "skip", "--verbose"])
            check(proc.returncode == 0 and all(n in proc.stdout for n in good),
                  "--verbose does not list every input")
        check(proc.stderr == "", "stderr is not a terminal, yet got %r" % proc.stderr)

        # --softmax: probabilities.
        proc = run(args.nndiff, [model, "--data", d, "--on-error", "skip", "--softmax", "--top", "3",
                                 "--json", "-"])
        if check(proc.returncode == 0, "--softmax: exit %d %s" % (proc.returncode, proc.stderr)):
            doc = json.loads(proc.stdout)
            e = doc["images"][0]
            z = ref[0].astype(np.float64)
            prob = np.exp(z - z.max())
            prob /= prob.sum()
            check(len(e["top"]) == 3 and all(abs(s - prob[c]) < 1e-5 for c, s in e["top"]),
                  "--softmax scores %s, ORT softmax %s" % (e["top"], prob[ref_rank[0, :3]]))
            print("ok   --softmax --top 3 --json -: %s" % e["top"])

        # --limit.
        lim = os.path.join(out_dir, "lim.npy")
        proc = run(args.nndiff, [model, "--data", d, "--on-error", "skip", "--limit", "5",
                                 "--outputs", lim])
        check(proc.returncode == 0 and np.load(lim).shape == (5, 1000),
              "--limit 5: exit %d, %s" % (proc.returncode, proc.stderr.strip()))
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
