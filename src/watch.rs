//! `faultline watch`: follow stdin or growing files (`tail -F`: rotation and truncation
//! followed), print a line every interval, announce new signatures and breaches at once, and
//! the full report at Ctrl-C, SIGTERM or the end of stdin.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use faultline::follow::{self, Follow, Window};
use faultline::report::{render, Format, Report};
use faultline::threshold::Breach;

use crate::cli::{self, WatchArgs};
use crate::{announce_breaches, interrupt, return_free_memory_eagerly, write_stdout, Exit};

/// What a reader thread sends: the input's index and its new bytes, or the error that
/// ended it.
type Message = (usize, std::io::Result<Vec<u8>>);

/// How often a followed file is looked at for new bytes, rotation and truncation.
const POLL: Duration = Duration::from_millis(200);

pub fn run(args: WatchArgs, color: cli::ColorChoice) -> anyhow::Result<Exit> {
    let format = args.format.single_report("watch", false)?;
    let config = args.run.config()?;
    let fail_on = cli::thresholds(&args.fail_on, &config, false)?;
    let files: Vec<PathBuf> = args
        .paths
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .cloned()
        .collect();
    if !files.is_empty() && files.len() != args.paths.len() {
        anyhow::bail!("watch follows stdin or files, not both");
    }
    // Files are opened before anything else, so a missing one is a usage error.
    let mut opened = Vec::new();
    for p in &files {
        let f = File::open(p).map_err(|e| anyhow::anyhow!("{}: cannot open: {e}", p.display()))?;
        opened.push(f);
    }
    faultline::setup_process(config.threads);
    return_free_memory_eagerly();
    interrupt::install();
    let (tx, rx) = mpsc::sync_channel::<Message>(8);
    let mut recycle: Option<mpsc::Sender<Vec<u8>>> = None;
    let names: Vec<String> = match files.is_empty() {
        true => {
            let tx = tx.clone();
            let (give_back, free) = mpsc::channel();
            recycle = Some(give_back);
            std::thread::spawn(move || read_stdin(tx, free));
            vec!["-".to_string()]
        }
        false => {
            for (i, (p, f)) in files.iter().zip(opened).enumerate() {
                let (tx, p) = (tx.clone(), p.clone());
                std::thread::spawn(move || tail(i, p, f, tx));
            }
            files.iter().map(|p| p.display().to_string()).collect()
        }
    };
    drop(tx);
    let mut follows: Vec<Follow<'_>> = names.iter().map(|n| Follow::new(n, &config)).collect();
    let every = Duration::from_nanos(args.every as u64);
    // Records still open when an input has been quiet this long are complete.
    let quiet = Duration::from_millis(500).min(every / 2);
    let to_stdout = format == Format::Table;
    // Watch lines quote the log (variants): nothing in them may drive the terminal.
    let say = |line: String| {
        let line = faultline::framing::printable(&line);
        match to_stdout {
            true => println!("{line}"),
            false => eprintln!("{line}"),
        }
    };
    let now = || jiff::Timestamp::now().strftime("%H:%M:%S").to_string();
    let mut breached: Vec<Breach> = Vec::new();
    let mut last_data = vec![Instant::now(); follows.len()];
    let mut open = vec![false; follows.len()];
    let (mut next_tick, mut last_check) = (Instant::now() + every, Instant::now());
    let mut input_errors = 0;
    loop {
        if interrupt::requested() {
            break;
        }
        let wait = next_tick
            .saturating_duration_since(Instant::now())
            .min(POLL);
        let mut new = Vec::new();
        match rx.recv_timeout(wait) {
            Ok((i, Ok(bytes))) => {
                last_data[i] = Instant::now();
                open[i] = true;
                new = follows[i].feed(&bytes);
                if let Some(r) = &recycle {
                    let _ = r.send(bytes);
                }
            }
            Ok((i, Err(e))) => {
                eprintln!("faultline: {}: cannot read: {e}", names[i]);
                input_errors += 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        for (i, f) in follows.iter_mut().enumerate() {
            if open[i] && last_data[i].elapsed() >= quiet {
                open[i] = false;
                new.extend(f.close_open());
            }
        }
        for id in &new {
            say(format!("{} new signature: {id}", now()));
        }
        if !fail_on.rules.is_empty() && (!new.is_empty() || last_check.elapsed() >= POLL) {
            announce_breaches(
                &fail_on,
                &follow::live_report(&follows, &config),
                &mut breached,
            );
            last_check = Instant::now();
        }
        if Instant::now() >= next_tick {
            let w = follow::take_window(&mut follows, &config);
            let total = follow::live_report(&follows, &config);
            say(interval_line(&now(), args.every, &w, &total));
            next_tick += every;
        }
    }
    let outcome = follow::finish(follows, &config)?;
    let out = match format {
        Format::Table => {
            faultline::report::render_table_styled(&outcome.report, &color.style(false))
                .into_bytes()
        }
        _ => render(&outcome.report, format),
    };
    write_stdout(&out)?;
    announce_breaches(&fail_on, &outcome.report, &mut breached);
    Ok(Exit::of(&breached, input_errors))
}

/// Sends stdin's bytes as they come, to its end (or an interrupt), in whole lines: what is
/// there at once goes in one piece of up to 4 MiB (a pipe gives 64 KiB a read), and a line
/// cut at the end of a piece starts the next one, so the analysis never copies to join them.
fn read_stdin(tx: mpsc::SyncSender<Message>, free: mpsc::Receiver<Vec<u8>>) {
    const PIECE: usize = 4 << 20;
    let mut stdin = interrupt::Stdin;
    let mut carry: Vec<u8> = Vec::new();
    let mut end = false;
    while !end {
        // A buffer handed back is reused: fresh ones cost their pages' faults and zeroing.
        let mut buf = free.try_recv().unwrap_or_default();
        buf.clear();
        buf.append(&mut carry);
        let mut len = buf.len();
        buf.resize(len + PIECE, 0);
        loop {
            match stdin.read(&mut buf[len..]) {
                Ok(0) => {
                    end = true;
                    break;
                }
                Ok(n) => len += n,
                Err(e) => {
                    let _ = tx.send((0, Err(e)));
                    return;
                }
            }
            if len == buf.len() || !stdin.ready_now() {
                break;
            }
        }
        buf.truncate(len);
        if !end {
            if let Some(nl) = memchr::memrchr(b'\n', &buf) {
                carry.extend_from_slice(&buf[nl + 1..]);
                buf.truncate(nl + 1);
            }
        }
        if !buf.is_empty() && tx.send((0, Ok(buf))).is_err() {
            return;
        }
    }
}

/// Follows file `path` by name, as `tail -F` does: from its start, then each new byte; when
/// the name points to another file (rotated: renamed and recreated), the old one is read to
/// its end and the new one from its start; when the file shrinks (truncated in place, as by
/// logrotate's `copytruncate`), from its start again.
fn tail(i: usize, path: PathBuf, mut file: File, tx: mpsc::SyncSender<Message>) {
    use std::os::unix::fs::MetadataExt;
    let mut ino = file.metadata().map(|m| m.ino()).unwrap_or(0);
    let mut offset = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut drain = |file: &mut File, offset: &mut u64| -> bool {
        loop {
            match file.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => {
                    *offset += n as u64;
                    if tx.send((i, Ok(buf[..n].to_vec()))).is_err() {
                        return false;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send((i, Err(e)));
                    return false;
                }
            }
        }
    };
    loop {
        if !drain(&mut file, &mut offset) {
            return;
        }
        std::thread::sleep(POLL);
        let Ok(meta) = std::fs::metadata(&path) else {
            // Renamed and not recreated yet: keep reading the old file meanwhile.
            continue;
        };
        if meta.ino() != ino {
            if !drain(&mut file, &mut offset) {
                return;
            }
            match File::open(&path) {
                Ok(f) => {
                    file = f;
                    ino = meta.ino();
                    offset = 0;
                }
                Err(_) => continue,
            }
        } else if meta.len() < offset {
            if file.rewind().is_err() {
                return;
            }
            offset = 0;
        }
    }
}

/// One interval's line: `12:00:30 last 30s: 240 requests, 12 5xx, p99 9.8 s; ... | total: ...`.
fn interval_line(now: &str, every_ns: i64, w: &Window, total: &Report) -> String {
    let ms = faultline::report::sections::latency;
    let secs = every_ns / 1_000_000_000;
    let mut line = format!(
        "{now} last {secs}s: {} requests, {} 5xx, p99 {}",
        w.requests,
        w.errors_5xx,
        ms(w.p99_ms)
    );
    if !w.signatures.is_empty() {
        let sigs: Vec<String> = w
            .signatures
            .iter()
            .map(|(id, n)| format!("{id} {n}"))
            .collect();
        line.push_str(&format!("; {}", sigs.join(", ")));
    }
    if w.exceptions > 0 {
        line.push_str(&format!("; {} other exceptions", w.exceptions));
    }
    let records: u64 = total.signatures.iter().map(|s| s.count).sum();
    line.push_str(&format!(
        " | total: {} signatures ({records} records), {} requests, {} 5xx, p99 {}",
        total.signatures.len(),
        total.requests.count,
        total.requests.errors_5xx,
        ms(total.requests.p99_ms)
    ));
    line
}
