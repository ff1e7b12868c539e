"""Does a refactor keep a seeded MovieLens run's predictions? Trains the same run with two checkouts and compares.

```
git worktree add /tmp/before <commit>
python benchmarks/same_predictions.py --before /tmp/before --data ../shared/data/ml-1m-users1-2999 --epochs 2
```

Each checkout trains `examples/movielens.toml` (its own copy, with the same
overrides: data, epochs, seed, no export) through its own command line, in a
process of its own with `PYTHONPATH` on it. Then this checkout loads both
`model.keras` and `encoder.json` files and scores the same holdout rows
(the run's seeded split, history columns built from the training rows), and
prints the largest difference of the predictions, the two holdout RMSEs and
the two validation curves as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def train(checkout: Path, out: Path, args) -> float:
    """Trains the MovieLens run with `checkout`'s code; returns the wall seconds."""
    module = "deepfm_keras_cli" if (checkout / "deepfm_keras_cli.py").exists() else "deepfm_keras"
    overrides = {
        "data.train": f"'{Path(args.data).resolve()}'",
        "training.epochs": args.epochs,
        "training.seed": args.seed,
        "output.dir": f"'{out}'",
        "output.export": "false",
        "output.tensorboard": "false",
    }
    command = [sys.executable, "-m", module, "train", "--config", str(checkout / "examples" / "movielens.toml"),
               "--quiet", *(x for k, v in overrides.items() for x in ("--set", f"{k}={v}"))]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(checkout), DEEPFM_KERAS_DTYPE_POLICY="float32")
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=checkout, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--before", required=True, help="the checkout to compare with (e.g. a git worktree)")
    p.add_argument("--after", default=str(REPO), help="the checkout under test (default: this one)")
    p.add_argument("--data", required=True, help="the MovieLens folder")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=2017)
    p.add_argument("--workdir", default="/tmp/same_predictions")
    args = p.parse_args(argv)
    work = Path(args.workdir)
    runs = {name: work / name for name in ("before", "after")}
    seconds = {name: train(Path(getattr(args, name)).resolve(), out, args) for name, out in runs.items()}

    import numpy as np

    from deepfm_keras import FeatureEncoder, batch_predict, load_model
    from deepfm_keras.run.config import load_config
    from deepfm_keras.run.sources import _load_frames

    config = load_config(REPO / "examples" / "movielens.toml", {"data.train": [str(Path(args.data).resolve())]})
    _, _, holdout = _load_frames(config, None)
    scores, metrics = {}, {}
    for name, out in runs.items():
        model = load_model(out / "model.keras", compile=False)
        encoder = FeatureEncoder.load(out / "encoder.json")
        scores[name] = np.asarray(batch_predict(model, encoder.transform(holdout))).reshape(-1)
        metrics[name] = json.loads((out / "metrics.json").read_text())
    report = {
        "holdout_rows": len(holdout),
        "max_abs_diff": float(np.abs(scores["before"] - scores["after"]).max()),
        "holdout_rmse": {n: m["holdout"]["rmse"] for n, m in metrics.items()},
        "validation_curve": {n: m["validation"]["curve"] for n, m in metrics.items()},
        "train_seconds": {n: m["train_seconds"] for n, m in metrics.items()},
        "wall_seconds": seconds,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
