"""Scale benchmark: one epoch of DeepFM streamed from synthetic Criteo files of growing size.

```
python benchmarks/criteo_scale.py --sizes 1000000 3000000 10000000 [--workdir /tmp/criteo_scale]
```

For each size it writes (once) a synthetic Criteo-format file under
`--workdir`, then trains one epoch in a fresh Python process (so each peak RSS
is measured on its own) and prints rows/sec and the peak resident memory of
that process. With a streaming reader, peak RSS stays flat and time grows
linearly with the file. Not a test: it takes minutes; results are printed as
JSON lines and written to `--workdir/results.json`.

Measured on the 2-core shared CPU machine (tensorflow-cpu 2.21, batch 4096, 10,000 buckets per field,
embedding 8, MLP 128-64, load average 5-9 from other jobs, so rows/sec is noisy):

| rows | file | one epoch | rows/sec | peak RSS | RSS early / mid / end of the epoch |
| ---: | ---: | ---: | ---: | ---: | --- |
| 1M | 236 MB | 32 s | 31,000 | 846 MB | 837 / 837 / 844 MB |
| 3M | 707 MB | 77 s | 38,800 | 859 MB | 842 / 857 / 859 MB |
| 10M | 2,358 MB | 334 s | 30,000 | 867 MB | 839 / 852 / 867 MB |

Peak RSS before `fit` (TensorFlow, the model and Adam) is 672 MB in every run.
"""

import argparse
import json
import os
import subprocess
import sys
import time

from deepfm_keras.datasets.criteo import write_synthetic

CHILD = r"""
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
from deepfm_keras import build_deepfm
from deepfm_keras.datasets import criteo


def memory_mb(key):  # VmHWM: peak resident set of this process (reset by exec, unlike ru_maxrss)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":")) / 1024


class RssSampler(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.samples = []

    def on_train_batch_end(self, batch, logs=None):
        if batch % 50 == 0:
            self.samples.append(memory_mb("VmRSS"))

path, batch_size, num_buckets = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
keras.utils.set_random_seed(0)
reader = criteo.CriteoReader(num_buckets=num_buckets)
model = build_deepfm(reader.feature_spec, embedding_dim=8, hidden_units=(128, 64))
model.compile(optimizer="adam", loss="binary_crossentropy")
peak_before = memory_mb("VmHWM")
sampler = RssSampler()
start = time.perf_counter()
dataset = reader.dataset(path, batch_size=batch_size, shuffle_buffer=8, seed=0)
history = model.fit(dataset, epochs=1, verbose=0, callbacks=[sampler])
seconds = time.perf_counter() - start
rows = reader.rows_read - reader.malformed_rows
samples = sampler.samples
print(json.dumps({
    "rows": rows, "malformed": reader.malformed_rows, "seconds": round(seconds, 1),
    "rows_per_sec": round(rows / seconds), "peak_rss_mb": round(memory_mb("VmHWM")),
    "peak_rss_before_fit_mb": round(peak_before), "rss_early_mb": round(samples[min(2, len(samples) - 1)]),
    "rss_mid_mb": round(samples[len(samples) // 2]), "rss_end_mb": round(samples[-1]),
    "loss": round(history.history["loss"][-1], 4),
}))
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    p.add_argument("--workdir", default="/tmp/criteo_scale")
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--num-buckets", type=int, default=10_000)
    args = p.parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    results = []
    for size in args.sizes:
        path = os.path.join(args.workdir, f"synthetic_{size}.txt")
        if not os.path.exists(path):
            start = time.perf_counter()
            write_synthetic(path + ".part", size, seed=size)
            os.replace(path + ".part", path)
            print(f"# wrote {path} in {time.perf_counter() - start:.0f}s", flush=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        out = subprocess.run(
            [sys.executable, "-c", CHILD, path, str(args.batch_size), str(args.num_buckets)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if out.returncode != 0:
            sys.exit(f"size {size} failed:\n{out.stderr[-3000:]}")
        result = {"size": size, "file_mb": os.path.getsize(path) / 2**20, **json.loads(out.stdout.splitlines()[-1])}
        results.append(result)
        print(json.dumps(result), flush=True)
    with open(os.path.join(args.workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
