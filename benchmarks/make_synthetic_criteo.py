"""Write a synthetic Criteo-format file (40 tab-separated fields, ~10% missing values).

```
python benchmarks/make_synthetic_criteo.py OUT.txt[.gz] --rows 1000000 [--seed 0]
```

See `deepfm_keras.datasets.criteo.write_synthetic` for the value laws. Memory
use does not grow with `--rows` (written in chunks of 100k lines). Write the
files outside the repository (e.g. under /tmp).
"""

import argparse
import time

from deepfm_keras.datasets.criteo import write_synthetic


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("path")
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    start = time.perf_counter()
    write_synthetic(args.path, args.rows, seed=args.seed)
    print(f"wrote {args.rows} rows to {args.path} in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
