"""Runs from a config file: the config, the sources of rows, the one pipeline, the command line.

- `config.py`: reads and checks a config file (`sections.py`: `RunConfig` and its sections; `values.py`: the checks);
- `tables.py`: the one table reader (CSV, gzip CSV, Parquet), splits, labels and weights;
- `columns.py`: the `[features]` section as a `FeatureEncoder`;
- `sources.py`: where a run's rows come from (tables and MovieLens in memory, Criteo files streamed);
- `pipeline.py`: `run(config)`: source -> model in the strategy scope -> `training.fit` -> metrics -> save, export;
- `cli.py`: the `deepfm-keras` commands (their arguments are parsed in `deepfm_keras_cli`).
"""
