#!/usr/bin/env python3
"""Prints the criterion results of benches/pipeline.rs as the markdown table in docs/BENCHMARKS.md:
median per benchmark, and the per-image pipeline as a ratio of the bare model runs measured in the same run."""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")


def median_ms(group, name):
    est = json.loads((root / group / name / "new" / "estimates.json").read_text())
    return est["median"]["point_estimate"] / 1e6, est["median"]["confidence_interval"]


rows = []
for group_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "report"):
    for bench_dir in sorted(p for p in group_dir.iterdir() if (p / "new" / "estimates.json").exists()):
        m, ci = median_ms(group_dir.name, bench_dir.name)
        rows.append((group_dir.name, bench_dir.name, m, ci))

print("| group | benchmark | median ms | 95 % CI ms |")
print("|---|---|---|---|")
for g, n, m, ci in rows:
    print(f"| {g} | {n} | {m:.3f} | {ci['lower_bound'] / 1e6:.3f}–{ci['upper_bound'] / 1e6:.3f} |")

models = sum(median_ms("model", k)[0] for k in ("detect", "landmark", "feature"))
pipeline = median_ms("pipeline", "analyse_primary")[0]
print()
print(f"sum of bare model runs (detect + landmark + feature): {models:.3f} ms")
print(f"per-image pipeline (analyse_primary):                 {pipeline:.3f} ms")
print(f"ratio pipeline / models: {pipeline / models:.3f} (budget 1.25)")
paired = root / "paired.json"
if paired.exists():
    p = json.loads(paired.read_text())
    print(f"paired (alternating in one loop, median of {p['rounds']}): models {p['models_ms']:.3f} ms, "
          f"pipeline {p['pipeline_ms']:.3f} ms, ratio {p['ratio']:.3f}")
