"""Embeds images with the Python reference pipeline (../shared/reference/pipeline.py) and prints one JSON
object: {path: {"box": [...], "embedding": [...]} | null}. Used by tests/models/reference.rs to check that idv's
Rust pipeline agrees with it. Usage: reference_embed.py REFERENCE_DIR MODELS_DIR IMAGE..."""
import json
import os
import sys

reference_dir, models_dir, images = sys.argv[1], sys.argv[2], sys.argv[3:]
os.environ["FP_MODEL_DIR"] = models_dir
sys.path.insert(0, reference_dir)

import cv2  # noqa: E402
import pipeline  # noqa: E402

p = pipeline.Pipeline()
out = {}
for path in images:
    f = p.analyse(cv2.imread(path), extras=False)
    if f is None:
        out[path] = None
        continue
    pad = f.extras["pad"][0] if "pad" in f.extras else 0
    out[path] = {"box": [float(v) - pad for v in f.raw_box], "embedding": [float(v) for v in f.extras["emb"]]}
print(json.dumps(out))
