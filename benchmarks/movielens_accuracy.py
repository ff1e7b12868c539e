"""MovieLens accuracy over split seeds and ablations: DeepFM, its deep part alone, its FM alone.

Runs `deepfm-keras train` once per (seed, variant) in a fresh process, each with
the example's config and the given overrides, and prints validation and
holdout metrics side by side:

```
python benchmarks/movielens_accuracy.py --data ../shared/data/ml-1m-users1-2999 \\
    --seeds 2017 7 42 --variants deepfm deep fm --json results.json
python benchmarks/movielens_accuracy.py --data ... --set data.history=false   # the plain fields only
```

`--seeds` sets `data.split_seed` and `training.seed` together. The FM-only
variant gets `--fm-epochs` (default 80) and a longer patience: it learns more
slowly. Settings are chosen on the validation columns only; the holdout
columns are reported, never used to choose.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "deepfm": ['model.parts=["fm_1d", "fm_2d", "deep"]'],
    "deep": ['model.parts=["deep"]'],
    "fm": ['model.parts=["fm_1d", "fm_2d"]'],
}


def run_one(args, seed: int, variant: str, out_dir: Path) -> dict:
    overrides = [
        f"data.train={Path(args.data).resolve()}",
        f"data.split_seed={seed}",
        f"training.seed={seed}",
        f"output.dir={out_dir}",
        "output.tensorboard=false",
        "output.export=false",
        *VARIANTS[variant],
        *args.set,
    ]
    if variant == "fm":
        overrides += [f"training.epochs={args.fm_epochs}", "training.patience=6"]
    command = [args.python, "-m", "deepfm_keras", "train", "--config", str(args.config), "--quiet"]
    for item in overrides:
        command += ["--set", item]
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    metrics = json.loads((out_dir / "metrics.json").read_text())
    return {
        "seed": seed,
        "variant": variant,
        "task": metrics["task"],
        "holdout": metrics["holdout"],
        "validation": metrics["validation"],
        "epochs_run": metrics["epochs_run"],
        "train_examples_per_sec": metrics["train_examples_per_sec"],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="MovieLens-1M folder")
    parser.add_argument("--config", default=str(ROOT / "examples" / "movielens.toml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[2017, 7, 42])
    parser.add_argument("--variants", nargs="+", default=["deepfm"], choices=sorted(VARIANTS))
    parser.add_argument("--fm-epochs", type=int, default=80)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for variant in args.variants:
                row = run_one(args, seed, variant, Path(tmp) / f"{variant}_{seed}")
                rows.append(row)
                key = "rmse" if row["task"] == "regression" else "auc"
                print(
                    f"seed {seed:>5} {variant:>6}: validation {key} {row['validation'][key]:.4f}  "
                    f"holdout {key} {row['holdout'][key]:.4f}  epochs {row['epochs_run']}  "
                    f"{row['train_examples_per_sec']:,.0f} ex/s",
                    flush=True,
                )
    key = "rmse" if rows[0]["task"] == "regression" else "auc"
    print(f"\n| variant | validation {key} (mean) | holdout {key} per seed | mean | spread (max - min) |")
    print("| --- | --- | --- | --- | --- |")
    for variant in args.variants:
        mine = [r for r in rows if r["variant"] == variant]
        hold = [r["holdout"][key] for r in mine]
        val = statistics.mean(r["validation"][key] for r in mine)
        per_seed = ", ".join(f"{r['seed']}: {r['holdout'][key]:.4f}" for r in mine)
        print(f"| {variant} | {val:.4f} | {per_seed} | {statistics.mean(hold):.4f} | {max(hold) - min(hold):.4f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
