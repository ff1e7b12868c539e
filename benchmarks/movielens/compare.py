"""The comparison job: every contender on the same ML-1M arrays, interleaved, `--repeats` times."""

from __future__ import annotations

import os

from .data import prepare_arrays
from .driver import run_interleaved
from .measure import median
from .report import footer, format_table, repeat_line, summarize


def compare(args, machine: dict) -> dict:
    """Prints a line per contender and repeat, then the table; returns the report (written as JSON)."""
    load_encode = prepare_arrays(args)
    runs = {name: [] for name in args.contenders}
    for repeat in range(args.repeats):
        results = run_interleaved(list(args.contenders), args)
        for name in args.contenders:
            r = results[name]
            r["repeat"] = repeat
            runs[name].append(r)
            print(repeat_line(repeat, args.repeats, name, r), flush=True)
    summary = summarize(runs)
    machine["loadavg_end"] = list(os.getloadavg())
    machine["loadavg_1min_median_during"] = median([r["loadavg_1min_before"] for rs in runs.values() for r in rs])
    table = format_table(summary, args)
    print()
    print(table)
    print(footer(load_encode, machine))
    return {"machine": machine, "load_encode": load_encode, "summary": summary, "table": table, "runs": runs}
