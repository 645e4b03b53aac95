#!/usr/bin/env python3
"""Grouping accuracy (GA) and parsing accuracy (PA) of `faultline templates --per-line` on
the Loghub 2k sets with ground truth, as the Loghub benchmarks define them.

GA: a line is right when the set of lines its template groups is exactly the set of lines
its ground-truth template groups. PA: a line is right when its template is the ground
truth's, string for string, both written in the Loghub-2.0 benchmark's canonical form
(`canonical` below: the correction rules of Khan et al., "Guidelines for assessing the
accuracy of log message template identification techniques", ICSE 2022, with which
Loghub-2.0 corrected its ground truth and post-processes every parser's output: a path is
one `<*>`, so are `<*>.<*>`, `<*>:<*>` and a word glued to a `<*>`). The 2k sets' templates
predate that correction and mix conventions (`<*>.<*>` for a float here, one `<*>` for an
address there), so PA as written, spaces collapsed, is printed beside it ("raw PA").
Reads the `Content` column of
`../shared/corpus/loghub/*_structured.csv` (never copied into the project) and skips when
that directory is absent.

Then the throughput of `faultline templates` over a generator log (1 GiB by default, made
with `../shared/bench/genlog.py` when absent), beside `rg -c` over the same file:

    python3 bench/loghub.py [--bin target/release/faultline] [--corpus DIR]
                            [--log FILE | --size 1G] [--no-throughput]
"""
import argparse
import collections
import csv
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def norm(t):
    return re.sub(r"\s+", " ", t.strip())


# Where the canonical form cuts a template: path-like tokens between the first set, the
# other rules' tokens between both.
PATH_CUT = re.compile(r"""(\s|[,!;:=|"'\[\](){}])""")
TOKEN_CUT = re.compile(r"""(\s|[,!;:=|"'\[\](){}.\-+@#$%&])""")
# Words the rules take for values (booleans, and the user names they name).
VALUE_WORDS = {"true", "false", "null", "root", "admin"}


def canonical(t):
    """A template in the Loghub-2.0 canonical form (see the module's documentation)."""
    t = re.sub(r"\s+", " ", t.strip())
    t = "".join("<*>" if re.fullmatch(r"(/[^/]+)+", p) else p for p in PATH_CUT.split(t))
    out = []
    for tok in TOKEN_CUT.split(t):
        if tok.lower() in VALUE_WORDS or re.fullmatch(r"\d+", tok):
            tok = "<*>"
        elif re.fullmatch(r"[^\s/]*<\*>[^\s/]*", tok) and tok != "<*>/<*>":
            tok = "<*>"
        out.append(tok)
    t = "".join(out)
    for pair in ("<*>.<*>", "<*><*>", "#<*>#", "<*>:<*>"):
        while pair in t:
            t = t.replace(pair, "<*>")
    return t


def accuracy(truth, got):
    """GA and PA of `got` (template per line) against `truth`, and PA as written."""
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
    pa_right = sum(1 for t, g in zip(truth, got) if canonical(t) == canonical(g))
    raw_right = sum(1 for t, g in zip(truth, got) if norm(t) == norm(g))
    return ga_right / len(truth), pa_right / len(truth), raw_right / len(truth)


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target"))
    ap.add_argument("--bin", default=os.path.join(target, "release", "faultline"))
    ap.add_argument("--log", help="the log to time `templates` on (default: a generator log)")
    ap.add_argument("--size", default="1G", help="size of the generated log (default 1G)")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--corpus", default=os.path.join(HERE, "..", "..", "shared", "corpus", "loghub"))
    a = ap.parse_args()
    status = 0
    if not os.path.isdir(a.corpus):
        print(f"skipped: no Loghub corpus at {a.corpus}")
    else:
        status = accuracy_table(a)
    if status == 0 and not a.no_throughput:
        status = throughput(a)
    return status


def timed(cmd):
    """Seconds `cmd` took (its output discarded), best of three."""
    best = None
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        took = time.perf_counter() - start
        best = took if best is None else min(best, took)
    return best


def throughput(a):
    log = a.log
    if log is None:
        gen = os.path.join(HERE, "..", "..", "shared", "bench", "genlog.py")
        log = os.path.join(tempfile.gettempdir(), "faultline-bench", f"{a.size}-plain.log")
        if not os.path.exists(log):
            if not os.path.exists(gen):
                print(f"throughput skipped: no log given and no generator at {gen}")
                return 0
            os.makedirs(os.path.dirname(log), exist_ok=True)
            subprocess.run([sys.executable, gen, "--size", a.size, "--profile", "plain",
                            "--seed", "7", "--out", log], check=True)
    with open(log, "rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b""))
    fl = timed([a.bin, "templates", "-f", "json", "-o", os.devnull, log])
    print(f"\ntemplates over {log}: {lines} lines in {fl:.2f} s, "
          f"{lines / fl / 1e6:.2f} M lines/s (best of 3)")
    if shutil.which("rg"):
        rg = timed(["rg", "-c", "Traceback|ERROR", log])
        print(f"rg -c 'Traceback|ERROR' over the same file: {rg:.2f} s; templates / rg = {fl / rg:.1f}")
    return 0


def accuracy_table(a):
    sets = sorted(f for f in os.listdir(a.corpus) if f.endswith("_structured.csv"))
    gas, pas, raws = [], [], []
    print(f"{'set':<12} {'lines':>6} {'templates':>9} {'truth':>6} {'GA':>6} {'PA':>6} "
          f"{'raw PA':>7} {'lines/s':>10}")
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
            ga, pa, raw = accuracy(truth, got)
            gas.append(ga)
            pas.append(pa)
            raws.append(raw)
            label = name.split("_")[0]
            print(f"{label:<12} {len(rows):>6} {len(set(got)):>9} {len(set(truth)):>6} "
                  f"{ga:>6.3f} {pa:>6.3f} {raw:>7.3f} {len(rows) / took:>10.0f}")
    mean = lambda xs: sum(xs) / len(xs)
    print(f"{'mean':<12} {'':>6} {'':>9} {'':>6} {mean(gas):>6.3f} {mean(pas):>6.3f} "
          f"{mean(raws):>7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
