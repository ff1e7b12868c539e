"""The `deepfm-keras` command (also `python -m deepfm_keras_cli`): train from a config file, guess a config, score rows.

```
deepfm-keras init --data clicks.csv --label clicked > run.toml   # a first config, guessed from the columns
deepfm-keras train --config run.toml                             # train, evaluate, save, export
deepfm-keras train --config run.toml --set training.epochs=3 --set output.dir=runs/quick
deepfm-keras predict --run runs/clicks --data new_rows.csv --output scored.csv
```

The command's arguments are parsed by the top-level module `deepfm_keras_cli`,
which imports neither this package nor TensorFlow, so `deepfm-keras --help`
and argument errors answer at once; TensorFlow's start-up notices are silenced
there too, before it is imported, unless `TF_CPP_MIN_LOG_LEVEL` is set. This
module runs the commands.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2


def _read(path: str, nrows: int | None = None):
    from deepfm_keras.run.tables import read_table

    return read_table([path], nrows=nrows)


def _toml_value(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


MULTI_SEPARATORS = ("|", ";")
MAX_GUESSED_CLASSES = 50


def _guess_label(column, label: str, task: str | None) -> tuple[str, list[str]]:
    """`(task, [data] lines)` for a label column: a task that trains on it, with the keys it needs."""
    import numpy as np
    import pandas as pd

    present = column.dropna()
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().all():
        if task is None:
            task = "binary" if set(np.unique(numbers)) <= {0, 1} else "regression"
        return task, []
    counts = present.astype(str).str.strip().value_counts()
    values = sorted(counts.index)
    if task == "regression":
        raise ValueError(f"Label column {label!r} holds strings ({values[:5]}...): it cannot be a regression label.")
    if len(values) == 2 and task in (None, "binary"):
        # The rarer value is the event a CTR-like model predicts (a click, '>50K'); ties: the last in sorted order.
        positive = min(reversed(values), key=lambda v: counts[v])
        other = next(v for v in values if v != positive)
        return "binary", [f"positive = {_toml_value(positive)}  # the label is 1 where {label} is this (the rarer "
                          f"value), 0 where it is {_toml_value(other)}"]  # fmt: skip
    if task == "binary":
        raise ValueError(f"Label column {label!r} holds {len(values)} strings: a binary label has two.")
    if len(values) > MAX_GUESSED_CLASSES:
        raise ValueError(
            f"Label column {label!r} holds {len(values)} distinct strings: too many classes to guess; "
            "map it to numbers or to fewer classes first."
        )
    return "multiclass", [f"classes = {_toml_value(values)}  # the label's values, in class-id order"]


def guess_config(frame, label: str, *, task: str | None = None, data_path: str = "data.csv") -> str:
    """A commented TOML run configuration for `frame`, with one reason per column.

    Rules (a starting point to edit, not a verdict):

    - the label: `binary` when it holds only 0 and 1, or two strings (the
      rarer one is `data.positive`, the value that is 1); `multiclass` for 3 to
      50 strings (`data.classes`); else `regression`;
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
    task, label_lines = _guess_label(frame[label], label, task)
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
        *label_lines,
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
    from deepfm_keras.run.config import ConfigError, load_config, parse_override

    try:
        config = load_config(args.config, dict(parse_override(o) for o in args.overrides))
    except ConfigError as error:
        print(f"deepfm-keras train: error: {args.config}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from deepfm_keras.run.pipeline import DataError, run

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


def run_command(args) -> int:
    """Runs a parsed command (`deepfm_keras_cli.build_parser`); returns the exit status."""
    return {"train": _train, "init": _init, "predict": _predict}[args.command](args)


def main(argv=None) -> int:
    """Runs the command line; returns the exit status (2 for bad input, with a message naming it)."""
    import deepfm_keras_cli

    return deepfm_keras_cli.main(argv)
