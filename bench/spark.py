#!/usr/bin/env python3
"""The Spark job (integrations/spark) against `faultline analyze` on one archive: 20 gzip
files, five pods' rotated sets of four, made with `../shared/bench/genlog.py` (skipped when
it is absent). Prints the wall time and peak memory (the whole process tree's resident set,
sampled every 0.2 s) of each, whether the two reports agree, and the per-file throughput of
`faultline extract` beside `analyze`'s, in MB/s of decompressed input:

    python3 bench/spark.py [--bin target/release/faultline] [--python VENV/bin/python]
                           [--pod-size 400M] [--dir /tmp/faultline-spark-bench]

`--python` defaults to what scripts/install-pyspark.sh prints.
"""
import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def tree_rss(pid):
    """Resident bytes of `pid` and all its descendants."""
    children = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(p))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
        todo.extend(children.get(p, []))
    return total


def measured(cmd, env=None):
    """(seconds, peak bytes of the process tree) of `cmd`, which must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.2)

    t = threading.Thread(target=sample)
    t.start()
    _, err = proc.communicate()
    t.join()
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{err.decode(errors='replace')[-3000:]}")
    return took, peak[0]


def make_archive(d, gen, pod_size):
    """Five pods' logs of `pod_size`, each cut into four rotated gzip files."""
    for pod in range(1, 6):
        pd = os.path.join(d, f"pod-{pod}")
        os.makedirs(pd, exist_ok=True)
        full = os.path.join(pd, "full.log")
        subprocess.run([sys.executable, gen, "--size", pod_size, "--profile", "plain",
                        "--seed", str(pod), "--out", full], check=True)
        with open(full, "rb") as f:
            data = f.read()
        # Cut at line starts that begin a record (a timestamp), so tracebacks stay whole.
        cuts = [0]
        for k in range(1, 4):
            at = len(data) * k // 4
            while True:
                at = data.index(b"\n", at) + 1
                if data[at:at + 2] == b"20":
                    break
            cuts.append(at)
        cuts.append(len(data))
        for k in range(4):
            with gzip.open(os.path.join(pd, f"app.log.{4 - k}.gz"), "wb", compresslevel=1) as g:
                g.write(data[cuts[k]:cuts[k + 1]])
        os.remove(full)


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--bin", default=os.path.join(target, "release", "faultline"))
    ap.add_argument("--python", help="a python with pyspark (default: scripts/install-pyspark.sh)")
    ap.add_argument("--pod-size", default="420M", help="decompressed log per pod (5 pods)")
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "faultline-spark-bench"))
    a = ap.parse_args()
    gen = os.path.join(ROOT, "..", "shared", "bench", "genlog.py")
    archive = os.path.join(a.dir, f"archive-{a.pod_size}")
    if not os.path.isdir(archive):
        if not os.path.exists(gen):
            print(f"skipped: no generator at {gen}")
            return 0
        make_archive(archive, gen, a.pod_size)
    python = a.python or subprocess.run([os.path.join(ROOT, "scripts", "install-pyspark.sh")],
                                        check=True, capture_output=True, text=True).stdout.strip()
    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(archive) for f in fs)
    raw = 0
    for f in files:
        with gzip.open(f, "rb") as g:
            while chunk := g.read(1 << 24):
                raw += len(chunk)
    print(f"archive: {len(files)} gzip files, {raw / 2**30:.2f} GiB decompressed")

    report = os.path.join(a.dir, "analyze.json")
    t_an, m_an = measured([a.bin, "analyze", "-f", "json", "-o", report, archive])
    print(f"faultline analyze:        {t_an:7.1f} s, peak {m_an / 2**20:7.0f} MiB, "
          f"{raw / 2**20 / t_an:6.0f} MB/s")

    home = subprocess.run([python, "-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    env = dict(os.environ, SPARK_HOME=home, PYSPARK_PYTHON=python, PYSPARK_DRIVER_PYTHON=python)
    out = os.path.join(a.dir, "spark-out")
    shutil.rmtree(out, ignore_errors=True)
    t_sp, m_sp = measured([os.path.join(home, "bin", "spark-submit"), "--master", "local[2]",
                           "--driver-memory", "4g", "--conf", "spark.ui.enabled=false",
                           "--files", a.bin, os.path.join(ROOT, "integrations", "spark",
                                                          "faultline_spark.py"),
                           "--input", archive, "--output", out, "--faultline", a.bin], env=env)
    print(f"Spark local[2] job:       {t_sp:7.1f} s, peak {m_sp / 2**20:7.0f} MiB, "
          f"{raw / 2**20 / t_sp:6.0f} MB/s")
    with open(report) as f:
        want = json.load(f)
    with open(os.path.join(out, "report.json")) as f:
        got = json.load(f)
    for s in want["signatures"]:
        s["example"] = None
    sections = ("input", "time_range", "signatures", "exceptions", "requests", "endpoints",
                "timeline", "incidents")
    same = [k for k in sections if want[k] == got[k]]
    if len(same) < len(sections):
        print(f"DIFFERENT from analyze's: {', '.join(k for k in sections if k not in same)}")
    print(f"sections equal to analyze's: {', '.join(sorted(same))}")

    # One rotated file through `extract` (what each executor task runs) and `analyze`.
    one = files[0]
    with gzip.open(one, "rb") as g:
        size = sum(len(c) for c in iter(lambda: g.read(1 << 24), b""))
    with tempfile.TemporaryDirectory() as d:
        t_ex, _ = measured([a.bin, "extract", "-j", "1", "-o", d, one])
    t_a1, _ = measured([a.bin, "analyze", "-j", "1", "-f", "json", "-o", os.devnull, one])
    print(f"one file ({size / 2**20:.0f} MB decompressed), one thread: extract "
          f"{size / 2**20 / t_ex:.0f} MB/s, analyze {size / 2**20 / t_a1:.0f} MB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
