//! The `faultline` binary: parse flags, run, print, map the result to an exit code.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, OutFormat};
use faultline::report::{render, render_catalog, Format};
use faultline::{FrameFormat, InputSpec};

/// Exit codes, in one place.
#[repr(u8)]
enum Exit {
    /// The report was written and every input was read.
    Ok = 0,
    /// The report was written, but some input could not be read (or only partly).
    InputErrors = 1,
    /// Nothing was analysed: bad flags, bad pattern file, no input.
    Fatal = 2,
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

fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Analyze(args) => {
            let inputs = args.inputs().map_err(anyhow::Error::msg)?;
            let config = args.config()?;
            faultline::setup_process(config.threads);
            if inputs.iter().any(|i| matches!(i, InputSpec::Stdin)) {
                return_free_memory_eagerly();
            }
            let outcome = faultline::analyze(&inputs, &config)?;
            for e in &outcome.errors {
                eprintln!("faultline: {e}");
            }
            let report = &outcome.report;
            match (args.format, &args.output) {
                (OutFormat::Table, _) => write_stdout(&render(report, Format::Table))?,
                (OutFormat::Json, _) => write_stdout(&render(report, Format::Json))?,
                (OutFormat::Markdown, None) => write_stdout(&render(report, Format::Markdown))?,
                (OutFormat::Markdown, Some(p)) => {
                    std::fs::write(p, render(report, Format::Markdown))?
                }
                (OutFormat::Csv | OutFormat::Parquet, dir) => {
                    let dir = dir.as_deref().expect("checked by config()");
                    let fmt = if args.format == OutFormat::Csv {
                        FrameFormat::Csv
                    } else {
                        FrameFormat::Parquet
                    };
                    for f in outcome.trends.write(dir, fmt)? {
                        eprintln!("faultline: wrote {}", f.display());
                    }
                }
            }
            let exit = if outcome.errors.is_empty() {
                Exit::Ok
            } else {
                Exit::InputErrors
            };
            // The process ends here and the kernel takes its memory back at once: freeing the
            // frames' columns one by one first (a `munmap` per request block) took 25 ms of a
            // 1 GiB log's run, on one thread, after the report was written (strace).
            std::mem::forget(outcome);
            Ok(exit)
        }
        Command::Signatures(args) => {
            let config = faultline::Config::with_patterns(&args.patterns)?;
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
            let out = match args.format {
                OutFormat::Json => faultline::report::catalog_json(catalog),
                _ => render_catalog(catalog, true).into_bytes(),
            };
            write_stdout(&out)?;
            Ok(Exit::Ok)
        }
    }
}

/// Has glibc give memory back to the system once 4 MiB are free at the top of its heap,
/// instead of up to 64 MiB (its dynamic threshold follows the largest blocks freed). Set for
/// stdin, where faultline sits at the end of a pipe, often in a small container (a 1 GiB
/// log's peak drops by a tenth). Files keep glibc's default: it reuses freed blocks instead
/// of mapping fresh pages, which this setting would cost 5% of a run.
fn return_free_memory_eagerly() {
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

fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
