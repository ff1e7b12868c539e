"""The `deepfm-keras` command's front door: arguments parsed before TensorFlow (or deepfm_keras) is imported.

`import deepfm_keras` imports TensorFlow and Keras and registers the
package's Keras classes (so plain `keras.saving.load_model` finds them). This
top-level module imports neither: it answers `--help`, `--version` and
argument errors at once, silences TensorFlow's start-up notices, and only then
hands the parsed command to `deepfm_keras.run.cli`.

```
deepfm-keras init --data clicks.csv --label clicked > run.toml
deepfm-keras train --config run.toml --set training.epochs=3
deepfm-keras predict --run runs/clicks --data new_rows.csv --output scored.csv
```
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


def quiet_tensorflow() -> None:
    """Silences TensorFlow's start-up notices; call it before `import tensorflow` (or `import deepfm_keras`).

    Sets `TF_CPP_MIN_LOG_LEVEL=2` (TensorFlow's C++ log then shows errors
    only, no info or warning lines) unless the environment already sets it,
    so a user's own setting wins (`1` keeps C++ warnings, `0` shows all):
    that hides the C++ notices, and with them absl's "All
    log messages before absl::InitializeLog() is called are written to
    STDERR", printed before the first of them. The Python `tensorflow`
    logger is set to `WARNING` when it would show `INFO` records (e.g.
    "Using MirroredStrategy with devices ...").

    Called after TensorFlow is imported it still sets the Python logger; the
    C++ notices of the import have been printed by then. TensorFlow 2.21
    prints its oneDNN notice (`port.cc`) whatever the level.

    Example:

    ```python
    from deepfm_keras_cli import quiet_tensorflow
    quiet_tensorflow()
    import deepfm_keras  # no start-up notices on stderr
    ```
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logger = logging.getLogger("tensorflow")
    if logger.getEffectiveLevel() < logging.WARNING:
        logger.setLevel(logging.WARNING)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("deepfm_keras")
    except metadata.PackageNotFoundError:
        return "unknown"


def _existing_file(text: str) -> str:
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"file not found: {text}")
    return text


def _existing_dir(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"folder not found: {text}")
    return text


def _override(text: str) -> str:
    key, sep, _ = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"An override should be section.key=value. Received: {text!r}")
    return text  # the value is read as TOML by deepfm_keras.run.config.parse_override


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"should be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"should be a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (no TensorFlow import)."""
    formatter = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        prog="deepfm-keras",
        description="DeepFM (Guo et al., IJCAI 2017) on Keras 3: train from a config file, score rows.",
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"deepfm_keras {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train, evaluate, save and export a model from a config file",
        description="Reads the data, splits it, fits the encoder on the training rows, trains DeepFM with early "
        "stopping on the validation rows, and writes metrics.json, model.keras, encoder.json, logs/ (TensorBoard) "
        "and serving/1 (TensorFlow Serving) to output.dir.",
        formatter_class=formatter,
    )
    train.add_argument("--config", required=True, type=_existing_file, help="the run's .toml or .json file")
    train.add_argument("--set", dest="overrides", action="append", type=_override, default=[], metavar="KEY=VALUE",
                       help="override a setting, e.g. --set training.epochs=3 (repeatable; values are TOML)")  # fmt: skip
    train.add_argument("--quiet", action="store_true", help="no progress output, the summary only")

    init = commands.add_parser(
        "init",
        help="print a first config guessed from a CSV or Parquet file",
        description="Reads up to --sample-rows rows and prints a commented TOML config: which column becomes which "
        "kind of field and why. Edit it, then run `deepfm-keras train --config FILE`.",
        formatter_class=formatter,
    )
    init.add_argument("--data", required=True, type=_existing_file, help="a .csv, .csv.gz or .parquet file")
    init.add_argument("--label", required=True, help="the label column")
    init.add_argument("--task", choices=["binary", "regression", "multiclass"], default=None,
                      help="default: binary for 0/1 or two strings, multiclass for a few strings, else regression")  # fmt: skip
    init.add_argument("--output", default="-", help="where to write the config ('-': standard output)")
    init.add_argument("--sample-rows", type=_positive_int, default=100_000, help="rows read to guess from")

    predict = commands.add_parser(
        "predict",
        help="score the rows of a CSV or Parquet file with a trained run",
        description="Loads model.keras and encoder.json of a run's output folder, scores every row of --data "
        "(raw columns, as in training) and writes them with a `prediction` column "
        "(a multi-class model: the most likely class id, and `probability_<c>` per class).",
        formatter_class=formatter,
    )
    predict.add_argument("--run", required=True, type=_existing_dir, help="the output folder of `train`")
    predict.add_argument("--data", required=True, type=_existing_file, help="a .csv or .parquet file of raw rows")
    predict.add_argument("--output", required=True, help="the scored file (.csv or .parquet)")
    predict.add_argument("--batch-size", type=_positive_int, default=8192, help="rows per model call")
    return parser


def main(argv=None) -> int:
    """Runs the command line; returns the exit status (2 for bad input, with a message naming it)."""
    args = build_parser().parse_args(argv)
    quiet_tensorflow()
    from deepfm_keras.run.cli import run_command

    return run_command(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
