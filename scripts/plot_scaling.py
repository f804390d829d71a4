#!/usr/bin/env python3
"""Draws taskmill's scaling curves from scripts/bench_scaling.sh's runs.

Reads DIR/point-<series>-<x>.json (one `taskmill-bench --spawn --json` report each) and
writes the chart (--png), plus the figures beside it as JSON and CSV (same name, .json and
.csv). Series: `workers` (throughput against taskmill-worker processes), `payload`
(throughput against payload bytes) and `backlog` (drain of a backlog queued before the
workers start: the rate and Redis CPU per claimed task, which must stay flat as it grows).
"""

import argparse
import csv
import glob
import json
import os
import re
import sys

FIELDS = [
    "series", "x", "scenario", "tasks", "seconds", "tasks_per_s", "mb_per_s",
    "broker_us_per_task", "redis_us_per_task", "workers_us_per_task",
    "redis_zset_us_per_task", "redis_evalsha_us_per_task", "failed",
]


def point(path):
    """One row of figures from one taskmill-bench report, or None if it is not a point."""
    m = re.match(r"point-(workers|payload|backlog)-(\d+)\.json$", os.path.basename(path))
    if not m:
        return None
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    scenarios = report.get("scenarios", {})
    if len(scenarios) != 1:
        raise ValueError(f"{path}: expected one scenario, found {list(scenarios)}")
    scenario, r = next(iter(scenarios.items()))
    if "error" in r:
        raise ValueError(f"{path}: {scenario} failed: {r['error']}")
    res = r.get("resources", {})
    commands = res.get("redis", {}).get("commands", [])
    zset = sum(c["usec_per_task"] for c in commands if c["command"].startswith("z"))
    evalsha = sum(c["usec_per_task"] for c in commands if c["command"] == "evalsha")
    payload = report["config"]["payload_bytes"]
    return {
        "series": m.group(1),
        "x": int(m.group(2)),
        "scenario": scenario,
        "tasks": r["tasks"],
        "seconds": round(r["seconds"], 3),
        "tasks_per_s": round(r["tasks_per_s"], 1),
        "mb_per_s": round(r["tasks_per_s"] * payload / 1e6, 2),
        "broker_us_per_task": round(res.get("broker", {}).get("cpu_us_per_task", 0.0), 2),
        "redis_us_per_task": round(res.get("redis", {}).get("cpu_us_per_task", 0.0), 2),
        "workers_us_per_task": round(res.get("workers", {}).get("cpu_us_per_task", 0.0), 2),
        "redis_zset_us_per_task": round(zset, 2),
        "redis_evalsha_us_per_task": round(evalsha, 2),
        "failed": r.get("failed", 0),
    }


def human(n):
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return str(n)


def draw(rows, png, mode):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {s: sorted((r for r in rows if r["series"] == s), key=lambda r: r["x"])
          for s in ("workers", "payload", "backlog")}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))

    ax = axes[0]
    w = by["workers"]
    if w:
        ax.plot([r["x"] for r in w], [r["tasks_per_s"] for r in w], "o-", color="tab:blue")
        ax.set_xscale("log", base=2)
        ax.set_xticks([r["x"] for r in w], [str(r["x"]) for r in w])
        for r in w:
            ax.annotate(f"{r['tasks_per_s']:,.0f}", (r["x"], r["tasks_per_s"]),
                        textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_title("throughput vs workers (x32 slots, 100 B)")
    ax.set_xlabel("taskmill-worker processes")
    ax.set_ylabel("tasks/s")
    ax.set_ylim(bottom=0, top=max([r["tasks_per_s"] for r in w] + [1]) * 1.2)
    ax.grid(alpha=0.3)

    ax = axes[1]
    p = by["payload"]
    if p:
        xs = [r["x"] for r in p]
        ax.plot(xs, [r["tasks_per_s"] for r in p], "o-", color="tab:green", label="tasks/s")
        ax.set_xscale("log")
        ax.set_xticks(xs, [human(x) for x in xs])
        ax2 = ax.twinx()
        ax2.plot(xs, [r["mb_per_s"] for r in p], "s--", color="tab:gray", label="payload MB/s")
        ax2.set_ylabel("payload MB/s (in; the echo output doubles it)")
        ax2.set_ylim(bottom=0)
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [l.get_label() for l in lines], fontsize=8, loc="lower left")
    ax.set_title("throughput vs payload size (2 workers)")
    ax.set_xlabel("payload bytes")
    ax.set_ylabel("tasks/s")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)

    ax = axes[2]
    b = by["backlog"]
    if b:
        labels = [human(r["x"]) for r in b]
        pos = list(range(len(b)))
        width = 0.38
        ax.bar([i - width / 2 for i in pos], [r["redis_us_per_task"] for r in b], width,
               color="tab:red", label="Redis CPU us per claimed task")
        ax.bar([i + width / 2 for i in pos], [r["redis_zset_us_per_task"] for r in b], width,
               color="tab:orange", label="of which sorted-set commands")
        ax.set_xticks(pos, [f"{l} queued" for l in labels])
        ax.set_ylabel("us per task (claim + finish)")
        ax2 = ax.twinx()
        ax2.plot(pos, [r["tasks_per_s"] for r in b], "o-", color="tab:blue", label="drain tasks/s")
        ax2.set_ylabel("drain tasks/s")
        ax2.set_ylim(bottom=0, top=max(r["tasks_per_s"] for r in b) * 1.5)
        handles = [*ax.get_legend_handles_labels()[0], *ax2.get_lines()]
        ax.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper left")
        ax.set_ylim(bottom=0, top=max(r["redis_us_per_task"] for r in b) * 1.5)
    ax.set_title("backlog drained (2 workers): claim cost must stay flat")
    ax.grid(alpha=0.3, axis="y")

    note = ("short form (small runs on a loaded machine: shapes only)" if mode == "short"
            else "full form")
    fig.suptitle(f"taskmill scaling, scripts/bench_scaling.sh, {note}", fontsize=11)
    fig.tight_layout()
    os.makedirs(os.path.dirname(png) or ".", exist_ok=True)
    fig.savefig(png, dpi=90)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="bench_scaling.sh's output directory")
    ap.add_argument("--png", required=True, help="chart to write; .json and .csv beside it")
    ap.add_argument("--mode", choices=["full", "short"], default="full")
    args = ap.parse_args()
    rows = []
    for path in sorted(glob.glob(os.path.join(args.dir, "point-*.json"))):
        try:
            row = point(path)
        except (OSError, ValueError, KeyError) as e:
            print(f"plot_scaling.py: {e}", file=sys.stderr)
            return 1
        if row is not None:
            rows.append(row)
    if not rows:
        print(f"plot_scaling.py: no point-*.json in {args.dir}", file=sys.stderr)
        return 1
    rows.sort(key=lambda r: (["workers", "payload", "backlog"].index(r["series"]), r["x"]))
    stem = os.path.splitext(args.png)[0]
    os.makedirs(os.path.dirname(stem) or ".", exist_ok=True)
    with open(stem + ".json", "w", encoding="utf-8") as f:
        json.dump({"mode": args.mode, "points": rows}, f, indent=2)
        f.write("\n")
    with open(stem + ".csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    draw(rows, args.png, args.mode)
    for r in rows:
        print(f"{r['series']:>8} {human(r['x']):>8}: {r['tasks_per_s']:>9,.0f} tasks/s, "
              f"redis {r['redis_us_per_task']:.1f} us/task "
              f"(zset {r['redis_zset_us_per_task']:.1f}),"
              f" broker {r['broker_us_per_task']:.1f}, workers {r['workers_us_per_task']:.1f}")
    print(f"wrote {args.png}, {stem}.json, {stem}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
