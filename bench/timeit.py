#!/usr/bin/env python3
"""Interleaved wall-clock timing with per-run peak RSS (standard library only).

    timeit.py RUNS OUT.json NAME=COMMAND ...

Each round runs every command once, in order, so slow drifts of the machine (page cache,
thermal) hit all of them alike; after one warm-up round, RUNS rounds are timed. A command is
run by `sh -c`; its peak RSS comes from wait4's rusage of that one child (for a pipeline,
the largest process in it). Prints a table of medians and writes every sample to OUT.json.
"""
import json
import os
import statistics
import subprocess
import sys
import time


def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen(["sh", "-c", cmd], stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        sys.exit(f"command failed ({status}): {cmd}")
    return dt, ru.ru_maxrss * 1024


def main():
    runs = int(sys.argv[1])
    out = sys.argv[2]
    cmds = [a.split("=", 1) for a in sys.argv[3:]]
    samples = {name: {"cmd": cmd, "wall": [], "rss": []} for name, cmd in cmds}
    for r in range(runs + 1):
        for name, cmd in cmds:
            dt, rss = run(cmd)
            if r > 0:
                samples[name]["wall"].append(dt)
                samples[name]["rss"].append(rss)
        print(f"round {r}/{runs} done" + (" (warm-up)" if r == 0 else ""), file=sys.stderr)
    for name, s in samples.items():
        s["median"] = statistics.median(s["wall"])
        s["max_rss"] = max(s["rss"])
    with open(out, "w") as f:
        json.dump(samples, f, indent=1)
    print(f"{'name':28} {'median s':>9} {'min s':>7} {'max s':>7} {'peak RSS MB':>11}")
    for name, s in samples.items():
        print(f"{name:28} {s['median']:9.3f} {min(s['wall']):7.3f} {max(s['wall']):7.3f} "
              f"{s['max_rss'] / 1e6:11.0f}")


if __name__ == "__main__":
    main()
