//! Criterion benchmarks of the library stages, throughput in input bytes, on a generated
//! incident log (request lines, access lines, and the four incident tracebacks):
//!
//! - `framing`: prefix stripping, line kinds, record state machine (`frame_chunk`);
//! - `time`: timestamp parsing of every line's header;
//! - `prefilter` and `classify`: the byte-level anchor scan, then the records it marks;
//! - `requests`: request-line extraction (logfmt, access lines);
//! - `aggregate`: request rows into polars frames, timeline, endpoints and incidents;
//! - `pipeline`: all of it, as `analyze` runs it on one thread.
//!
//! `cargo bench --bench stages`; end-to-end timings against other tools are in
//! `bench/compare.sh`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use faultline::aggregate::{Summary, TrendOptions};
use faultline::classify::{Catalog, Classifier};
use faultline::extract::{Latency, RequestReader};
use faultline::framing::{frame_chunk, Limits, Record, TimeParser};
use faultline::pipeline::scan_source;

const TRACEBACKS: [&str; 4] = [
    "Traceback (most recent call last):
  File \"/app/app/observability/config.py\", line 41, in is_enabled
    return bool(settings.AGENTOPS_API_KEY)
AttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'",
    "Traceback (most recent call last):
  File \"/usr/local/lib/python3.11/site-packages/starlette/websockets.py\", line 85, in send
    raise RuntimeError('WebSocket is not connected. Need to call \"accept\" first.')
  File \"/app/app/api/v1/pam.py\", line 412, in websocket_endpoint
    await websocket.send_json(payload)
RuntimeError: WebSocket is not connected. Need to call \"accept\" first.",
    "Traceback (most recent call last):
  File \"/app/app/api/v1/voice.py\", line 121, in synthesize
    base = settings.TTS_URL.rstrip('/')
AttributeError: 'AnyHttpUrl' object has no attribute 'rstrip'",
    "Traceback (most recent call last):
  File \"/app/app/api/v1/pam.py\", line 1136, in process_message
    elapsed = datetime.utcnow() - started
TypeError: unsupported operand type(s) for -: 'datetime.datetime' and 'float'",
];

/// About `size` bytes of an incident log: mostly request lines, one traceback in 50 records.
fn incident_log(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 1024);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut i = 0u64;
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (m, s, ms) = (i / 60_000 % 60, i / 1000 % 60, i % 1000);
        let ts = format!("2025-01-10 08:{m:02}:{s:02},{ms:03}");
        match x % 50 {
            0 => {
                let tb = TRACEBACKS[(x >> 8) as usize % 4];
                out.extend_from_slice(
                    format!("{ts} - uvicorn.error - ERROR - Exception in ASGI application\n{tb}\n")
                        .as_bytes(),
                );
            }
            1..=9 => out.extend_from_slice(
                format!(
                    "10.0.{}.{} - - [10/Jan/2025:08:{m:02}:{s:02} +0000] \"GET /api/v1/items/{} HTTP/1.1\" 200 512 \"-\" \"curl/8\" 0.{:03}\n",
                    x % 255, (x >> 8) % 255, x % 10_000, x % 1000
                )
                .as_bytes(),
            ),
            _ => out.extend_from_slice(
                format!(
                    "{ts} - app.middleware.timing - INFO - request method={} path=/api/v1/{} status={} duration_ms={}.{}\n",
                    ["GET", "POST"][(x % 2) as usize],
                    ["health", "expenses", "chat", "voice/synthesize"][((x >> 4) % 4) as usize],
                    [200, 200, 200, 201, 404, 500][((x >> 9) % 6) as usize],
                    (x >> 12) % 300,
                    (x >> 20) % 100
                )
                .as_bytes(),
            ),
        }
        i += 37;
    }
    out
}

fn stages(c: &mut Criterion) {
    let log = incident_log(8 << 20);
    let cl = Classifier::new(Catalog::builtin().unwrap());
    let reader = RequestReader::builtin().unwrap();
    let limits = Limits::default();
    let lines: Vec<&[u8]> = log.split(|&b| b == b'\n').collect();

    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Bytes(log.len() as u64));
    g.sample_size(20);

    g.bench_function("framing", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let out = frame_chunk(&log, &[], &limits, &mut |r: &Record<'_>| {
                n += r.lines.len() as u64
            });
            black_box((n, out.stats.records))
        })
    });
    g.bench_function("time", |b| {
        b.iter(|| {
            let mut tp = TimeParser::new();
            let mut sum = 0i64;
            for l in &lines {
                if let Some((t, _)) = tp.parse_iso(l) {
                    sum = sum.wrapping_add(t);
                }
            }
            black_box(sum)
        })
    });
    g.bench_function("prefilter", |b| {
        b.iter(|| black_box(cl.prefilter(&log).len()))
    });
    g.bench_function("classify", |b| {
        // The records the prefilter marks, classified (no memo: the worst case).
        let hits = cl.prefilter(&log);
        b.iter(|| {
            let mut found = 0;
            frame_chunk(&log, &hits, &limits, &mut |r: &Record<'_>| {
                if r.hit || r.traceback {
                    let text: Vec<String> = r
                        .lines
                        .iter()
                        .map(|l| String::from_utf8_lossy(l.text).into_owned())
                        .collect();
                    found += usize::from(cl.classify_record(&text, r.hit).is_some());
                }
            });
            black_box(found)
        })
    });
    g.bench_function("requests", |b| {
        b.iter(|| {
            let mut ms = 0.0;
            for l in &lines {
                if let Some(q) = reader.read(l, false) {
                    if let Latency::Ms(v) = q.latency {
                        ms += v;
                    }
                }
            }
            black_box(ms)
        })
    });
    g.finish();

    // Aggregation: 1 M request rows (about 100 MB of log) into frames, timeline, endpoints.
    let mut g = c.benchmark_group("aggregate");
    g.sample_size(10);
    let mut rows = Summary::new();
    let mut tp = TimeParser::new();
    let mut n = 0;
    'fill: loop {
        for l in &lines {
            if let Some(q) = reader.read(l, false) {
                let t = tp.parse_iso(l).map(|(t, _)| t);
                let lat = match q.latency {
                    Latency::Ms(v) => Some(v),
                    _ => None,
                };
                rows.requests.push(t, q.method, q.path, q.status, lat);
                n += 1;
                if n == 1_000_000 {
                    break 'fill;
                }
            }
        }
    }
    g.throughput(Throughput::Elements(n));
    g.bench_function("1M requests", |b| {
        b.iter(|| {
            let trends = rows
                .clone()
                .trends(cl.catalog(), &TrendOptions::default())
                .unwrap();
            black_box(trends.heights())
        })
    });
    g.finish();

    // The whole pipeline on one thread, from a file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("incident.log");
    std::fs::write(&path, &log).unwrap();
    let src = faultline::input::Source::One(faultline::input::Part::File(path));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    // The default configuration: request reading on.
    faultline::setup_process(1);
    let full = faultline::Config::new().unwrap();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Bytes(log.len() as u64));
    g.sample_size(10);
    g.bench_function("scan one thread", |b| {
        b.iter(|| pool.install(|| black_box(scan_source(&src, &full).0.frame.records)))
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
