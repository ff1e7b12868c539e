"""Trains DeepFM on MovieLens and reports holdout metrics.

```
python examples/movielens.py [--data-dir DIR] [--variant ml-1m|ml-100k] [--task regression|binary]
                             [--epochs N] [--batch-size B] [--output-dir OUT] [--quiet]
```

`--task regression` predicts the rating (RMSE, MAE), `--task binary` predicts
`rating >= 4` (AUC, log loss, accuracy, gAUC by user). The defaults are
`examples/movielens.toml`, so `deepfm-keras train --config
examples/movielens.toml` is the same run: this script only maps its options
onto that run config and runs the pipeline `deepfm-keras train` runs. Without
`--data-dir` the GroupLens archive is downloaded. `--help` lists every option.

Writes `metrics.json`, `model.keras`, `encoder.json`, `serving/1` (TensorFlow
Serving, raw columns in) and TensorBoard logs under `logs/` to `--output-dir`
(docs/cli-and-configs.md, "What a run writes"; the split and the features:
docs/examples.md). Holdout results of the defaults, and what was tried to
choose them: benchmarks/README.md, "The MovieLens example: holdout results of
its defaults".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The defaults live in one place, the run config beside this script (`deepfm-keras train --config` reads it too).
CONFIG = Path(__file__).with_name("movielens.toml")


def _defaults() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads(CONFIG.read_text(encoding="utf-8"))


def parse_args(argv=None) -> argparse.Namespace:
    """The settings; nothing heavy is imported before they are parsed, so `--help` answers at once."""
    d = _defaults()
    data, model, training = d["data"], d["model"], d["training"]
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + f" Defaults from {CONFIG.name}.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", default=None, help="folder with the GroupLens files (default: download)")
    parser.add_argument(
        "--variant", default=data["movielens"]["variant"], choices=["ml-1m", "ml-100k"], help="MovieLens variant"
    )
    parser.add_argument(
        "--task",
        default=model["task"],
        choices=["regression", "binary"],
        help="regression: the rating; binary: rating >= 4",
    )
    parser.add_argument(
        "--epochs", type=int, default=training["epochs"], help="most epochs; early stopping ends sooner"
    )
    parser.add_argument("--batch-size", type=int, default=training["batch_size"], help="global batch size")
    parser.add_argument("--output-dir", default="movielens_output", help="where the outputs go")
    parser.add_argument("--quiet", action="store_true", help="no Keras progress output")
    parser.add_argument(
        "--seed", type=int, default=training["seed"], help="seed of the split, shuffling and initialisation"
    )
    parser.add_argument(
        "--embedding-dim", type=int, default=model["embedding_dim"], help="embedding size k of every field"
    )
    parser.add_argument(
        "--hidden-units", default=",".join(map(str, model["hidden_units"])), help="comma-separated sizes of the MLP"
    )
    parser.add_argument("--dropout", type=float, default=model["dropout"], help="dropout after each MLP block")
    parser.add_argument(
        "--embedding-l2",
        type=float,
        default=model["embedding_l2"],
        help="L2 penalty on embeddings and 1st-order weights",
    )
    parser.add_argument(
        "--learning-rate", type=float, default=training["learning_rate"], help="LazyAdam's learning rate"
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=training["patience"],
        help="epochs without validation gain before stopping; 0: never stop early",
    )
    parser.add_argument(
        "--lr-decay",
        type=float,
        default=training["lr_decay"],
        help="learning-rate factor after --lr-patience epochs without gain",
    )
    parser.add_argument(
        "--lr-patience", type=int, default=training["lr_patience"], help="epochs without validation gain before decay"
    )
    parser.add_argument("--no-export", action="store_true", help="skip the TensorFlow Serving export")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "embedding_dim", "patience", "lr_patience"):
        if getattr(args, name) < (0 if name == "patience" else 1):
            low = "0 or more" if name == "patience" else "positive"
            parser.error(f"--{name.replace('_', '-')} should be {low}. Received: {getattr(args, name)}")
    if not 0 < args.lr_decay <= 1:
        parser.error(f"--lr-decay should be in (0, 1]; 1 keeps the learning rate. Received: {args.lr_decay}")
    if not 0 <= args.dropout < 1:
        parser.error(f"--dropout should be in [0, 1). Received: {args.dropout}")
    try:
        args.hidden_units = tuple(int(u) for u in args.hidden_units.split(",") if u.strip())
    except ValueError:
        parser.error(f"--hidden-units should be comma-separated integers. Received: {args.hidden_units!r}")
    if any(u < 1 for u in args.hidden_units):
        parser.error(f"--hidden-units should be positive. Received: {args.hidden_units}")
    return args


def run_config(args):
    """`movielens.toml` with this run's options on top (what `deepfm-keras train --set ...` does)."""
    from deepfm_keras.run.config import load_config

    return load_config(
        CONFIG,
        {
            "data.movielens.variant": args.variant,
            "data.train": [str(Path(args.data_dir).resolve())] if args.data_dir else [],
            "data.split_seed": args.seed,
            "model.task": args.task,
            "model.embedding_dim": args.embedding_dim,
            "model.hidden_units": list(args.hidden_units),
            "model.dropout": args.dropout,
            "model.embedding_l2": args.embedding_l2,
            "training.epochs": args.epochs,
            "training.batch_size": args.batch_size,
            "training.learning_rate": args.learning_rate,
            "training.patience": args.patience,
            "training.lr_decay": args.lr_decay,
            "training.lr_patience": args.lr_patience,
            "training.seed": args.seed,
            "output.dir": str(Path(args.output_dir).resolve()),
            "output.export": not args.no_export,
        },
    )


def main(argv=None) -> dict:
    args = parse_args(argv)
    from deepfm_keras_cli import quiet_tensorflow

    quiet_tensorflow()  # TensorFlow's start-up notices off, before it is imported
    from deepfm_keras.run.pipeline import run

    print(f"MovieLens {args.variant}, {args.task}:")
    return run(run_config(args), verbose=0 if args.quiet else "auto")


if __name__ == "__main__":
    main(sys.argv[1:])
