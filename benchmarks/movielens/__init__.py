"""The MovieLens benchmark (`benchmarks/benchmark_movielens.py`), one module per job.

- `task`: the task every contender runs (features, sizes, hyperparameters) and the contender names;
- `data`: the driver's load + encode into `benchmarks/results/` (timed), the workers' read of those
  arrays, and the synthetic rows of the scaling job;
- `measure`: what a worker measures (epoch and inference timers, CPU time, RSS), the gate that lets
  the driver run one timed section at a time, and the peers' holdout metric;
- `ours`, `peer_deepctr`, `peer_keras_baseline`: one runner per contender family;
- `worker`: one contender in one process, printing a `RESULT {json}` line;
- `driver`: the contenders' processes, started together and run in turn section by section;
- `report`: medians, ratios to DeepCTR and the table;
- `compare`: the comparison job (all contenders on the ML-1M arrays, interleaved, `--repeats` times);
- `scaling`: deepfm_keras alone on synthetic data of growing size.

Workers import only `task`, `data`, `measure`, `worker` and their own runner, so that a peer's process
never imports deepfm_keras.
"""
