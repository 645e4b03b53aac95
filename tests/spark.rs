//! The Spark job (integrations/spark) on a real Spark: 20 gzip archives of five pods
//! (rotated sets of four), once in `local[2]` and once on a standalone cluster started here
//! on 127.0.0.1 (a master and two workers), where the binary reaches the executors only
//! through `--files`. Each report must equal `faultline analyze` of the same files.
//!
//! The Python with pyspark is `$FAULTLINE_SPARK_PYTHON` (`.ci/run` makes one with
//! scripts/install-pyspark.sh). Without it the test says so and passes, unless
//! `FAULTLINE_SPARK_TEST=required`.

use crate::common::*;
use serde_json::Value;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The python with pyspark, or `None` (the test is skipped).
fn spark_python() -> Option<PathBuf> {
    match std::env::var_os("FAULTLINE_SPARK_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            let required = std::env::var("FAULTLINE_SPARK_TEST").is_ok_and(|v| v == "required");
            assert!(
                !required,
                "FAULTLINE_SPARK_TEST=required but FAULTLINE_SPARK_PYTHON is not set"
            );
            eprintln!(
                "spark test skipped: set FAULTLINE_SPARK_PYTHON (scripts/install-pyspark.sh)"
            );
            None
        }
    }
}

/// One pod's hour: the incident log with the pod's own endpoint, and an exception of its
/// own, cut into four rotated parts of 15 minutes (a record stays in the part of its first
/// line, so no traceback is cut).
fn pod_parts(pod: u32) -> [String; 4] {
    let mut log = incident_log().replace("/api/v1/health", &format!("/api/v1/pods/p{pod}/health"));
    log.push_str(&format!(
        "2025-01-10 08:1{pod}:45,000 - app.trips - ERROR - lookup failed\n\
         Traceback (most recent call last):\n  File \"/srv/app/api/trips.py\", line {}, in get_trip\n    return trips[key]\n\
         KeyError: 'trip-{pod}'\n",
        60 + pod
    ));
    let mut parts: [String; 4] = Default::default();
    let mut part = 0;
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix("2025-01-10 08:") {
            let minute: usize = rest[..2].parse().unwrap();
            part = minute / 15;
        }
        parts[part].push_str(line);
        parts[part].push('\n');
    }
    parts
}

/// Writes the archive: `pod-N/app.log.K.gz`, K from 4 (the oldest) to 1.
fn archive(dir: &Path) {
    for pod in 1..=5 {
        let d = dir.join(format!("pod-{pod}"));
        std::fs::create_dir_all(&d).unwrap();
        for (i, text) in pod_parts(pod).iter().enumerate() {
            let f = std::fs::File::create(d.join(format!("app.log.{}.gz", 4 - i))).unwrap();
            let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            gz.write_all(text.as_bytes()).unwrap();
            gz.finish().unwrap();
        }
    }
}

/// Where pyspark keeps Spark (its `bin/` and `jars/`).
fn spark_home(python: &Path) -> PathBuf {
    let out = Command::new(python)
        .args([
            "-c",
            "import os, pyspark; print(os.path.dirname(pyspark.__file__))",
        ])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// `a` and `b` equal, floats within 1e-9 relative; the differences as paths.
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if (x - y).abs() > 1e-9 * x.abs().max(y.abs()) {
                out.push(format!("{path}: {x} != {y}"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let null = Value::Null;
                let (p, q) = (x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null));
                differences(&format!("{path}.{k}"), p, q, out);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                out.push(format!("{path}: {} items != {}", x.len(), y.len()));
            }
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), p, q, out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} != {b}")),
        _ => {}
    }
}

/// Checks the Spark job's report against `analyze`'s: every section it computes.
fn assert_same(analyze: &Value, spark: &Value, label: &str) {
    let mut want = analyze.clone();
    for s in want["signatures"].as_array_mut().unwrap() {
        // The example (the earliest record's text) is left to analyze.
        s["example"] = Value::Null;
    }
    let mut diff = Vec::new();
    for k in [
        "input",
        "time_range",
        "signatures",
        "exceptions",
        "requests",
        "endpoints",
        "timeline",
        "incidents",
    ] {
        differences(k, &want[k], &spark[k], &mut diff);
    }
    assert!(diff.is_empty(), "{label}: {diff:#?}");
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The standalone cluster's processes, stopped when dropped.
struct Cluster(Vec<Child>);

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts a master and two workers (one core each) on 127.0.0.1; the master's URL.
fn standalone(python: &Path, dir: &Path) -> (Cluster, String) {
    let home = spark_home(python);
    let class = home.join("bin/spark-class");
    let port = free_port();
    let url = format!("spark://127.0.0.1:{port}");
    let spawn = |args: &[&str], log: &str| -> Child {
        Command::new(&class)
            .env("SPARK_HOME", &home)
            .env("PYSPARK_PYTHON", python)
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .env("SPARK_WORKER_DIR", dir.join("work"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(log)).unwrap())
            .spawn()
            .unwrap()
    };
    let mut procs = vec![spawn(
        &[
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--webui-port",
            &free_port().to_string(),
        ],
        "master.log",
    )];
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the Spark master did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    for w in 0..2 {
        procs.push(spawn(
            &[
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                "127.0.0.1",
                "--cores",
                "1",
                "--memory",
                "1g",
                "--webui-port",
                &free_port().to_string(),
                &url,
            ],
            &format!("worker-{w}.log"),
        ));
    }
    // The workers register within seconds; the master log says so.
    while std::fs::read_to_string(dir.join("master.log"))
        .unwrap_or_default()
        .matches("Registering worker")
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "the Spark workers did not register"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (Cluster(procs), url)
}

#[test]
fn the_spark_job_equals_analyze_in_local_mode_and_on_a_standalone_cluster() {
    let Some(python) = spark_python() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let logs = d.path().join("archive");
    archive(&logs);
    let (code, expected, err) = analyze_json(&[logs.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(expected["input"]["files"], 20);
    assert_eq!(expected["incidents"].as_array().unwrap().len(), 1);
    let bin = assert_cmd::cargo::cargo_bin("faultline");

    // local[2]: two executor threads in the driver's JVM.
    let out = d.path().join("local");
    let started = Instant::now();
    // Options after `--` reach `faultline extract` in the executors: the logs' times read
    // in another zone move every time in the report, as they do in analyze's.
    let job = Job {
        logs: &logs,
        out: &out,
        faultline: bin.to_str().unwrap(),
        extract: &["--tz", "Europe/Paris"],
    };
    let local = run_job(&python, "local[2]", &bin, &job);
    eprintln!("spark local[2]: {:.1} s", started.elapsed().as_secs_f64());
    let (code, paris, err) = analyze_json(&["--tz", "Europe/Paris", logs.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_ne!(paris["time_range"], expected["time_range"]);
    assert_same(&paris, &local, "local[2], --tz Europe/Paris");

    // A standalone cluster: the executors are other JVMs, with their own working
    // directories; the job is told of no binary of its own, so only `--files` brings it.
    let (cluster, url) = standalone(&python, d.path());
    let out = d.path().join("cluster");
    let started = Instant::now();
    let job = Job {
        logs: &logs,
        out: &out,
        faultline: "/nonexistent/faultline",
        extract: &[],
    };
    let remote = run_job(&python, &url, &bin, &job);
    eprintln!("spark standalone: {:.1} s", started.elapsed().as_secs_f64());
    drop(cluster);
    assert_same(&expected, &remote, "standalone");

    // The report renders like any other; the frames are Parquet.
    let md = succeed(
        faultline()
            .args(["render", "-f", "markdown"])
            .arg(out.join("report.json")),
    );
    assert!(String::from_utf8_lossy(&md.stdout).starts_with("# Post-incident report"));
    assert!(std::fs::read_dir(out.join("events")).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".parquet")));
}

/// The job's own arguments: its input and output, the binary it is told of, and the
/// options it passes to `faultline extract` (after `--`).
struct Job<'a> {
    logs: &'a Path,
    out: &'a Path,
    faultline: &'a str,
    extract: &'a [&'a str],
}

/// Runs the job on `master` with the binary shipped by `--files`; its report.
fn run_job(python: &Path, master: &str, bin: &Path, job: &Job) -> Value {
    let mut args: Vec<String> = vec![
        "--master".into(),
        master.into(),
        "--files".into(),
        bin.to_str().unwrap().into(),
        "--conf".into(),
        "spark.ui.enabled=false".into(),
        "--conf".into(),
        "spark.driver.host=127.0.0.1".into(),
        "__JOB__".into(),
        "--input".into(),
        job.logs.to_str().unwrap().into(),
        "--output".into(),
        job.out.to_str().unwrap().into(),
        "--faultline".into(),
        job.faultline.into(),
    ];
    if !job.extract.is_empty() {
        args.push("--".into());
        args.extend(job.extract.iter().map(|a| a.to_string()));
    }
    let out = spark_submit_with(python, &args);
    assert!(
        out.status.success(),
        "spark-submit on {master} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(job.out.join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `spark-submit ARGS`, the job's path in place of `__JOB__`.
fn spark_submit_with(python: &Path, args: &[String]) -> std::process::Output {
    let home = spark_home(python);
    let job = Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/spark/faultline_spark.py");
    let args: Vec<String> = args
        .iter()
        .map(|a| match a.as_str() {
            "__JOB__" => job.to_str().unwrap().to_string(),
            _ => a.clone(),
        })
        .collect();
    Command::new(home.join("bin/spark-submit"))
        .env("SPARK_HOME", &home)
        .env("PYSPARK_PYTHON", python)
        .env("PYSPARK_DRIVER_PYTHON", python)
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .args(&args)
        .output()
        .unwrap()
}
