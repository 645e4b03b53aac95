#!/usr/bin/env python3
"""Grouping accuracy (GA) and parsing accuracy (PA) of `faultline templates --per-line` on
the Loghub 2k sets with ground truth, as the Loghub benchmarks define them.

GA: a line is right when the set of lines its template groups is exactly the set of lines
its ground-truth template groups. PA: a line is right when its template is the ground
truth's, string for string (spaces collapsed). Reads the `Content` column of
`../shared/corpus/loghub/*_structured.csv` (never copied into the project) and skips when
that directory is absent.

    python3 bench/loghub.py [--bin target/release/faultline] [--corpus DIR]
"""
import argparse
import collections
import csv
import io
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def norm(t):
    return re.sub(r"\s+", " ", t.strip())


def accuracy(truth, got):
    """GA and PA of `got` (template per line) against `truth`."""
    by_truth = collections.defaultdict(set)
    by_got = collections.defaultdict(set)
    for i, (t, g) in enumerate(zip(truth, got)):
        by_truth[t].add(i)
        by_got[g].add(i)
    ga_right = 0
    for lines in by_got.values():
        i = next(iter(lines))
        if by_truth[truth[i]] == lines:
            ga_right += len(lines)
    pa_right = sum(1 for t, g in zip(truth, got) if norm(t) == norm(g))
    return ga_right / len(truth), pa_right / len(truth)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "target", "release", "faultline"))
    ap.add_argument("--corpus", default=os.path.join(HERE, "..", "..", "shared", "corpus", "loghub"))
    a = ap.parse_args()
    if not os.path.isdir(a.corpus):
        print(f"skipped: no Loghub corpus at {a.corpus}")
        return 0
    sets = sorted(f for f in os.listdir(a.corpus) if f.endswith("_structured.csv"))
    gas, pas = [], []
    print(f"{'set':<12} {'lines':>6} {'templates':>9} {'truth':>6} {'GA':>6} {'PA':>6} {'lines/s':>10}")
    with tempfile.TemporaryDirectory() as d:
        for name in sets:
            with open(os.path.join(a.corpus, name), newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            content = os.path.join(d, "content.txt")
            with open(content, "w", encoding="utf-8") as f:
                for r in rows:
                    f.write(r["Content"].replace("\n", " ") + "\n")
            start = time.perf_counter()
            out = subprocess.run([a.bin, "templates", "--per-line", content],
                                 check=True, capture_output=True, text=True).stdout
            took = time.perf_counter() - start
            got = [r["template"] for r in csv.DictReader(io.StringIO(out))]
            if len(got) != len(rows):
                print(f"{name}: {len(got)} lines out for {len(rows)} in", file=sys.stderr)
                return 1
            truth = [r["EventTemplate"] for r in rows]
            ga, pa = accuracy(truth, got)
            gas.append(ga)
            pas.append(pa)
            label = name.split("_")[0]
            print(f"{label:<12} {len(rows):>6} {len(set(got)):>9} {len(set(truth)):>6} "
                  f"{ga:>6.3f} {pa:>6.3f} {len(rows) / took:>10.0f}")
    print(f"{'mean':<12} {'':>6} {'':>9} {'':>6} {sum(gas) / len(gas):>6.3f} {sum(pas) / len(pas):>6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
