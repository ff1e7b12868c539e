"""Medians over the repeats, ratios to DeepCTR taken within each repeat, and the table."""

from __future__ import annotations

from .measure import median
from .task import REFERENCE


def repeat_line(repeat: int, repeats: int, name: str, r: dict) -> str:
    predict = f" (predict() {r['predict_ex_per_s']:>9,.0f})" if "predict_ex_per_s" in r else ""
    return (
        f"[{repeat + 1}/{repeats}] {name:<18} train {r['train_ex_per_s']:>9,.0f} ex/s "
        f"{r['train_cpu_us_per_ex']:5.2f} CPU us/ex  infer {r['infer_ex_per_s']:>9,.0f} ex/s{predict}  "
        f"peak RSS {r['peak_rss_mb']:>6,.0f} MB  {r['metric']} {r['value']:.4f}  "
        f"epochs {[round(s, 1) for s in r['epoch_seconds']]}  load {r['loadavg_1min_before']:.1f}"
    )


def summarize(runs: dict[str, list[dict]]) -> dict:
    keys = ("train_ex_per_s", "train_cpu_us_per_ex", "infer_ex_per_s", "predict_ex_per_s", "peak_rss_mb")
    keys += ("rss_framework_mb", "value")
    summary = {}
    for name, rs in runs.items():
        s = {k: median([r.get(k) for r in rs]) for k in keys}
        s["metric"] = rs[0]["metric"]
        s["first_epoch_s"] = median([r["epoch_seconds"][0] for r in rs])
        summary[name] = s
    if REFERENCE in runs:
        ref = runs[REFERENCE]
        for name, rs in runs.items():
            # In-run ratios: repeat i of the contender against repeat i of DeepCTR.
            pairs = list(zip(rs, ref, strict=True))
            # Epoch e of the contender and epoch e of DeepCTR ran back to back: ratio of their speeds.
            epoch_ratios = [
                (b_s / a_s) * (a["rows_train"] / b["rows_train"])
                for a, b in pairs
                for a_s, b_s in zip(a["epoch_seconds"][1:], b["epoch_seconds"][1:], strict=True)
            ]
            infer_ratios = [
                b_s / a_s for a, b in pairs for a_s, b_s in zip(a["infer_seconds"], b["infer_seconds"], strict=True)
            ]
            summary[name]["vs_" + REFERENCE] = {
                "train_epoch_pairs": median(epoch_ratios),
                "infer_pass_pairs": median(infer_ratios),
                "train_epoch_pair_ratios": epoch_ratios,
                "infer_pass_pair_ratios": infer_ratios,
                "train": median([a["train_ex_per_s"] / b["train_ex_per_s"] for a, b in pairs]),
                "train_cpu": median([b["train_cpu_us_per_ex"] / a["train_cpu_us_per_ex"] for a, b in pairs]),
                "infer": median([a["infer_ex_per_s"] / b["infer_ex_per_s"] for a, b in pairs]),
                "predict": median(
                    [a.get("predict_ex_per_s", a["infer_ex_per_s"]) / b["infer_ex_per_s"] for a, b in pairs]
                ),
                "peak_rss": median([a["peak_rss_mb"] / b["peak_rss_mb"] for a, b in pairs]),
                "metric_delta": median([a["value"] - b["value"] for a, b in pairs]),
                "per_repeat_train": [a["train_ex_per_s"] / b["train_ex_per_s"] for a, b in pairs],
                "per_repeat_infer": [a["infer_ex_per_s"] / b["infer_ex_per_s"] for a, b in pairs],
            }
    return summary


def format_table(summary: dict, args) -> str:
    metric = next(iter(summary.values()))["metric"].upper()
    ref = "vs_" + REFERENCE
    head = (
        f"| contender | train ex/s | x DeepCTR | CPU us/ex | infer ex/s | x DeepCTR | via predict() | "
        f"peak RSS MB | x DeepCTR | {metric} @{args.epochs} ep | 1st epoch s |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, s in summary.items():
        r = s.get(ref, {})

        def x(key, r=r):
            return f"{r[key]:.2f}" if key in r else "-"

        predict = f"{s['predict_ex_per_s']:,.0f}" if s.get("predict_ex_per_s") else "-"
        lines.append(
            f"| {name} | {s['train_ex_per_s']:,.0f} | {x('train_epoch_pairs')} | {s['train_cpu_us_per_ex']:.2f} | "
            f"{s['infer_ex_per_s']:,.0f} | {x('infer_pass_pairs')} | {predict} | {s['peak_rss_mb']:,.0f} | {x('peak_rss')} | "
            f"{s['value']:.4f} | {s['first_epoch_s']:.1f} |"
        )
    return "\n".join(lines)


def footer(load_encode: dict, machine: dict) -> str:
    return (
        "\n'x DeepCTR': median, over every pair of epochs (after the first) and of inference passes that "
        "ran back to back in this invocation, of the contender's speed / DeepCTR's.\n"
        f"load + encode (project loader + FeatureEncoder): first {load_encode['first_s']:.2f} s, "
        f"median {load_encode['median_s']:.2f} s\n"
        f"1-min load average: start {machine['loadavg_start'][0]:.1f}, median before each run "
        f"{machine['loadavg_1min_median_during']:.1f}, end {machine['loadavg_end'][0]:.1f} ({machine['cpus']} CPUs)"
    )
