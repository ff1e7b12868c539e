"""Train DeepFM on Criteo-format click logs, streamed from disk, and report AUC / logloss.

```
python examples/criteo.py --train FILE [FILE ...] [--validation FILE ...] --test FILE [FILE ...]
                          [--output-dir OUT] [--epochs N] [--patience P] [--batch-size B] [--num-buckets N | --min-count K [--max-size M]]
                          [--embedding-dim K] [--max-malformed-fraction F] [--quiet]
```

Files are tab-separated Criteo lines (`label, I1..I13, C1..C26`, plain or
`.gz`) and are streamed with `tf.data`, so they need not fit in memory.
Categorical values are hashed into `--num-buckets` buckets per field, or, with
`--min-count K`, looked up in vocabularies of the values seen at least K times
in the training files (one extra streaming pass that reports its progress;
`--max-size M` keeps the M most frequent values per field). Malformed lines are skipped
and counted (see `deepfm_keras.datasets.criteo`); the run fails, naming the
first offending lines, when they exceed `--max-malformed-fraction` of the lines
of a part or when a part has no usable line.

Writes `OUT/metrics.json` (test AUC and logloss, lines read and malformed per
part, epochs, training examples/sec), `OUT/model.keras`, `OUT/encoder.json`
(the hash settings or vocabularies) and `OUT/serving/1`, a SavedModel for
TensorFlow Serving (`--model_base_path=OUT/serving`) that takes the raw fields
(`I1..I13` as float64 with NaN for missing, `C1..C26` as strings) with the
encoding inside; the run checks that the served scores of the first test lines
equal the Keras model's (`metrics["serving"]`). On the shared 8,000-row sample
(`../shared/data/criteo/`):

```
python examples/criteo.py --train criteo_kaggle_8k_train.txt --validation criteo_kaggle_8k_dev.txt \
    --test criteo_kaggle_8k_test.txt --output-dir /tmp/criteo
```

The validation lines (`--validation`, or without it every 10th of the
training lines, never trained on) drive early stopping (`--patience`).

The run is `deepfm_keras.run.pipeline.run` (what `deepfm-keras train` runs for a
config with `data.format = "criteo"`); this script only maps its options onto a
`RunConfig`. The model trains with `LazyAdam` (table updates that touch only the rows of a
batch, the optimizer that scales to 10^6+ ids per field; with the default
10,000 buckets the tables are small enough that `embedding_l2` applies to the
whole table, so every row is updated). Measured on that sample, 2026-11-29
(2-core AMD EPYC with AVX512_BF16, so the model ran in `mixed_bfloat16`;
default settings, 3 epochs): test AUC 0.7205 / logloss 0.4726; the code before
row-sparse training gave 0.7202 / 0.4726 on the same machine.
"""

from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv=None):
    """The settings; nothing heavy is imported before they are parsed, so `--help` answers at once."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--train", nargs="+", required=True, help="training files (Criteo TSV, plain or .gz)")
    p.add_argument("--validation", nargs="+", default=[],
                   help="validation files (default: every 10th training line)")  # fmt: skip
    p.add_argument("--test", nargs="+", required=True, help="test files, evaluated after training")
    p.add_argument("--output-dir", default="criteo_output", help="where the outputs go")
    p.add_argument("--epochs", type=int, default=3, help="passes over the training files")
    p.add_argument("--patience", type=int, default=3, help="epochs without validation gain before stopping (0: off)")
    p.add_argument("--batch-size", type=int, default=512, help="lines per batch")
    p.add_argument("--num-buckets", type=int, default=10_000, help="hash buckets per categorical field")
    p.add_argument("--min-count", type=int, default=0, help="use vocabularies of values seen >= this many times")
    p.add_argument(
        "--max-size", type=int, default=None, help="with --min-count: keep at most this many values per field"
    )
    p.add_argument("--embedding-dim", type=int, default=8, help="embedding size k of every field")
    p.add_argument("--hidden-units", type=int, nargs="*", default=[128, 64], help="sizes of the MLP")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout after each MLP block")
    p.add_argument("--embedding-l2", type=float, default=1e-5, help="L2 penalty on embeddings and 1st-order weights")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="LazyAdam's learning rate")
    p.add_argument("--shuffle-buffer", type=int, default=16, help="in batches")
    p.add_argument("--seed", type=int, default=42, help="seed of the shuffling and initialisation")
    p.add_argument(
        "--max-malformed-fraction", type=float, default=0.01, help="share of malformed lines a part may have"
    )
    p.add_argument("--no-export", action="store_true", help="skip the TensorFlow Serving export")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "num_buckets", "embedding_dim", "shuffle_buffer"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} should be positive, got {getattr(args, name)}")
    if args.max_size is not None and args.max_size < 1:
        p.error(f"--max-size should be positive, got {args.max_size}")
    if args.min_count < 0 or not 0 <= args.max_malformed_fraction <= 1:
        p.error("--min-count should be >= 0 and --max-malformed-fraction in [0, 1]")
    if any(u < 1 for u in args.hidden_units) or not 0 <= args.dropout < 1 or args.learning_rate <= 0:
        p.error("--hidden-units should be positive, --dropout in [0, 1) and --learning-rate > 0")
    if args.patience < 0:
        p.error(f"--patience should be >= 0, got {args.patience}")
    for f in args.train + args.validation + args.test:
        if not os.path.isfile(f):
            p.error(f"file not found: {f}")
    return args


def run_config(args):
    """The `RunConfig` of these settings (what `deepfm-keras train` reads from a file)."""
    from deepfm_keras.run.config import config_from_dict

    return config_from_dict(
        {
            "data": {
                "format": "criteo",
                "train": args.train,
                "validation": args.validation,
                "test": args.test,
                "criteo": {
                    "num_buckets": args.num_buckets,
                    "min_count": args.min_count,
                    "max_size": args.max_size,
                    "max_malformed_fraction": args.max_malformed_fraction,
                },
            },
            "model": {
                "task": "binary",
                "embedding_dim": args.embedding_dim,
                "hidden_units": args.hidden_units,
                "dropout": args.dropout,
                "embedding_l2": args.embedding_l2,
            },
            "training": {
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "optimizer": "lazy_adam",
                "learning_rate": args.learning_rate,
                "patience": args.patience,
                "shuffle_buffer": args.shuffle_buffer,
                "seed": args.seed,
            },
            "output": {"dir": args.output_dir, "export": not args.no_export, "tensorboard": False},
        }
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    from deepfm_keras_cli import quiet_tensorflow

    quiet_tensorflow()  # TensorFlow's start-up notices off, before it is imported
    from deepfm_keras.run.pipeline import DataError, run

    try:
        run(run_config(args), verbose=0 if args.quiet else "auto")
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
