//! The `faultline` binary: parse flags, run, print, map the result to an exit code.

mod cli;
mod interrupt;
mod watch;

use std::io::{Seek, Write};
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, OutFormat};
use faultline::compare::{compare, render_compare, CompareOptions, Span};
use faultline::report::{render, render_catalog, render_table_styled, Format};
use faultline::threshold::Breach;
use faultline::{FrameFormat, InputSpec, Outcome, TimeWindow};

/// Exit codes, in one place.
#[repr(u8)]
pub(crate) enum Exit {
    /// The report was written and every input was read.
    Ok = 0,
    /// The report was written, but some input could not be read (or only partly).
    InputErrors = 1,
    /// Nothing was analysed: bad flags, bad pattern file, no input.
    Fatal = 2,
    /// The report was written and crosses a `--fail-on` threshold (whether or not every
    /// input was read).
    Breach = 3,
}

impl Exit {
    /// A breach first (the alert must not be lost), then unreadable input.
    fn of(breaches: &[Breach], input_errors: usize) -> Exit {
        match (breaches.is_empty(), input_errors) {
            (false, _) => Exit::Breach,
            (true, 0) => Exit::Ok,
            (true, _) => Exit::InputErrors,
        }
    }
}

/// Prints each breach on stderr, one line each.
fn report_breaches(breaches: &[Breach]) {
    for b in breaches {
        eprintln!("faultline: {b}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code as u8,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("faultline: {}", message(&e));
            Exit::Fatal as u8
        }
    };
    ExitCode::from(code)
}

/// `analyze`, or `extract` (`rows_only`: the `events` and `requests` frames and the input
/// accounting, no report).
fn run_analyze(
    args: cli::AnalyzeArgs,
    color: cli::ColorChoice,
    rows_only: bool,
) -> anyhow::Result<Exit> {
    let mut inputs = args.inputs().map_err(anyhow::Error::msg)?;
    let config = args.config()?;
    let fail_on = cli::thresholds(&args.fail_on, &config, false)?;
    faultline::setup_process(config.threads);
    if inputs.iter().any(|i| matches!(i, InputSpec::Stdin)) {
        return_free_memory_eagerly();
        // A pipe is read so that Ctrl-C ends it and what was read is reported.
        if interrupt::stdin_is_pipe() {
            interrupt::install();
            for i in inputs.iter_mut().filter(|i| matches!(i, InputSpec::Stdin)) {
                *i = InputSpec::reader("-", interrupt::Stdin);
            }
        }
    }
    let mut config = config;
    let bar = ProgressBar::start(&mut config);
    let outcome = match &args.state {
        Some(state) => faultline::state::analyze_incremental(&args.paths, state, &config)
            .map_err(anyhow::Error::from),
        None => faultline::analyze(&inputs, &config).map_err(anyhow::Error::from),
    };
    bar.finish();
    let mut outcome = outcome?;
    for e in &outcome.errors {
        eprintln!("faultline: {e}");
    }
    let cut = interrupt::requested();
    if cut {
        eprintln!("faultline: -: input cut by an interrupt; reporting what was read");
        outcome.report.notes.push(
            "the input was cut by an interrupt (SIGINT or SIGTERM): the report covers \
                 what was read before it"
                .into(),
        );
    }
    let report = &outcome.report;
    let out = args.output.as_deref();
    let charts = match &args.charts {
        Some(dir) => chart_links(report, dir, out)?,
        None => Vec::new(),
    };
    match args.format {
        OutFormat::Table | OutFormat::Json | OutFormat::Markdown | OutFormat::Html => {
            let format = args.format.single_report("analyze", true)?;
            write_report(report, format, out, color, &charts)?
        }
        OutFormat::Csv | OutFormat::Parquet => {
            let dir = out.expect("checked by config()");
            let fmt = if args.format == OutFormat::Csv {
                FrameFormat::Csv
            } else {
                FrameFormat::Parquet
            };
            let written = match rows_only {
                true => {
                    let mut w = outcome.trends.write_rows(dir, fmt)?;
                    w.push(write_input_accounting(report, dir)?);
                    w
                }
                false => outcome.trends.write(dir, fmt)?,
            };
            for f in written {
                eprintln!("faultline: wrote {}", f.display());
            }
        }
    }
    let breaches = fail_on.check_report(report);
    report_breaches(&breaches);
    let exit = Exit::of(&breaches, outcome.errors.len() + usize::from(cut));
    // The process ends here and the kernel takes its memory back at once: freeing the
    // frames' columns one by one first (a `munmap` per request block) took 25 ms of a
    // 1 GiB log's run, on one thread, after the report was written (strace).
    std::mem::forget(outcome);
    Ok(exit)
}

/// `input.json` beside the extracted rows ([`faultline::report::extract_accounting`]).
fn write_input_accounting(
    report: &faultline::report::Report,
    dir: &std::path::Path,
) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join("input.json");
    std::fs::write(&path, faultline::report::extract_accounting(report))
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(path)
}

/// `faultline render`: a JSON report read back and written in another format.
fn run_render(args: cli::RenderArgs, color: cli::ColorChoice) -> anyhow::Result<Exit> {
    let name = args.report.display().to_string();
    let text = if args.report.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| anyhow::anyhow!("-: {e}"))?;
        s
    } else {
        std::fs::read_to_string(&args.report).map_err(|e| anyhow::anyhow!("{name}: {e}"))?
    };
    let report: faultline::report::Report = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{name}: not a faultline.report/v1 JSON report (line {}, column {}): {e}",
            e.line(),
            e.column()
        )
    })?;
    if report.schema != faultline::report::SCHEMA {
        anyhow::bail!(
            "{name}: schema {:?}, expected {:?}",
            report.schema,
            faultline::report::SCHEMA
        );
    }
    let format = args.format.single_report("render", true)?;
    write_report(&report, format, args.output.as_deref(), color, &[])?;
    Ok(Exit::Ok)
}

/// Writes one report in `format` to `out` (stdout when `None`): a table styled for where it
/// goes, Markdown linking `charts` (name, path).
fn write_report(
    report: &faultline::report::Report,
    format: Format,
    out: Option<&std::path::Path>,
    color: cli::ColorChoice,
    charts: &[(String, String)],
) -> anyhow::Result<()> {
    let bytes = match format {
        Format::Table => render_table_styled(report, &color.style(out.is_some())).into_bytes(),
        Format::Markdown => {
            faultline::report::render_markdown_with_charts(report, charts).into_bytes()
        }
        Format::Json | Format::Html => render(report, format),
    };
    write_out(out, &bytes)
}

fn run(cli: Cli) -> anyhow::Result<Exit> {
    let color = cli.color;
    match cli.command {
        Command::Analyze(args) => run_analyze(args, color, false),
        Command::Extract(args) => run_analyze(args.into_analyze(), color, true),
        Command::Render(args) => run_render(args, color),
        Command::Compare(args) => run_compare(args, color),
        Command::Templates(args) => run_templates(args),
        Command::Watch(args) => watch::run(args, color),
        Command::Completions(a) => {
            use clap::CommandFactory;
            let mut buf = Vec::new();
            clap_complete::generate(a.shell, &mut Cli::command(), "faultline", &mut buf);
            write_stdout(&buf)?;
            Ok(Exit::Ok)
        }
        Command::Man(a) => {
            write_stdout(&cli::man_page(a.command.as_deref())?)?;
            Ok(Exit::Ok)
        }
        Command::Signatures(args) => {
            let config = faultline::Config::with_catalog(&args.patterns, &args.disable)?;
            if let Some(dir) = &args.check {
                let res = faultline::check::check_dir(dir, &config)?;
                write_stdout(faultline::check::render(&res).as_bytes())?;
                return Ok(if res.passed() {
                    Exit::Ok
                } else {
                    Exit::InputErrors
                });
            }
            let catalog = config.catalog();
            let picked = args
                .ids
                .iter()
                .map(|id| catalog.find(id))
                .collect::<Result<Vec<_>, _>>()?;
            let all: Vec<&faultline::Signature> = catalog.signatures.iter().collect();
            let list = if picked.is_empty() { &all } else { &picked };
            let out = match args.format {
                OutFormat::Json => faultline::report::catalog_json(list),
                OutFormat::Markdown => faultline::report::catalog_markdown(list).into_bytes(),
                OutFormat::Table if picked.is_empty() => render_catalog(list).into_bytes(),
                OutFormat::Table => faultline::report::render_signatures(list).into_bytes(),
                OutFormat::Html | OutFormat::Csv | OutFormat::Parquet => {
                    anyhow::bail!("signatures writes --format table, json or markdown")
                }
            };
            write_out(args.output.as_deref(), &out)?;
            Ok(Exit::Ok)
        }
    }
}

fn run_compare(args: cli::CompareArgs, color: cli::ColorChoice) -> anyhow::Result<Exit> {
    let format = args.format.single_report("compare", true)?;
    let config = args.run.config()?;
    let fail_on = cli::thresholds(&args.fail_on, &config, true)?;
    let plan = args.plan()?;
    faultline::setup_process(config.threads);
    // One stdin read by both sides is kept in a temporary file and read twice.
    let twice = |s: &[InputSpec]| s.iter().any(|i| matches!(i, InputSpec::Stdin));
    let spool = match twice(&plan.before.0) && twice(&plan.after.0) {
        true => Some(spool_stdin()?),
        false => None,
    };
    let side = |(specs, span): (Vec<InputSpec>, Span)| -> anyhow::Result<Outcome> {
        let mut specs = specs;
        if let Some(f) = &spool {
            let mut f = f.try_clone()?;
            f.rewind()?;
            let mut f = Some(f);
            for s in &mut specs {
                if matches!(s, InputSpec::Stdin) {
                    if let Some(f) = f.take() {
                        *s = InputSpec::reader("-", f);
                    }
                }
            }
        }
        let mut c = config.clone();
        c.scan.window = TimeWindow {
            since: span.start,
            until: span.end,
        };
        let out = faultline::analyze(&specs, &c)?;
        for e in &out.errors {
            eprintln!("faultline: {e}");
        }
        Ok(out)
    };
    let spans = (plan.before.1, plan.after.1);
    let before = side(plan.before)?;
    let after = side(plan.after)?;
    let opts = CompareOptions {
        regressed_factor: args.regressed_factor,
    };
    let c = compare(&before.report, &after.report, spans, &opts);
    let out = match format {
        Format::Table => {
            let style = color.style(args.output.is_some());
            faultline::compare::render_compare_table_styled(&c, &style).into_bytes()
        }
        Format::Html => {
            faultline::compare::render_compare_html(&c, Some((&before.report, &after.report)))
                .into_bytes()
        }
        _ => render_compare(&c, format),
    };
    write_out(args.output.as_deref(), &out)?;
    let breaches = fail_on.check_comparison(&c, &after.report);
    report_breaches(&breaches);
    let errors = before.errors.len() + after.errors.len();
    std::mem::forget((before, after));
    Ok(Exit::of(&breaches, errors))
}

/// Announces the breaches of `r` not announced yet, and adds them to `breached`.
pub(crate) fn announce_breaches(
    fail_on: &faultline::threshold::Thresholds,
    r: &faultline::report::Report,
    breached: &mut Vec<Breach>,
) {
    for b in fail_on.check_report(r) {
        if !breached.iter().any(|x| x.rule == b.rule) {
            eprintln!("faultline: {b}");
            breached.push(b);
        }
    }
}

/// Copies stdin into an unnamed temporary file, to be read once per side.
fn spool_stdin() -> anyhow::Result<std::fs::File> {
    let mut f =
        tempfile::tempfile().map_err(|e| anyhow::anyhow!("a temporary file for stdin: {e}"))?;
    std::io::copy(&mut std::io::stdin().lock(), &mut f)
        .map_err(|e| anyhow::anyhow!("-: cannot read stdin: {e}"))?;
    Ok(f)
}

/// A progress bar on stderr while a run reads its input (bytes, rate, ETA), drawn only when
/// stderr is a terminal, and cleared before anything else is printed.
struct ProgressBar {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressBar {
    fn start(config: &mut faultline::Config) -> ProgressBar {
        use std::io::IsTerminal;
        use std::sync::atomic::Ordering;
        if !std::io::stderr().is_terminal() {
            return ProgressBar {
                stop: None,
                thread: None,
            };
        }
        let progress = std::sync::Arc::new(faultline::Progress::default());
        config.scan.progress = Some(std::sync::Arc::clone(&progress));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            // Short runs end before the bar would show.
            if rx
                .recv_timeout(std::time::Duration::from_millis(500))
                .is_ok()
            {
                return;
            }
            let bar = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr_with_hz(4),
            );
            let style = |t: &str| {
                indicatif::ProgressStyle::with_template(t)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            };
            bar.set_style(style("{spinner} {bytes} {binary_bytes_per_sec}"));
            loop {
                let (done, total) = (
                    progress.done.load(Ordering::Relaxed),
                    progress.total.load(Ordering::Relaxed),
                );
                if total > 0 && bar.length() != Some(total) {
                    bar.set_style(style(
                        "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                    ));
                    bar.set_length(total);
                } else if total == 0 && bar.length().is_some() {
                    bar.set_style(style("{spinner} {bytes} {binary_bytes_per_sec}"));
                    bar.unset_length();
                }
                bar.set_position(done);
                if rx
                    .recv_timeout(std::time::Duration::from_millis(250))
                    .is_ok()
                {
                    break;
                }
            }
            bar.finish_and_clear();
        });
        ProgressBar {
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    fn finish(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Has glibc give memory back to the system once 4 MiB are free at the top of its heap,
/// instead of up to 64 MiB (its dynamic threshold follows the largest blocks freed). Set for
/// stdin, where faultline sits at the end of a pipe, often in a small container (a 1 GiB
/// log's peak drops by a tenth). Files keep glibc's default: it reuses freed blocks instead
/// of mapping fresh pages, which this setting would cost 5% of a run.
pub(crate) fn return_free_memory_eagerly() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` changes a tunable of the allocator; no memory is touched.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 4 << 20);
    }
}

/// The error and its causes, each cause once: a message that already quotes its cause (`PATH:
/// cannot read ...: REASON`) does not repeat it.
fn message(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}

/// Writes `bytes` to the file at `path`, or to stdout without one.
/// `faultline templates`: reads the inputs whole (lossy UTF-8), mines them, writes the
/// templates or each line's.
fn run_templates(args: cli::TemplatesArgs) -> anyhow::Result<Exit> {
    use std::fmt::Write as _;
    use std::io::Read;
    let mut errors = 0usize;
    let paths = match args.paths.is_empty() {
        true => vec![std::path::PathBuf::from("-")],
        false => args.paths.clone(),
    };
    // Opened as `analyze` opens them: mapped (truncation guarded), decompressed, or read.
    faultline::input::install_guard();
    let mut held = Vec::new();
    for p in &paths {
        use faultline::input::{open, Opened, Part};
        let part = match p.as_os_str() == "-" {
            true => Part::Stdin,
            false => Part::File(p.clone()),
        };
        // An input error names its input.
        let read = open(&part)
            .map_err(|e| e.to_string())
            .and_then(|o| match o {
                Opened::Stream(mut s) => {
                    let mut bytes = Vec::new();
                    match s.reader.read_to_end(&mut bytes) {
                        Ok(_) => Ok(Opened::Read(bytes)),
                        Err(e) => Err(format!("{}: {e}", p.display())),
                    }
                }
                o => Ok(o),
            });
        match read {
            Ok(o) => held.push(o),
            Err(e) => {
                eprintln!("faultline: {e}");
                errors += 1;
            }
        }
    }
    let texts: Vec<&[u8]> = held
        .iter()
        .map(|h| match h {
            faultline::input::Opened::Mapped(m) => &m[..],
            faultline::input::Opened::Read(b) => &b[..],
            _ => &[][..],
        })
        .collect();
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    let mined = faultline::templates::mine_on(&texts, threads, !args.keep_time);
    let redactor = faultline::redact::Redactor::builtin();
    let csv_field = |s: &str| match s.contains([',', '"', '\n', '\r']) {
        true => format!("\"{}\"", s.replace('"', "\"\"")),
        false => s.to_string(),
    };
    // `error 3, info 1`: the levels, most lines first.
    let levels = |t: &faultline::templates::Template| {
        let mut l: Vec<(&String, &u64)> = t.levels.iter().filter(|(k, _)| *k != "-").collect();
        l.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        match l.is_empty() {
            true => "-".to_string(),
            false => l
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    };
    // Templates are shared, and a constant token can be a secret: redacted once each.
    let mut templates = mined.templates;
    for t in &mut templates {
        redactor.apply(&mut t.template);
        redactor.apply(&mut t.example);
    }
    let mut out = String::new();
    if args.per_line {
        out.push_str("line,template_id,template\n");
        for (n, &t) in mined.lines.iter().enumerate() {
            let t = &templates[t as usize];
            let _ = writeln!(out, "{},{},{}", n + 1, t.id, csv_field(&t.template));
        }
    } else {
        match args.format {
            OutFormat::Json => {
                out = serde_json::to_string_pretty(&templates)?;
                out.push('\n');
            }
            OutFormat::Csv => {
                out.push_str("template_id,count,levels,first_seen,last_seen,template,example\n");
                for t in &templates {
                    let _ = writeln!(
                        out,
                        "{},{},{},{},{},{},{}",
                        t.id,
                        t.count,
                        csv_field(&levels(t)),
                        t.first_seen.as_deref().unwrap_or(""),
                        t.last_seen.as_deref().unwrap_or(""),
                        csv_field(&t.template),
                        csv_field(&t.example)
                    );
                }
            }
            OutFormat::Table => {
                let short = |v: &Option<String>| {
                    v.as_deref().map_or("-".to_string(), |t| {
                        t.get(..19).unwrap_or(t).replace('T', " ")
                    })
                };
                let _ = writeln!(
                    out,
                    "{:<8}  {:>9}  {:<16}  {:<19}  {:<19}  template",
                    "id", "lines", "levels", "first seen", "last seen"
                );
                for t in &templates {
                    let line = faultline::framing::printable(&t.template);
                    let _ = writeln!(
                        out,
                        "{:<8}  {:>9}  {:<16}  {:<19}  {:<19}  {line}",
                        t.id,
                        t.count,
                        levels(t),
                        short(&t.first_seen),
                        short(&t.last_seen)
                    );
                }
                let _ = writeln!(
                    out,
                    "\n{} template(s) over {} line(s)",
                    templates.len(),
                    mined.lines.len()
                );
            }
            _ => anyhow::bail!("templates writes --format table, json or csv"),
        }
    }
    write_out(args.output.as_deref(), out.as_bytes())?;
    Ok(match errors {
        0 => Exit::Ok,
        _ => Exit::InputErrors,
    })
}

/// Writes the report's charts into `dir`, and returns their captions and links as seen from
/// the report's file `out` (from the working directory when it goes to stdout).
fn chart_links(
    report: &faultline::report::Report,
    dir: &std::path::Path,
    out: Option<&std::path::Path>,
) -> anyhow::Result<Vec<(String, String)>> {
    let written = faultline::report::write_charts(report, dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot write the charts: {e}", dir.display()))?;
    for p in &written {
        eprintln!("faultline: wrote {}", p.display());
    }
    let base = out
        .and_then(|o| std::path::absolute(o).ok())
        .and_then(|o| o.parent().map(ToOwned::to_owned));
    Ok(faultline::report::chart_captions(&written)
        .into_iter()
        .map(|(caption, p)| {
            let link = match (&base, std::path::absolute(p)) {
                (Some(b), Ok(abs)) => pathdiff::diff_paths(abs, b).unwrap_or_else(|| p.to_owned()),
                _ => p.to_owned(),
            };
            (caption.to_string(), link.to_string_lossy().into_owned())
        })
        .collect())
}

pub(crate) fn write_out(path: Option<&std::path::Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match path {
        None => Ok(write_stdout(bytes)?),
        Some(p) => std::fs::write(p, bytes)
            .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", p.display())),
    }
}

pub(crate) fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
