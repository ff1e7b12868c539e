"""The `deepfm-keras` command (also `python -m deepfm_keras`): train from a config file, guess a config, score rows.

```
deepfm-keras init --data clicks.csv --label clicked > run.toml   # a first config, guessed from the columns
deepfm-keras train --config run.toml                             # train, evaluate, save, export
deepfm-keras train --config run.toml --set training.epochs=3 --set output.dir=runs/quick
deepfm-keras predict --run runs/clicks --data new_rows.csv --output scored.csv
```

Arguments are parsed before TensorFlow is imported, so `--help` and argument
errors answer at once; TensorFlow's start-up notices are silenced unless
`TF_CPP_MIN_LOG_LEVEL` is set.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from deepfm_keras.version import __version__

EXIT_BAD_INPUT = 2


def _existing_file(text: str) -> str:
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"file not found: {text}")
    return text


def _existing_dir(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"folder not found: {text}")
    return text


def _override(text: str):
    from deepfm_keras.config import ConfigError, parse_override

    try:
        return parse_override(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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
    parser.add_argument("--version", action="version", version=f"deepfm_keras {__version__}")
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
    init.add_argument("--task", choices=["binary", "regression"], default=None,
                      help="default: binary when the label holds only 0 and 1")  # fmt: skip
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


def quiet_start_up() -> None:
    """Silences TensorFlow's start-up notices (before it is imported) unless the user chose a log level."""
    from deepfm_keras.progress import quiet_tensorflow

    quiet_tensorflow()


def _read(path: str, nrows: int | None = None):
    import pandas as pd

    lower = path.lower()
    if lower.endswith(".parquet") or lower.endswith(".pq"):
        frame = pd.read_parquet(path)
        return frame if nrows is None else frame.iloc[:nrows]
    return pd.read_csv(path, nrows=nrows)


def _toml_value(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


MULTI_SEPARATORS = ("|", ";")


def guess_config(frame, label: str, *, task: str | None = None, data_path: str = "data.csv") -> str:
    """A commented TOML run configuration for `frame`, with one reason per column.

    Rules (a starting point to edit, not a verdict):

    - the label: `binary` when it holds only 0 and 1, else `regression`;
    - booleans, strings and integer columns whose name ends in `id` or with at
      most 50 distinct values become categorical; a string column whose values
      often hold `|` or `;` becomes multi-categorical with that separator;
    - other numbers become numeric (standardised);
    - a categorical column with more than 100,000 distinct values in the sample
      is hashed (`num_bins`, about twice the distinct values) instead of getting
      a vocabulary; columns with one value only, or no value, are left out.

    Example:

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"user_id": [1, 2, 3, 1], "price": [1.5, 2.0, 0.5, 3.25],
    ...                       "tags": ["a|b", "b", "a|c", "c"], "clicked": [1, 0, 0, 1]})
    >>> text = guess_config(frame, "clicked")
    >>> print(text.split("[features]")[1].split("[model]")[0].strip())
    numeric = ["price"]  # price: float, 4 distinct in 4 rows
    categorical = [
      "user_id",  # int, 3 distinct; name ends in 'id'
    ]
    multi_categorical = { tags = "|" }  # tags: '|'-separated in 50% of rows
    """
    import numpy as np
    import pandas as pd

    if label not in frame.columns:
        raise ValueError(f"No label column {label!r}. Columns: {list(frame.columns)}")
    y = pd.to_numeric(frame[label], errors="coerce")
    if task is None:
        task = "binary" if set(np.unique(y.dropna())) <= {0, 1} else "regression"
    numeric, categorical, multi, notes = [], [], {}, []
    for name in frame.columns:
        if name == label:
            continue
        col = frame[name]
        present = col.dropna()
        distinct = int(present.nunique())
        if distinct <= 1:
            notes.append(f"# left out: {name} ({'no value' if distinct == 0 else 'one value only'})")
            continue
        kind = str(col.dtype)
        if pd.api.types.is_datetime64_any_dtype(col):
            notes.append(f"# left out: {name} (a date/time: derive day of week, hour... as columns of their own)")
            continue
        if pd.api.types.is_bool_dtype(col):
            categorical.append((name, f"bool, {distinct} distinct", None))
            continue
        if pd.api.types.is_numeric_dtype(col):
            is_integer = pd.api.types.is_integer_dtype(col) or bool((present == np.round(present)).all())
            id_like = str(name).lower().endswith("id")
            if is_integer and (id_like or distinct <= 50):
                why = "name ends in 'id'" if id_like else "few distinct values"
                categorical.append((name, f"{'int' if 'int' in kind else kind}, {distinct} distinct; {why}", distinct))
            else:
                numeric.append(
                    (name, f"{'float' if 'float' in kind else kind}, {distinct} distinct in {len(col)} rows")
                )
            continue
        text = present.astype(str)
        shares = {sep: float(text.str.contains(sep, regex=False).mean()) for sep in MULTI_SEPARATORS}
        sep = max(shares, key=shares.get)
        if shares[sep] >= 0.2:
            multi[name] = (sep, f"'{sep}'-separated in {shares[sep]:.0%} of rows")
        else:
            categorical.append((name, f"string, {distinct} distinct", distinct))

    lines = [
        f"# deepfm_keras run configuration guessed by `deepfm-keras init` from {len(frame)} rows of {data_path}.",
        "# Check every choice, then: deepfm-keras train --config THIS_FILE",
        "",
        "[data]",
        f'format = "{"parquet" if data_path.lower().endswith((".parquet", ".pq")) else "csv"}"',
        f"train = {_toml_value(data_path)}",
        f"label = {_toml_value(label)}",
        '# test = "holdout.csv"      # a separate holdout file; without it 10% of the rows (seeded) are held out',
        '# group = "user_id"         # report the AUC within each user too (gAUC)',
        "",
        "[features]",
    ]
    if numeric:
        if len(numeric) == 1:
            lines.append(f"numeric = [{_toml_value(numeric[0][0])}]  # {numeric[0][0]}: {numeric[0][1]}")
        else:
            lines += ["numeric = ["] + [f"  {_toml_value(n)},  # {why}" for n, why in numeric] + ["]"]
    if categorical:
        lines.append("categorical = [")
        for name, why, distinct in categorical:
            if distinct is not None and distinct > 100_000:
                bins = 2 ** math.ceil(math.log2(2 * distinct))
                lines.append(f"  {{ name = {_toml_value(name)}, num_bins = {bins} }},  # {why}; hashed: large")
            else:
                lines.append(f"  {_toml_value(name)},  # {why}")
        lines.append("]")
    if multi:
        items = ", ".join(f"{_toml_value(n) if not str(n).isidentifier() else n} = {_toml_value(s)}"
                          for n, (s, _) in multi.items())  # fmt: skip
        whys = "; ".join(f"{n}: {why}" for n, (_, why) in multi.items())
        lines.append(f"multi_categorical = {{ {items} }}  # {whys}")
    lines += notes
    lines += [
        "",
        "[model]",
        f'task = "{task}"',
        "embedding_dim = 16           # one size for every field (the FM needs it); 8-32 is usual",
        "hidden_units = [256, 128, 64]",
        "dropout = 0.0",
        "embedding_l2 = 1e-5",
        "",
        "[training]",
        "epochs = 20                  # at most: early stopping on the validation rows ends sooner",
        "batch_size = 2048",
        'optimizer = "lazy_adam"      # table updates touch only the rows of the batch',
        "learning_rate = 1e-3",
        "patience = 3",
        "",
        "[output]",
        'dir = "runs/deepfm"',
        "",
    ]
    return "\n".join(lines)


def _train(args) -> int:
    from deepfm_keras.config import ConfigError, load_config

    try:
        config = load_config(args.config, dict(args.overrides))
    except ConfigError as error:
        print(f"deepfm-keras train: error: {args.config}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    quiet_start_up()
    from deepfm_keras.pipeline import DataError, run

    try:
        run(config, verbose=0 if args.quiet else "auto")
    except (ConfigError, DataError) as error:
        print(f"deepfm-keras train: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _init(args) -> int:
    frame = _read(args.data, nrows=args.sample_rows)
    try:
        text = guess_config(frame, args.label, task=args.task, data_path=args.data)
    except ValueError as error:
        print(f"deepfm-keras init: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _predict(args) -> int:
    run_dir = Path(args.run)
    missing = [n for n in ("model.keras", "encoder.json") if not (run_dir / n).is_file()]
    if missing:
        print(f"deepfm-keras predict: error: {run_dir} has no {', '.join(missing)}: is it a `train` output folder?",
              file=sys.stderr)  # fmt: skip
        return EXIT_BAD_INPUT
    quiet_start_up()
    import numpy as np

    from deepfm_keras import FeatureEncoder, batch_predict, load_model

    frame = _read(args.data)
    encoder = FeatureEncoder.load(run_dir / "encoder.json")
    model = load_model(run_dir / "model.keras", compile=False)
    try:
        inputs = encoder.transform(frame)
    except (KeyError, ValueError) as error:
        print(f"deepfm-keras predict: error: {args.data}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    scores = np.asarray(batch_predict(model, inputs, batch_size=args.batch_size))
    if scores.ndim == 2 and scores.shape[1] > 1:  # a multi-class model: the most likely class id and each probability
        columns = {
            "prediction": scores.argmax(axis=1),
            **{f"probability_{c}": scores[:, c] for c in range(scores.shape[1])},
        }
        frame = frame.assign(**columns)
    else:
        frame = frame.assign(prediction=scores.reshape(-1))
    if args.output.lower().endswith((".parquet", ".pq")):
        frame.to_parquet(args.output, index=False)
    else:
        frame.to_csv(args.output, index=False)
    print(f"scored {len(frame):,} rows -> {args.output}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    """Runs the command line; returns the exit status (2 for bad input, with a message naming it)."""
    args = build_parser().parse_args(argv)
    return {"train": _train, "init": _init, "predict": _predict}[args.command](args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
