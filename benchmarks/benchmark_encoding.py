"""Encoding benchmark: how fast raw data becomes model inputs (issue 12).

```
python benchmarks/benchmark_encoding.py [--data-dir ../shared/data/ml-1m-users1-2999] [--criteo-rows 1000000]
                                        [--repeats 5] [--workdir /tmp/deepfm_encoding_bench] [--skip-reference]
```

Three questions, each timed `--repeats` times (median reported):

- **ml1m_transform**: `FeatureEncoder.transform` of the ML-1M ratings (users 1-2999, 487,650 rows; the
  MovieLens example's columns) from the DataFrame to the dict of arrays; `ml1m_fit_transform` adds the
  fit. Target: transform <= 1 s.
- **criteo_stream**: `CriteoReader(num_buckets=100_000).dataset(file, batch_size=4096)`, parse + encode
  (13 numeric + 13 missing indicators + 26 hashed categorical) of a synthetic Criteo file, every batch
  consumed inside the TensorFlow runtime (`Dataset.reduce`, as `fit` consumes it). Target: >= 250,000 rows/s.
- **criteo_vocabulary_pass**: `criteo.fit_encoder(file, min_count=10)` lines/s, next to the previous
  implementation of the pass (`reference_vocabulary_pass` below, what `build_vocabularies` did before:
  per-batch `np.unique` and Python `Counter` updates). Target: >= 4x the reference.

Prints one JSON line per measurement and a table; writes `benchmarks/results/encoding.json`.
The machine is shared (2 cores): run it under `flock /tmp/bench.lock` and read the medians; the
throughput per CPU-second (process CPU time, all threads) moves less with other jobs than wall time.

Latest figures (2026-11-29 20:50 UTC, 2-core AMD EPYC, tensorflow-cpu 2.21, Keras 3.15.1, load average
1.4 from another engineer's jobs, `--repeats 5 --criteo-rows 1000000`, synthetic Criteo file of 1M lines):

| measurement | median | throughput | per CPU-second | target |
| --- | ---: | ---: | ---: | --- |
| ml1m_transform | 0.157 s | 3,100,485 rows/s | 3,096,061 | <= 1 s |
| ml1m_fit_transform | 0.303 s | 1,610,944 rows/s | 1,609,627 |  |
| criteo_stream | 2.909 s | 343,709 rows/s | 215,893 | >= 250,000 rows/s |
| criteo_vocabulary_pass | 3.531 s | 283,184 lines/s | 168,084 | >= 4x reference |
| criteo_vocabulary_pass_reference | 20.567 s | 48,622 lines/s | 41,552 |  |

The vocabulary pass is 5.8x the reference in wall time (4.0x per CPU-second: it uses both cores). Under
heavier load (average 3.1, 20:44 UTC) the same run gave 225,595 rows/s for the stream and 93,818 lines/s
for the vocabulary pass (2.2x the reference, which is single-threaded and suffers less), with the same
per-CPU-second figures (208,641 rows and 159,101 lines, 3.8x).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deepfm_keras import FeatureEncoder  # noqa: E402
from deepfm_keras.datasets import criteo  # noqa: E402
from deepfm_keras.datasets.movielens import load_movielens  # noqa: E402

CATEGORICAL = ["user_id", "movie_id", "gender", "age", "occupation", "zip", "zip_prefix"]


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def timed(fn, repeats: int) -> tuple[list[float], list[float]]:
    """Wall seconds and CPU seconds (all threads of this process) of each run."""
    seconds, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return seconds, cpu


def report(results: list, name: str, runs, units: float | None = None, unit: str = "") -> None:
    seconds, cpu = runs
    median = statistics.median(seconds)
    row = {"name": name, "median_s": round(median, 4), "runs_s": [round(s, 4) for s in seconds]}
    row["median_cpu_s"] = round(statistics.median(cpu), 4)
    if units:
        row[f"{unit}_per_s"] = round(units / median)
        row[f"{unit}_per_cpu_s"] = round(units / statistics.median(cpu))  # less sensitive to other jobs on the machine
    results.append(row)
    print(json.dumps(row), flush=True)


def reference_vocabulary_pass(files, min_count=10, batch_size=65536):
    """The vocabulary pass as `build_vocabularies` did it before issue 12 (for the ratio only)."""
    import tensorflow as tf

    counters = {c: collections.Counter() for c in criteo.CATEGORICAL_FEATURES}

    def categorical(lines):
        fields, ok = criteo.format.split_fields(lines)
        return tf.boolean_mask(fields, ok)[:, 1 + len(criteo.INTEGER_FEATURES) :]

    ds = criteo._lines_dataset(files).batch(batch_size).map(categorical).prefetch(2)
    for cats in ds.as_numpy_iterator():
        for i, c in enumerate(criteo.CATEGORICAL_FEATURES):
            values, counts = np.unique(cats[:, i], return_counts=True)
            counters[c].update(dict(zip(values.tolist(), counts.tolist(), strict=True)))
    return {c: [v for v, n in counter.items() if n >= min_count and v != b""] for c, counter in counters.items()}


def main(argv=None) -> list:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data" / "ml-1m-users1-2999"))
    p.add_argument("--criteo-rows", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--workdir", default="/tmp/deepfm_encoding_bench")
    p.add_argument("--skip-reference", action="store_true", help="do not time the previous vocabulary pass")
    args = p.parse_args(argv)
    results: list = []
    print(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
                      "cores": os.cpu_count(), "load_average": os.getloadavg(), "command": " ".join(sys.argv)}))  # fmt: skip

    frame = load_movielens("ml-1m", args.data_dir)
    encoder = FeatureEncoder(numeric=["year"], categorical=CATEGORICAL, multi_categorical={"genres": "|"})
    encoder.fit(frame)
    encoder.transform(frame)  # warm-up: TensorFlow's first op calls
    report(results, "ml1m_transform", timed(lambda: encoder.transform(frame), args.repeats), len(frame), "rows")
    report(results, "ml1m_fit_transform", timed(lambda: encoder.fit_transform(frame), args.repeats), len(frame), "rows")

    os.makedirs(args.workdir, exist_ok=True)
    path = os.path.join(args.workdir, f"criteo_{args.criteo_rows}.txt")
    if not os.path.isfile(path):
        criteo.write_synthetic(path, args.criteo_rows, seed=0)
    reader = criteo.CriteoReader(num_buckets=100_000)

    def stream():
        # Consumed inside the TensorFlow runtime, as Keras' fit consumes it (no Python work per batch).
        dataset = reader.dataset(path, batch_size=4096)
        rows = int(dataset.reduce(np.int64(0), lambda n, batch: n + tf.shape(batch[1], out_type=tf.int64)[0]))
        assert rows == args.criteo_rows, rows

    stream()  # warm-up (traces the parse function, fills the page cache)
    report(results, "criteo_stream", timed(stream, args.repeats), args.criteo_rows, "rows")
    report(
        results,
        "criteo_vocabulary_pass",
        timed(lambda: criteo.fit_encoder(path, min_count=10), args.repeats),
        args.criteo_rows,
        "lines",
    )
    if not args.skip_reference:
        report(
            results,
            "criteo_vocabulary_pass_reference",
            timed(lambda: reference_vocabulary_pass([path]), max(1, args.repeats // 2)),
            args.criteo_rows,
            "lines",
        )

    by_name = {r["name"]: r for r in results}
    print("\n| measurement | median | throughput | per CPU-second | target |\n| --- | ---: | ---: | ---: | --- |")
    targets = {
        "ml1m_transform": "<= 1 s",
        "criteo_stream": ">= 250,000 rows/s",
        "criteo_vocabulary_pass": ">= 4x reference",
    }
    for r in results:
        rate = next((f"{v:,} {k[:-6]}/s" for k, v in r.items() if k.endswith("_per_s")), "")
        per_cpu = next((f"{v:,}" for k, v in r.items() if k.endswith("_per_cpu_s")), "")
        print(f"| {r['name']} | {r['median_s']:.3f} s | {rate} | {per_cpu} | {targets.get(r['name'], '')} |")
    if "criteo_vocabulary_pass_reference" in by_name:
        ratio = (
            by_name["criteo_vocabulary_pass"]["lines_per_s"]
            / by_name["criteo_vocabulary_pass_reference"]["lines_per_s"]
        )
        print(f"\nvocabulary pass: {ratio:.1f}x the reference")
    out = REPO / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "encoding.json").write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
