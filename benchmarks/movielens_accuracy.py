"""MovieLens accuracy over split seeds and ablations: DeepFM, its deep part alone, its FM alone.

Runs `deepfm-keras train` once per (seed, variant) in a fresh process, each with
the example's config and the given overrides, and prints validation and
holdout metrics side by side:

```
python benchmarks/movielens_accuracy.py --data ../shared/data/ml-1m-users1-2999 \\
    --seeds 2017 7 42 --variants deepfm deep fm --json results.json
python benchmarks/movielens_accuracy.py --data ... --set data.movielens.history=false   # the plain fields only
python benchmarks/movielens_accuracy.py --data ... --seeds 2017 --variants deep deep_reseeded fm_weak deepfm --blend
```

`--blend` (regression) also averages each pair of the seed's trained models:
the weight `w` of `w * a + (1 - w) * b` is chosen on the validation rows
(grid of 0.01), the holdout RMSE of that blend is reported. It measures what
the parts hold that joint training leaves unused (FM alone + deep alone,
trained apart) against what any two models gain by averaging (the deep part
twice, with another training seed: `deep_reseeded`).

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
    # FM alone with its own best settings (validation, seed 2017): a weak L2 and a faster learning rate.
    "fm_weak": ['model.parts=["fm_1d", "fm_2d"]', "model.embedding_l2=1e-5", "training.learning_rate=3e-3"],
    "deep_reseeded": ['model.parts=["deep"]'],  # the deep part again, training seed + 1 (same split)
}


def run_one(args, seed: int, variant: str, out_dir: Path) -> dict:
    overrides = [
        f"data.train={Path(args.data).resolve()}",
        f"data.split_seed={seed}",
        f"training.seed={seed + 1 if variant == 'deep_reseeded' else seed}",
        f"output.dir={out_dir}",
        "output.tensorboard=false",
        "output.export=false",
        *VARIANTS[variant],
        *args.set,
    ]
    if variant.startswith("fm"):
        overrides += [f"training.epochs={args.fm_epochs}", "training.patience=6"]
    command = [args.python, "-m", "deepfm_keras_cli", "train", "--config", str(args.config), "--quiet"]
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


def _predictions(args, seed: int, out_dirs: dict) -> dict:
    """`{variant: {"validation": (y, p), "holdout": (y, p)}}` of the models saved in `out_dirs` (split of `seed`)."""
    from deepfm_keras_cli import quiet_tensorflow

    quiet_tensorflow()  # before TensorFlow is imported here
    from deepfm_keras import FeatureEncoder, batch_predict, load_model
    from deepfm_keras.run.config import load_config, parse_override
    from deepfm_keras.run.sources import _load_frames
    from deepfm_keras.run.tables import labels_of

    overrides = dict(parse_override(item) for item in args.set)
    config = load_config(args.config, {**overrides, "data.train": [str(Path(args.data).resolve())],
                                       "data.split_seed": seed})  # fmt: skip
    _, val, test = _load_frames(config, None)  # the same split and history columns as the runs
    out = {}
    for variant, out_dir in out_dirs.items():
        model, encoder = load_model(out_dir / "model.keras"), FeatureEncoder.load(out_dir / "encoder.json")
        out[variant] = {}
        for part, frame in (("validation", val), ("holdout", test)):
            scores = batch_predict(model, encoder.transform(frame)).reshape(-1)
            out[variant][part] = (labels_of(frame, config, part), scores)
    return out


def blend_rows(predictions: dict) -> list[dict]:
    """For each pair of models: the convex blend weight chosen on validation, and its RMSEs.

    Args:
        predictions: `{variant: {"validation": (y, p), "holdout": (y, p)}}`.
    """
    import itertools

    import numpy as np

    from deepfm_keras.metrics import rmse

    weights = np.linspace(0.0, 1.0, 101)
    rows = []
    for a, b in itertools.combinations(predictions, 2):
        (yv, av), (_, bv) = predictions[a]["validation"], predictions[b]["validation"]
        (yh, ah), (_, bh) = predictions[a]["holdout"], predictions[b]["holdout"]
        scores = [rmse(yv, w * av + (1 - w) * bv) for w in weights]
        best = int(np.argmin(scores))
        w = float(weights[best])
        rows.append(
            {"a": a, "b": b, "weight_a": w, "validation": scores[best], "holdout": rmse(yh, w * ah + (1 - w) * bh)}
        )
    return rows


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
    parser.add_argument("--blend", action="store_true", help="regression: also blend each pair of a seed's models")
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
            if args.blend and rows[-1]["task"] == "regression":
                preds = _predictions(args, seed, {v: Path(tmp) / f"{v}_{seed}" for v in args.variants})
                for b in blend_rows(preds):
                    b["seed"] = seed
                    rows.append(b)
                    print(
                        f"seed {seed:>5} blend {b['weight_a']:.2f} x {b['a']} + {1 - b['weight_a']:.2f} x {b['b']}: "
                        f"validation rmse {b['validation']:.4f}  holdout rmse {b['holdout']:.4f}",
                        flush=True,
                    )
    key = "rmse" if rows[0]["task"] == "regression" else "auc"
    print(f"\n| variant | validation {key} (mean) | holdout {key} per seed | mean | spread (max - min) |")
    print("| --- | --- | --- | --- | --- |")
    for variant in args.variants:
        mine = [r for r in rows if r.get("variant") == variant]
        hold = [r["holdout"][key] for r in mine]
        val = statistics.mean(r["validation"][key] for r in mine)
        per_seed = ", ".join(f"{r['seed']}: {r['holdout'][key]:.4f}" for r in mine)
        print(f"| {variant} | {val:.4f} | {per_seed} | {statistics.mean(hold):.4f} | {max(hold) - min(hold):.4f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
