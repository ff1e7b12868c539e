"""The scaling job: one contender alone on synthetic data of the MovieLens schema, growing in rows."""

from __future__ import annotations

from .driver import run_contender


def scaling(args) -> dict:
    """Examples/sec and peak memory at each of `args.scaling_rows`, and their ratios to the smallest size."""
    results = []
    for rows in args.scaling_rows:
        r = run_contender(args.scaling_contender, args, ["--synthetic-rows", str(rows)])
        r["rows"] = rows
        results.append(r)
        print(
            f"{rows:>10,} rows: train {r['train_ex_per_s']:>9,.0f} ex/s ({r['train_cpu_us_per_ex']:.2f} CPU us/ex), "
            f"infer {r['infer_ex_per_s']:>9,.0f} ex/s, data {r['data_mb']:>6,.0f} MB, peak RSS {r['peak_rss_mb']:>6,.0f} MB "
            f"({r['peak_rss_mb'] - r['rss_framework_mb']:>6,.0f} MB above TensorFlow), {r['metric']} {r['value']:.4f}, "
            f"load {r['loadavg_1min_before']:.1f}",
            flush=True,
        )
    base = results[0]
    for r in results:
        r["rows_ratio"] = r["rows"] / base["rows"]
        r["memory_above_tf_ratio"] = (r["peak_rss_mb"] - r["rss_framework_mb"]) / (
            base["peak_rss_mb"] - base["rss_framework_mb"]
        )
        r["train_speed_ratio"] = r["train_ex_per_s"] / base["train_ex_per_s"]
    for prev, r in zip(results[:-1], results[1:], strict=True):
        # Extra peak memory per extra MB of data, from one size to the next.
        r["memory_growth_per_data_mb"] = (r["peak_rss_mb"] - prev["peak_rss_mb"]) / (r["data_mb"] - prev["data_mb"])
    print("rows x   train speed x   memory above TF x   extra peak MB per extra data MB")
    for r in results:
        growth = r.get("memory_growth_per_data_mb")
        growth = f"{growth:>31.2f}" if growth is not None else f"{'-':>31}"
        print(
            f"{r['rows_ratio']:>6.1f}   {r['train_speed_ratio']:>13.2f}   {r['memory_above_tf_ratio']:>17.2f}   {growth}"
        )
    return {"scaling": results}
