#!/usr/bin/env python3
"""faultline on Apache Spark: a fleet's log archive, faultline as the per-file engine.

Spark lists the archive (any filesystem it reads: local paths, HDFS, S3, GCS), ships the
faultline binary to the executors (`--files`), and runs `faultline extract` on each rotated
set of files there (`mapInArrow`). The per-record rows come back as Arrow; Spark SQL does the
shuffle and the exact reduce (counts, first and last seen, variants, locations, linear
percentiles per endpoint, per time bucket and overall), and the driver writes the rows as
Parquet and the same `faultline.report/v1` JSON that `faultline analyze` writes:

    spark-submit --master spark://HOST:7077 --files /path/to/faultline \\
        integrations/spark/faultline_spark.py --input s3a://bucket/logs/ --output out/

See integrations/spark/README.md.
"""
import argparse
import datetime
import decimal
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark import SparkFiles
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

SCHEMA = "faultline.report/v1"
# The rows every executor task yields: events, requests and one `input` row per set, in
# one Arrow schema (`row` says which); times are nanoseconds since the epoch.
ROWS = pa.schema([
    ("row", pa.string()),
    ("time_ns", pa.int64()),
    ("kind", pa.string()),
    ("name", pa.string()),
    ("variant", pa.string()),
    ("location", pa.string()),
    ("function", pa.string()),
    ("exception_type", pa.string()),
    ("message", pa.string()),
    ("source", pa.string()),
    ("endpoint", pa.string()),
    ("status", pa.int64()),
    ("latency_ms", pa.float64()),
    ("accounting", pa.string()),
])
QUANTILES = (0.5, 0.95, 0.99)
# A rotated file's suffixes: `app.log.1`, `app.log.2.gz`, `app.log-20250110.gz`.
ROTATION = re.compile(r"(\.(gz|xz|zst|bz2))?$")
ROTATION_NUMBER = re.compile(r"([.-]\d+)+$")


def rotated_set(path):
    """The rotated set a file belongs to: its directory and its name without the rotation
    number and compression suffix (`pods/api/app.log.2.gz` -> `pods/api/app.log`)."""
    stem = ROTATION.sub("", path)
    return ROTATION_NUMBER.sub("", stem)


def faultline_binary(fallback):
    """The binary shipped with `--files`, or `fallback` (local runs)."""
    try:
        shipped = SparkFiles.get("faultline")
    except Exception:
        shipped = None
    path = shipped if shipped and os.path.exists(shipped) else fallback
    if os.path.exists(path) and not os.access(path, os.X_OK):
        os.chmod(path, 0o755)
    return path


def extract_set(binary, extra, files):
    """Runs `faultline extract` on one rotated set (`files`: (uri, bytes) pairs, written to
    a scratch directory under their own names) and returns its rows as one Arrow table."""
    with tempfile.TemporaryDirectory(prefix="faultline-") as d:
        src = os.path.join(d, "in")
        os.mkdir(src)
        local_to_uri = {}
        for uri, content in files:
            name = os.path.basename(uri.rstrip("/")) or "log"
            local = os.path.join(src, name)
            with open(local, "wb") as f:
                f.write(content)
            local_to_uri[local] = uri
        out = os.path.join(d, "out")
        cmd = [binary, "extract", "-j", "1", "-o", out, *extra, *sorted(local_to_uri)]
        run = subprocess.run(cmd, capture_output=True)
        if not os.path.exists(os.path.join(out, "input.json")):
            raise RuntimeError(f"faultline extract failed ({run.returncode}) on "
                               f"{[u for u, _ in files]}: {run.stderr.decode(errors='replace')}")
        events = pq.read_table(os.path.join(out, "events.parquet"))
        requests = pq.read_table(os.path.join(out, "requests.parquet"))
        with open(os.path.join(out, "input.json"), encoding="utf-8") as f:
            accounting = json.load(f)
    # faultline's exit status 1 means some input could not be read: that is accounted for
    # in input.json (its errors travel in `accounting`), the rest of the set is kept.
    accounting["errors"] = [l for l in run.stderr.decode(errors="replace").splitlines()
                            if l.startswith("faultline: ") and "wrote " not in l]
    ne, nr = events.num_rows, requests.num_rows

    def col(t, name, typ):
        return t.column(name).cast(typ) if name in t.column_names else pa.nulls(t.num_rows, typ)

    def ns(t):
        return t.column("time").cast(pa.timestamp("ns")).cast(pa.int64())

    sources = [local_to_uri.get(s, s) for s in events.column("source").to_pylist()]
    ev = pa.table({
        "row": pa.array(["event"] * ne),
        "time_ns": ns(events),
        "kind": col(events, "kind", pa.string()),
        "name": col(events, "name", pa.string()),
        "variant": col(events, "variant", pa.string()),
        "location": col(events, "location", pa.string()),
        "function": col(events, "function", pa.string()),
        "exception_type": col(events, "exception_type", pa.string()),
        "message": col(events, "message", pa.string()),
        "source": pa.array(sources, pa.string()),
        "endpoint": pa.nulls(ne, pa.string()),
        "status": pa.nulls(ne, pa.int64()),
        "latency_ms": pa.nulls(ne, pa.float64()),
        "accounting": pa.nulls(ne, pa.string()),
    }, schema=ROWS)
    rq = pa.table({
        "row": pa.array(["request"] * nr),
        "time_ns": ns(requests),
        **{c: pa.nulls(nr, pa.string()) for c in
           ("kind", "name", "variant", "location", "function", "exception_type", "message",
            "source")},
        "endpoint": col(requests, "endpoint", pa.string()),
        "status": col(requests, "status", pa.int64()),
        "latency_ms": col(requests, "latency_ms", pa.float64()),
        "accounting": pa.nulls(nr, pa.string()),
    }, schema=ROWS)
    acc = pa.table({c: pa.nulls(1, ROWS.field(c).type) for c in ROWS.names}, schema=ROWS)
    acc = acc.set_column(0, "row", pa.array(["input"]))
    acc = acc.set_column(ROWS.get_field_index("accounting"), "accounting",
                         pa.array([json.dumps(accounting)]))
    return pa.concat_tables([ev, rq, acc])


def shipped(arg):
    """`arg`, or the copy of the file it names that `--files` shipped to this executor
    (`--patterns my.toml` works on every executor when my.toml is shipped)."""
    if os.path.exists(arg):
        return arg
    try:
        copy = SparkFiles.get(os.path.basename(arg))
    except Exception:
        return arg
    return copy if os.path.exists(copy) else arg


def executor_rows(binary, extra):
    """The mapInArrow function: the partition's files arrive sorted by set and path; each
    set is extracted once all its files are in."""
    def run(batches):
        exe = faultline_binary(binary)
        extra_here = [shipped(a) for a in extra]
        key, files = None, []
        for batch in batches:
            for uri, content, k in zip(batch.column("path").to_pylist(),
                                       batch.column("content").to_pylist(),
                                       batch.column("set").to_pylist()):
                if k != key and files:
                    yield from extract_set(exe, extra_here, files).to_batches()
                    files = []
                key = k
                files.append((uri, content))
        if files:
            yield from extract_set(exe, extra_here, files).to_batches()
    return run


def rust_round(v, scale):
    """faultline's `(v * scale).round() / scale`: half away from zero on the exact double."""
    if v is None:
        return None
    x = decimal.Decimal(v * scale).quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP)
    return float(x) / scale


def rfc3339(ns):
    """faultline's time format: UTC, milliseconds (truncated), `Z`."""
    if ns is None:
        return None
    secs, rest = divmod(ns, 1_000_000_000)
    t = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=secs)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{rest // 1_000_000:03d}Z"


def linear_quantiles(df, keys):
    """Per group of `keys`: count, 5xx, max and the linear quantiles of `latency_ms`, as
    faultline takes them (rank (n-1)q between the closest ranks, the same double
    arithmetic), by Spark SQL over ranked rows."""
    timed = df.where(F.col("latency_ms").isNotNull())
    part = Window.partitionBy(*keys) if keys else Window.partitionBy(F.lit(0))
    ranked = (timed
              .withColumn("rank", F.row_number().over(part.orderBy("latency_ms")) - 1)
              .withColumn("n", F.count(F.lit(1)).over(part)))
    aggs = [F.first("n").alias("n"), F.max("latency_ms").alias("max")]
    for i, q in enumerate(QUANTILES):
        at = (F.col("n") - 1).cast("double") * F.lit(q)
        lo, hi = F.floor(at), F.ceil(at)
        aggs.append(F.max(F.when(F.col("rank") == lo, F.col("latency_ms"))).alias(f"lo{i}"))
        aggs.append(F.max(F.when(F.col("rank") == hi, F.col("latency_ms"))).alias(f"hi{i}"))
    g = ranked.groupBy(*keys).agg(*aggs)
    for i, q in enumerate(QUANTILES):
        at = (F.col("n") - 1).cast("double") * F.lit(q)
        lower, upper = F.col(f"lo{i}"), F.col(f"hi{i}")
        g = g.withColumn(f"q{i}", F.when((F.floor(at) == F.ceil(at)) | (lower == upper), lower)
                         .otherwise((at - F.floor(at).cast("double")) * (upper - lower) + lower))
    # q0, q1, q2: the quantiles of QUANTILES, in order.
    return g.select(*keys, "max", *[f"q{i}" for i in range(len(QUANTILES))])


# faultline's incident detection defaults (`IncidentOptions`).
FACTOR, MIN_ERROR_RATE, WINDOW, WARMUP, MIN_REQUESTS, MAX_GAP, MIN_MINUTES = \
    5.0, 0.05, 30, 5, 5, 2, 3
MINUTE_NS = 60_000_000_000


def median(v):
    v = sorted(v)
    n = len(v)
    if n == 0:
        return 0.0
    return v[n // 2] if n % 2 == 1 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def wilson_lower(k, n):
    """The lower end of the 99% Wilson score interval of `k` in `n`."""
    z = 2.576
    if n == 0:
        return 0.0
    n, p = float(n), k / n
    z2 = z * z
    centre = p + z2 / (2.0 * n)
    spread = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    return max((centre - spread) / (1.0 + z2 / n), 0.0)


def detect(timeline, starts, bucket_ns):
    """faultline's incident detection on the timeline (see src/aggregate/incident.rs):
    buckets whose p99 is 5x the baseline's median p99, or whose 5xx rate is clearly above
    the baseline's; the baseline is the last 30 normal buckets (the whole log's median
    bucket until 5 are seen). Returns (first, last, peak) bucket indices."""
    eligible = [b["requests"] >= MIN_REQUESTS and b["p99_ms"] is not None
                and b["error_rate"] is not None for b in timeline]
    ok = [b for b, e in zip(timeline, eligible) if e]
    glob = (median([b["p99_ms"] for b in ok]), median([b["error_rate"] for b in ok]))

    def flags(base, b):
        above = max(base[1] + MIN_ERROR_RATE, 3.0 * base[1])
        return b["p99_ms"] > FACTOR * base[0] or \
            wilson_lower(b["errors_5xx"], b["requests"]) > above

    normal, anomalous = [], []
    for i, b in enumerate(timeline):
        if not eligible[i]:
            continue
        if len(normal) >= WARMUP:
            errors = sum(x[1] for x in normal)
            requests = sum(x[2] for x in normal)
            base = (median([x[0] for x in normal]), errors / max(requests, 1))
        else:
            base = glob
        if flags(base, b):
            anomalous.append(i)
        else:
            normal.append((b["p99_ms"], b["errors_5xx"], b["requests"]))
            if len(normal) > WINDOW:
                normal.pop(0)
    bucket = max(bucket_ns, 1)
    max_gap = (MAX_GAP * MINUTE_NS) // bucket
    min_buckets = max((MIN_MINUTES * MINUTE_NS + bucket - 1) // bucket, 1)
    out, run = [], []

    def flush():
        if run and (starts[run[-1]] - starts[run[0]]) // bucket + 1 >= min_buckets:
            # The highest p99; the earliest of equal ones.
            peak = max(run, key=lambda i: (timeline[i]["p99_ms"] or 0.0, -i))
            out.append((run[0], run[-1], peak))
        run.clear()

    for i in anomalous:
        if run and (starts[i] - starts[run[-1]]) // bucket - 1 > max_gap:
            flush()
        run.append(i)
    flush()
    return out


def window_stats(requests, start, end):
    """Requests, 5xx and p50/p99 of the timed requests in [start, end)."""
    w = requests.where((F.col("time_ns") >= start) & (F.col("time_ns") < end))
    c = w.agg(F.count(F.lit(1)).alias("n"),
              F.sum(F.when(F.col("status") >= 500, 1).otherwise(0)).alias("e5")).collect()[0]
    q = linear_quantiles(w, []).collect()
    q = q[0] if q else None
    return {"requests": c["n"], "errors_5xx": c["e5"] or 0,
            "p50_ms": rust_round(q and q["q0"], 1000.0),
            "p99_ms": rust_round(q and q["q2"], 1000.0)}


def incidents_of(requests, sigs, timeline, starts, bucket_ns):
    """The incident reports, as faultline writes them."""
    out = []
    for first, last, peak in detect(timeline, starts, bucket_ns):
        start, end = starts[first], starts[last] + bucket_ns
        during = window_stats(requests, start, end)
        before = window_stats(requests, start - bucket_ns * WINDOW, start)
        after = window_stats(requests, end, starts[-1] + bucket_ns)
        in_window = sigs.where((F.col("time_ns") >= start) & (F.col("time_ns") < end)) \
            .groupBy("name").count().collect()
        d, b = during["p99_ms"], before["p99_ms"]
        out.append({
            "start": rfc3339(start), "peak": rfc3339(starts[peak]), "end": rfc3339(end),
            "duration_seconds": (end - start) // 1_000_000_000,
            "signatures": {r["name"]: r["count"] for r in sorted(in_window, key=lambda r: r["name"])},
            "requests": during["requests"], "errors_5xx": during["errors_5xx"],
            "p50_ms": during["p50_ms"], "p99_ms": d,
            "baseline_p99_ms": b, "baseline_p50_ms": before["p50_ms"],
            "latency_ratio": rust_round(d / b, 1000.0) if d is not None and b else None,
            "after_p50_ms": after["p50_ms"], "after_p99_ms": after["p99_ms"],
            "after_errors_5xx": after["errors_5xx"], "after_requests": after["requests"],
        })
    return out


def counts(df, keys):
    return {tuple(r[k] for k in keys): r for r in df.collect()}


def split_location(loc):
    file, _, line = loc.rpartition(":")
    return file, int(line)


def assemble(spark, rows, catalog, bucket_ns):
    """The report, reduced by Spark SQL from the extracted rows."""
    events = rows.where(F.col("row") == "event")
    requests = rows.where(F.col("row") == "request")
    sigs = events.where(F.col("kind") == "signature")
    excs = events.where(F.col("kind") == "exception")

    def by_count(items, name):
        return sorted(items, key=lambda x: (-x["count"], x[name]))

    # Signatures: count, first/last seen, and their exception types, variants, locations.
    sig_rows = sigs.groupBy("name").agg(F.count(F.lit(1)).alias("count"),
                                         F.min("time_ns").alias("first"),
                                         F.max("time_ns").alias("last")).collect()
    types = sigs.where(F.col("exception_type").isNotNull()) \
        .groupBy("name", "exception_type").count().collect()
    variants = sigs.where(F.col("variant").isNotNull()).groupBy("name", "variant").count().collect()
    locations = sigs.where(F.col("location").isNotNull()) \
        .groupBy("name", "location", "function").count().collect()
    signatures = []
    for s in sig_rows:
        meta = catalog.get(s["name"], {})
        locs = []
        for r in locations:
            if r["name"] == s["name"]:
                file, line = split_location(r["location"])
                locs.append({"file": file, "line": line, "function": r["function"] or "",
                             "count": r["count"]})
        locs.sort(key=lambda l: (-l["count"], l["file"], l["line"], l["function"]))
        signatures.append({
            "id": s["name"],
            "title": meta.get("title", ""),
            "severity": meta.get("severity", ""),
            "count": s["count"],
            "first_seen": rfc3339(s["first"]),
            "last_seen": rfc3339(s["last"]),
            "exception_types": by_count([{"type": r["exception_type"], "count": r["count"]}
                                         for r in types if r["name"] == s["name"]], "type"),
            "variants": by_count([{"value": r["variant"], "count": r["count"]}
                                  for r in variants if r["name"] == s["name"]], "value")[:20],
            "locations": locs[:20],
            "remediation": meta.get("remediation", ""),
            "references": meta.get("references", []),
            "example": None,
        })
    signatures.sort(key=lambda s: (-s["count"], s["id"]))

    # Other exceptions: by type, message shape and location.
    exceptions = []
    for r in excs.groupBy("exception_type", "message", "location", "function").agg(
            F.count(F.lit(1)).alias("count"), F.min("time_ns").alias("first"),
            F.max("time_ns").alias("last")).collect():
        e = {"type": r["exception_type"] or "", "message": r["message"]}
        if r["location"] is not None:
            file, line = split_location(r["location"])
            e["location"] = {"file": file, "line": line, "function": r["function"] or ""}
        e.update(count=r["count"], first_seen=rfc3339(r["first"]), last_seen=rfc3339(r["last"]))
        exceptions.append(e)
    loc_key = lambda e: (lambda l: (l["file"], l["line"], l["function"]) if l else ("", -1, ""))(
        e.get("location"))
    exceptions.sort(key=lambda e: (-e["count"], e["type"], e["message"] or "", loc_key(e)))

    # Requests and endpoints.
    is5 = F.when(F.col("status") >= 500, 1).otherwise(0)
    ep_counts = counts(requests.groupBy("endpoint").agg(F.count(F.lit(1)).alias("count"),
                                                         F.sum(is5).alias("e5")), ["endpoint"])
    ep_q = counts(linear_quantiles(requests, ["endpoint"]), ["endpoint"])
    endpoints = []
    for (ep,), c in ep_counts.items():
        q = ep_q.get((ep,))
        endpoints.append({
            "endpoint": ep, "count": c["count"], "errors_5xx": c["e5"],
            "p50_ms": rust_round(q and q["q0"], 1000.0),
            "p95_ms": rust_round(q and q["q1"], 1000.0),
            "p99_ms": rust_round(q and q["q2"], 1000.0),
            "max_ms": rust_round(q and q["max"], 1000.0),
        })
    endpoints.sort(key=lambda e: (-e["count"], e["endpoint"]))
    total = requests.agg(F.count(F.lit(1)).alias("n"), F.sum(is5).alias("e5"),
                         F.count("latency_ms").alias("timed")).collect()[0]
    overall = linear_quantiles(requests, []).collect()

    # The timeline: buckets with requests or signatures (`t - t % b`, as faultline).
    bucket = F.col("time_ns") - F.pmod(F.col("time_ns"), F.lit(bucket_ns))
    breq = requests.where(F.col("time_ns").isNotNull()).withColumn("bucket", bucket)
    b_counts = counts(breq.groupBy("bucket").agg(F.count(F.lit(1)).alias("n"),
                                                  F.sum(is5).alias("e5")), ["bucket"])
    b_q = counts(linear_quantiles(breq, ["bucket"]), ["bucket"])
    b_sigs = sigs.where(F.col("time_ns").isNotNull()).withColumn("bucket", bucket) \
        .groupBy("bucket", "name").count().collect()
    starts = sorted(set(k[0] for k in b_counts) | set(r["bucket"] for r in b_sigs))
    timeline = []
    for b in starts:
        c, q = b_counts.get((b,)), b_q.get((b,))
        n = c["n"] if c else 0
        e5 = c["e5"] if c else 0
        timeline.append({
            "bucket": rfc3339(b), "requests": n, "errors_5xx": e5,
            "error_rate": rust_round(e5 / n, 1e6) if n else None,
            "p50_ms": rust_round(q and q["q0"], 1000.0),
            "p95_ms": rust_round(q and q["q1"], 1000.0),
            "p99_ms": rust_round(q and q["q2"], 1000.0),
            "signatures": {r["name"]: r["count"] for r in sorted(b_sigs, key=lambda r: r["name"])
                           if r["bucket"] == b},
        })

    # What was read: the sets' accounting, summed.
    acc = [json.loads(r["accounting"]) for r in
           rows.where(F.col("row") == "input").select("accounting").collect()]
    input_summary = {}
    for a in acc:
        for k, v in a["input"].items():
            if isinstance(v, dict):
                m = input_summary.setdefault(k, {})
                for kk, vv in v.items():
                    m[kk] = m.get(kk, 0) + vv
            else:
                input_summary[k] = input_summary.get(k, 0) + v
    input_summary = {k: (dict(sorted(v.items())) if isinstance(v, dict) else v)
                     for k, v in input_summary.items()}
    starts_ = [a["time_range"]["start"] for a in acc if a["time_range"].get("start")]
    ends = [a["time_range"]["end"] for a in acc if a["time_range"].get("end")]
    q0 = overall[0] if overall else None
    report = {
        "schema": SCHEMA,
        "input": input_summary,
        "time_range": {"start": min(starts_) if starts_ else None, "end": max(ends) if ends else None},
        "signatures": signatures,
        "exceptions": exceptions[:50],
        "templates": [],
        "errors": [{"path": l.split(": ", 2)[1] if l.count(": ") >= 2 else "",
                    "reason": l.split(": ", 2)[-1]} for a in acc for l in a.get("errors", [])],
        "requests": {
            "count": total["n"], "with_latency": total["timed"],
            "unparsed_latency": sum(a["requests"]["unparsed_latency"] for a in acc),
            "missing_latency": sum(a["requests"]["missing_latency"] for a in acc),
            "errors_5xx": total["e5"] or 0,
            "error_rate": rust_round((total["e5"] or 0) / total["n"], 1e6) if total["n"] else None,
            "p50_ms": rust_round(q0 and q0["q0"], 1000.0),
            "p99_ms": rust_round(q0 and q0["q2"], 1000.0),
            "bucket_seconds": bucket_ns // 1_000_000_000,
        },
        "endpoints": endpoints,
        "timeline": timeline,
        "incidents": incidents_of(requests.where(F.col("time_ns").isNotNull()), sigs,
                                  timeline, starts, bucket_ns),
        "notes": ["assembled by the Spark job (integrations/spark): message templates and "
                  "signature examples are left to `faultline analyze`"],
    }
    return report


def catalog_of(binary, extra):
    """The signature catalog's titles, severities and fixes (`faultline signatures -f json`),
    with the `--patterns` and `--disable` of `extra`."""
    keep = []
    for i, a in enumerate(extra):
        if a in ("--patterns", "--disable") and i + 1 < len(extra):
            keep += [a, shipped(extra[i + 1])]
        elif a.startswith(("--patterns=", "--disable=")):
            keep.append(a)
    out = subprocess.run([binary, "signatures", "-f", "json", *keep], capture_output=True,
                         check=True)
    doc = json.loads(out.stdout)
    items = doc["signatures"] if isinstance(doc, dict) else doc
    return {s["id"]: s for s in items}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True, action="append",
                    help="a directory or glob of log files (any Spark filesystem); repeatable")
    ap.add_argument("--output", required=True, help="directory for report.json and the frames")
    ap.add_argument("--faultline", default=shutil.which("faultline") or "faultline",
                    help="the binary when it is not shipped with --files")
    ap.add_argument("--bucket", default="1m", help="timeline bucket, as faultline's --bucket")
    ap.add_argument("--partitions", type=int, default=0,
                    help="tasks (default: one per rotated set, at most 4x the cores)")
    ap.add_argument("extract_args", nargs=argparse.REMAINDER,
                    help="after `--`: options for `faultline extract` (--tz, --year, "
                         "--patterns, --disable, --since, --until, --latency-field, "
                         "--input-format); files they name are shipped with --files")
    a = ap.parse_args(argv)
    passed = a.extract_args[1:] if a.extract_args[:1] == ["--"] else a.extract_args
    spark = SparkSession.builder.appName("faultline").getOrCreate()
    binary = faultline_binary(a.faultline)
    unit = {"s": 1, "m": 60, "h": 3600}[a.bucket[-1]]
    bucket_ns = int(a.bucket[:-1]) * unit * 1_000_000_000
    extra = ["--bucket", a.bucket, *passed]

    files = (spark.read.format("binaryFile").option("recursiveFileLookup", "true")
             .load(a.input).select("path", "content"))
    set_of = F.udf(rotated_set, T.StringType())
    files = files.withColumn("set", set_of("path"))
    sets = files.select("set").distinct().count()
    parts = a.partitions or max(1, min(sets, 4 * spark.sparkContext.defaultParallelism))
    files = files.repartition(parts, "set").sortWithinPartitions("set", "path")
    spark_schema = T.StructType([
        T.StructField(f.name, {pa.string(): T.StringType(), pa.int64(): T.LongType(),
                               pa.float64(): T.DoubleType()}[f.type]) for f in ROWS])
    rows = files.mapInArrow(executor_rows(a.faultline, extra), spark_schema).cache()
    took = {}
    t0 = time.perf_counter()
    # Materialized once: listing, reading, `faultline extract` in the executors.
    n = rows.count()
    took["list and extract"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    os.makedirs(a.output, exist_ok=True)
    (rows.where(F.col("row") == "event")
     .select("time_ns", "kind", "name", "variant", "location", "function", "exception_type",
             "message", "source")
     .write.mode("overwrite").parquet(os.path.join(a.output, "events")))
    (rows.where(F.col("row") == "request").select("time_ns", "endpoint", "status", "latency_ms")
     .write.mode("overwrite").parquet(os.path.join(a.output, "requests")))
    took["write the frames"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = assemble(spark, rows, catalog_of(binary, passed), bucket_ns)
    took["reduce and incidents"] = time.perf_counter() - t0
    with open(os.path.join(a.output, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"faultline-spark: {sets} rotated set(s), {n} rows; "
          + ", ".join(f"{k} {v:.1f} s" for k, v in took.items())
          + f"; report in {a.output}/report.json", file=sys.stderr)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
