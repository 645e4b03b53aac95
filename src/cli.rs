//! Command-line flags, and their conversion into a validated [`Config`].

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use faultline::compare::Span;
use faultline::threshold::Thresholds;
use faultline::{Config, InputSpec, Layout, Unit};

/// Find known failures in application logs: counts, variants, code locations and fixes.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Colour in tables on a terminal: auto (when stdout is one and NO_COLOR is not set),
    /// always or never.
    #[arg(long, value_enum, global = true, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always, even into a pipe or a file.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// The table style for output to stdout (`to_file`: to a file instead): the width of
    /// `COLUMNS` or of the terminal, and colour as chosen.
    pub fn style(self, to_file: bool) -> faultline::report::TableStyle {
        let tty = !to_file && std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        let columns = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|c| *c >= 20);
        let width = match (to_file, columns) {
            (true, _) => None,
            (false, Some(c)) => Some(c),
            (false, None) if tty => terminal_width(),
            (false, None) => None,
        };
        faultline::report::TableStyle { width, color }
    }
}

/// The width of the terminal on stdout.
fn terminal_width() -> Option<usize> {
    #[cfg(unix)]
    {
        // SAFETY: TIOCGWINSZ fills a `winsize` on a terminal and fails on anything else.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
        (ok && ws.ws_col >= 20).then_some(usize::from(ws.ws_col))
    }
    #[cfg(not(unix))]
    None
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse log files, directories (recursively) or stdin (`-`).
    Analyze(AnalyzeArgs),
    /// Put two logs (or two windows of one) side by side: what was resolved, what is new,
    /// latency and errors before and after.
    Compare(CompareArgs),
    /// Follow a live log on stdin (`kubectl logs -f ... | faultline watch`): a summary every
    /// interval, new signatures and breached thresholds at once, the full report at Ctrl-C
    /// or at the end of the input.
    Watch(WatchArgs),
    /// Write the per-record rows of logs (`events`: signatures and exceptions; `requests`)
    /// as Parquet or CSV files, with the input accounting, for a distributed engine to
    /// aggregate (see integrations/spark).
    Extract(ExtractArgs),
    /// Render a faultline.report/v1 JSON report (from `analyze -f json` or assembled
    /// elsewhere, e.g. by the Spark job) as a table, Markdown, HTML or JSON.
    Render(RenderArgs),
    /// List the signature catalog, or show one signature with its whole fix.
    Signatures(SignaturesArgs),
    /// Mine the message templates of text logs, one line a message: the templates with their
    /// counts and an example, or each line's template (`--per-line`).
    Templates(TemplatesArgs),
    /// Print a shell completion script: `faultline completions bash > /etc/bash_completion.d/faultline`.
    Completions(CompletionsArgs),
    /// Print a man page (roff): `faultline man > faultline.1`, `faultline man analyze >
    /// faultline-analyze.1`.
    Man(ManArgs),
}

/// `faultline man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (default: faultline's own page).
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

/// `faultline completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `faultline analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Files, directories and `-` for stdin. With none, stdin is read when it is not a terminal.
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = OutFormat::Table)]
    pub format: OutFormat,
    /// Write the report to this file instead of stdout; a directory for `--format csv` and
    /// `parquet` (one file per frame).
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Also write the charts as SVG files into DIR (`signatures.svg`, `requests.svg`,
    /// `latency.svg`); a Markdown report shows them in its timeline.
    #[arg(long, value_name = "DIR")]
    pub charts: Option<PathBuf>,
    /// Only records at or after this time: RFC 3339, a date (2025-01-10), or relative (2h, 30m ago).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only records before this time: RFC 3339, a date, or relative (2h, 30m ago).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Also split the findings by this key.
    #[arg(long, value_enum)]
    pub by: Option<SplitBy>,
    /// Exit with status 3 when the report crosses one of these thresholds (comma-separated,
    /// repeatable): `websocket-not-accepted>0`, `any-signature>10`, `error-rate>1%`,
    /// `p99>2s`, `endpoint:GET /api/v1/health:p99>1s`.
    #[arg(long = "fail-on", value_name = "EXPRS")]
    pub fail_on: Vec<String>,
    /// Incremental run: read only what the files gained since the run that wrote FILE
    /// (rotated, truncated and compressed files are recognised), report everything so far,
    /// and update FILE (created when missing). Files and directories only.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["since", "until"])]
    pub state: Option<PathBuf>,
    /// How to read and aggregate.
    #[command(flatten)]
    pub run: RunArgs,
}

/// `faultline extract`.
#[derive(Debug, clap::Args)]
pub struct ExtractArgs {
    /// Files, directories and `-` for stdin. With none, stdin is read when it is not a terminal.
    pub paths: Vec<PathBuf>,
    /// The directory to write `events`, `requests` and `input.json` into (created when
    /// missing).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: PathBuf,
    /// File format of the two frames.
    #[arg(long, short = 'f', value_enum, default_value_t = RowFormat::Parquet)]
    pub format: RowFormat,
    /// Only records at or after this time: RFC 3339, a date (2025-01-10), or relative (2h, 30m ago).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only records before this time: RFC 3339, a date, or relative (2h, 30m ago).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// How to read.
    #[command(flatten)]
    pub run: RunArgs,
}

/// File formats of `faultline extract`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RowFormat {
    /// Apache Parquet (`events.parquet`, `requests.parquet`).
    Parquet,
    /// Comma-separated, with a header.
    Csv,
}

impl ExtractArgs {
    /// The same run as `analyze` with these inputs and options, writing frames to the
    /// output directory.
    pub fn into_analyze(self) -> AnalyzeArgs {
        AnalyzeArgs {
            paths: self.paths,
            format: match self.format {
                RowFormat::Parquet => OutFormat::Parquet,
                RowFormat::Csv => OutFormat::Csv,
            },
            output: Some(self.output),
            charts: None,
            since: self.since,
            until: self.until,
            by: None,
            fail_on: Vec::new(),
            state: None,
            run: self.run,
        }
    }
}

/// `faultline render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The JSON report (`-` for stdin).
    pub report: PathBuf,
    /// Output format: table, json, markdown or html.
    #[arg(long, short = 'f', value_enum, default_value_t = OutFormat::Table)]
    pub format: OutFormat,
    /// Write to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// `faultline compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// One log (files, directories, `-`) cut in two by `--split` or by the two windows.
    pub paths: Vec<PathBuf>,
    /// The inputs before the change.
    #[arg(long, num_args = 1.., value_name = "PATH", requires = "after")]
    pub before: Vec<PathBuf>,
    /// The inputs after the change.
    #[arg(long, num_args = 1.., value_name = "PATH", requires = "before")]
    pub after: Vec<PathBuf>,
    /// The time of the change: records up to it are before, later ones after (RFC 3339, a
    /// date, or relative: 2h).
    #[arg(long, value_name = "TIME", conflicts_with_all = ["before_window", "after_window"])]
    pub split: Option<String>,
    /// The before window, `FROM..TO` (either end may be left out).
    #[arg(long, value_name = "FROM..TO")]
    pub before_window: Option<String>,
    /// The after window, `FROM..TO`.
    #[arg(long, value_name = "FROM..TO")]
    pub after_window: Option<String>,
    /// A finding seen on both sides is `regressed` when its rate per hour rose more than
    /// this many times.
    #[arg(long, default_value_t = 2.0, value_parser = parse_factor)]
    pub regressed_factor: f64,
    /// Output format: table, json, markdown or html (a page with both sides' charts).
    #[arg(long, short = 'f', value_enum, default_value_t = OutFormat::Table)]
    pub format: OutFormat,
    /// Write the comparison to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Exit with status 3 on a breach: `new`, `regressed`, and any `analyze` threshold,
    /// checked on the after side (`new,regressed,p99>1s`).
    #[arg(long = "fail-on", value_name = "EXPRS")]
    pub fail_on: Vec<String>,
    /// How to read and aggregate.
    #[command(flatten)]
    pub run: RunArgs,
}

/// `faultline watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// `-` (stdin, the default): what to follow.
    pub paths: Vec<PathBuf>,
    /// Print a summary of the last interval and the totals this often: 10s, 30s, 1m.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub every: i64,
    /// Format of the final report (the interval lines go to stdout with `table`, to stderr
    /// otherwise).
    #[arg(long, short = 'f', value_enum, default_value_t = OutFormat::Table)]
    pub format: OutFormat,
    /// Announce a breach at once and exit with status 3 at the end: the `analyze`
    /// thresholds (`websocket-not-accepted>0,p99>2s`).
    #[arg(long = "fail-on", value_name = "EXPRS")]
    pub fail_on: Vec<String>,
    /// How to read and aggregate.
    #[command(flatten)]
    pub run: RunArgs,
}

/// How to read and aggregate: the flags `analyze` and `compare` share.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Worker threads (default: all CPUs).
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Split mapped files into chunks of this size, e.g. 4M (default: from the size and
    /// thread count). The result never depends on it.
    #[arg(long, value_parser = parse_size)]
    pub chunk_size: Option<usize>,
    /// Extra signatures: a pattern file, or a directory of `*.toml` files (repeatable).
    #[arg(long = "patterns", value_name = "PATH")]
    pub patterns: Vec<PathBuf>,
    /// Leave these signatures out (ids, comma-separated, repeatable).
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub disable: Vec<String>,
    /// In directories, read only the files matching this glob (`*.log`); `!GLOB` leaves
    /// files out. Repeatable. A glob without `/` matches file names at any depth.
    #[arg(
        long = "glob",
        short = 'g',
        value_name = "GLOB",
        allow_hyphen_values = true
    )]
    pub globs: Vec<String>,
    /// In directories, leave out the files matching this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// In directories, read hidden files and directories too (skipped by default).
    #[arg(long)]
    pub hidden: bool,
    /// Keep at most this many bytes of a line (default 1M).
    #[arg(long, value_parser = parse_size)]
    pub max_line: Option<usize>,
    /// Timeline bucket: 30s, 1m (default), 5m, 1h.
    #[arg(long, value_parser = parse_duration, default_value = "1m")]
    pub bucket: i64,
    /// A latency key and its unit, `KEY=ms|s|us|ns` (repeatable); `@last=UNIT` reads the last
    /// number of an access line (gunicorn `%(M)s`, `%(D)s`, `%(L)s`).
    #[arg(long = "latency-field", value_name = "KEY=UNIT", value_parser = parse_latency_field)]
    pub latency_fields: Vec<(String, Unit)>,
    /// Skip request lines: signatures only (faster; no endpoints, timeline latency or incidents).
    #[arg(long)]
    pub no_requests: bool,
    /// Show secrets found in the log as they are. By default every output replaces bearer
    /// tokens, JWTs, API keys, URL passwords and the values of *_KEY, *_SECRET, *_TOKEN and
    /// PASSWORD fields by [REDACTED:KIND].
    #[arg(long)]
    pub no_redact: bool,
    /// Zone of timestamps written without one: an IANA name (Europe/Paris) or UTC (default).
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Layout of the inputs (default: detected per input from its first lines).
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub input_format: InputFormat,
    /// Year of journald/syslog times, which have none (default: each file's modification
    /// year).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=9999))]
    pub year: Option<i32>,
    /// Stop reading a compressed input after this many decompressed bytes (a decompression
    /// bomb), e.g. 10G.
    #[arg(long, value_parser = parse_size, default_value = "64G")]
    pub max_decompressed: usize,
    /// The memory to stay within: past a third of it in request rows, latency quantiles
    /// come from sketches (within 0.5% of the exact values; the report says so).
    #[arg(long, value_parser = parse_size, default_value = "1G")]
    pub memory: usize,
    /// The least severe level of the records no signature matched (and without a traceback)
    /// that the report groups by message template, to show the new and surging ones; `off`
    /// groups none.
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = TemplateLevel::Warning)]
    pub templates: TemplateLevel,
}

/// `--templates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TemplateLevel {
    /// Warnings, errors and critical records.
    Warning,
    /// Errors and critical records.
    Error,
    /// Critical (fatal) records only.
    Critical,
    /// No templates section.
    Off,
}

/// `--input-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// Detect per input.
    Auto,
    /// Text lines, with or without kubectl, Render and Heroku prefixes.
    Text,
    /// Docker json-file (`{"log":...,"stream":...,"time":...}`).
    Docker,
    /// CRI files from /var/log/pods (`TIME stdout F line`).
    Cri,
    /// docker compose (`service | line`).
    Compose,
    /// journald/syslog short format (`Jul 05 09:13:44 host unit[pid]: line`).
    Journald,
}

impl InputFormat {
    /// The layout of the same name (`auto` has none).
    fn layout(self) -> Option<Layout> {
        Layout::from_name(self.to_possible_value()?.get_name())
    }
}

/// `--by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitBy {
    /// The source of each record: its pod/container, dyno, service, unit or file.
    Source,
}

/// `faultline templates`.
#[derive(Debug, clap::Args)]
pub struct TemplatesArgs {
    /// Files, or `-` for stdin (the default when stdin is not a terminal).
    pub paths: Vec<PathBuf>,
    /// Output format: table, json or csv.
    #[arg(long, short = 'f', value_enum, default_value_t = OutFormat::Table)]
    pub format: OutFormat,
    /// Write one CSV row per input line instead: `line,template_id,template` (lines counted
    /// from 1 across the inputs, in order).
    #[arg(long)]
    pub per_line: bool,
    /// Mine each line whole: do not leave out its leading time.
    #[arg(long)]
    pub keep_time: bool,
    /// Worker threads (default: all CPUs). The result never depends on it.
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Write to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// `faultline signatures`.
#[derive(Debug, clap::Args)]
pub struct SignaturesArgs {
    /// Show only these signatures, each with its whole fix.
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Output format: table, json or markdown.
    #[arg(long, short = 'f', value_enum, default_value_t = OutFormat::Table)]
    pub format: OutFormat,
    /// Write to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Extra signatures: a pattern file, or a directory of `*.toml` files (repeatable).
    #[arg(long = "patterns", value_name = "PATH")]
    pub patterns: Vec<PathBuf>,
    /// Leave these signatures out (ids, comma-separated, repeatable).
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub disable: Vec<String>,
    /// Run every `*.toml` case file of DIR (a log excerpt and the signatures it must give)
    /// and print each signature's hits, misses and false positives; exits 1 on a failure.
    #[arg(long, value_name = "DIR")]
    pub check: Option<PathBuf>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    /// Human-readable tables.
    Table,
    /// The JSON report (schema faultline.report/v1).
    Json,
    /// A post-incident report in Markdown.
    Markdown,
    /// A self-contained HTML report with charts (analyze).
    Html,
    /// The frames as CSV files in `--output DIR`.
    Csv,
    /// The frames as Parquet files in `--output DIR`.
    Parquet,
}

impl OutFormat {
    /// The name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OutFormat::Table => "table",
            OutFormat::Json => "json",
            OutFormat::Markdown => "markdown",
            OutFormat::Html => "html",
            OutFormat::Csv => "csv",
            OutFormat::Parquet => "parquet",
        }
    }

    /// The report format of a command that writes one report (`compare`, `watch`): table,
    /// JSON or Markdown.
    pub fn single_report(
        self,
        command: &str,
        html: bool,
    ) -> anyhow::Result<faultline::report::Format> {
        use faultline::report::Format;
        Ok(match self {
            OutFormat::Table => Format::Table,
            OutFormat::Json => Format::Json,
            OutFormat::Markdown => Format::Markdown,
            OutFormat::Html if html => Format::Html,
            OutFormat::Html | OutFormat::Csv | OutFormat::Parquet => match html {
                true => anyhow::bail!("{command} writes --format table, json, markdown or html"),
                false => anyhow::bail!("{command} writes --format table, json or markdown"),
            },
        })
    }
}

/// Parses `30s`, `1m`, `5m`, `1h`, `1d` into nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("invalid duration '{s}' (try 30s, 1m, 1h)"))?;
    let secs = match unit {
        "s" => 1,
        "m" | "" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("invalid duration unit in '{s}' (use s, m, h or d)")),
    };
    match n.checked_mul(secs * 1_000_000_000) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(format!("duration '{s}' must be positive")),
    }
}

/// Parses a `--since`/`--until` value: RFC 3339 (`2025-01-10T10:00:00Z`, a zone-less one is
/// in `zone`), a date (`2025-01-10`, midnight in `zone`), or a duration before `now` (`2h`).
pub fn parse_time_arg(
    s: &str,
    now: jiff::Timestamp,
    zone: &jiff::tz::TimeZone,
) -> Result<i64, String> {
    let t = s.trim();
    // `2h` and `2h ago` both mean two hours before now.
    let rel = t.strip_suffix("ago").map_or(t, str::trim_end);
    if let Ok(d) = parse_duration(rel) {
        return Ok(now.as_nanosecond() as i64 - d);
    }
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Ok(ts.as_nanosecond() as i64);
    }
    if let Ok(dt) = t.parse::<jiff::civil::DateTime>() {
        let z = dt
            .to_zoned(zone.clone())
            .map_err(|e| format!("'{s}': {e}"))?;
        return Ok(z.timestamp().as_nanosecond() as i64);
    }
    if let Ok(d) = t.parse::<jiff::civil::Date>() {
        let z = d
            .to_zoned(zone.clone())
            .map_err(|e| format!("'{s}': {e}"))?;
        return Ok(z.timestamp().as_nanosecond() as i64);
    }
    Err(format!("'{s}' is not a time: use RFC 3339 (2025-01-10T10:00:00Z), a date (2025-01-10) or a duration before now (2h, 30m ago)"))
}

/// Parses `KEY=UNIT` for `--latency-field`.
pub fn parse_latency_field(s: &str) -> Result<(String, Unit), String> {
    let (k, u) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected KEY=UNIT, e.g. duration=ms"))?;
    let unit = Unit::parse(u)
        .filter(|u| *u != Unit::Value)
        .ok_or_else(|| format!("'{u}': unit must be ms, s, us or ns"))?;
    if k.is_empty() {
        return Err(format!("'{s}': empty key"));
    }
    Ok((k.to_string(), unit))
}

/// Parses `4096`, `64K`, `4M`, `1G` (powers of 1024).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim().to_ascii_uppercase();
    let t = t
        .strip_suffix("IB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(&t);
    let (num, mul) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 1usize << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: usize = num
        .parse()
        .map_err(|_| format!("invalid size '{s}' (try 4096, 64K, 4M)"))?;
    match n.checked_mul(mul) {
        Some(0) | None => Err(format!(
            "size '{s}' must be between 1 byte and the address space"
        )),
        Some(v) => Ok(v),
    }
}

/// `-` as stdin, anything else a path.
fn specs(paths: &[PathBuf]) -> Vec<InputSpec> {
    paths
        .iter()
        .map(|p| match p.as_os_str() == "-" {
            true => InputSpec::Stdin,
            false => InputSpec::Path(p.clone()),
        })
        .collect()
}

/// What `compare` reads on each side, and the window each side is cut to.
#[derive(Debug)]
pub struct ComparePlan {
    /// Before: inputs and window.
    pub before: (Vec<InputSpec>, Span),
    /// After: inputs and window.
    pub after: (Vec<InputSpec>, Span),
}

impl CompareArgs {
    /// The two sides: `--before`/`--after` inputs, or the positional inputs twice, cut by
    /// `--split` or the windows.
    pub fn plan(&self) -> anyhow::Result<ComparePlan> {
        let zone = self.run.zone()?;
        let now = jiff::Timestamp::now();
        let window = |v: &Option<String>, flag: &str| -> anyhow::Result<Span> {
            Ok(match v {
                None => Span::default(),
                Some(w) => {
                    let (start, end) = parse_window(w, now, &zone)
                        .map_err(|e| anyhow::anyhow!("--{flag}: {e}"))?;
                    Span { start, end }
                }
            })
        };
        let (mut b, mut a) = (
            window(&self.before_window, "before-window")?,
            window(&self.after_window, "after-window")?,
        );
        if let Some(t) = &self.split {
            let at = parse_time_arg(t, now, &zone).map_err(|e| anyhow::anyhow!("--split: {e}"))?;
            // A record at the split, to the precision it is written in, is before it: the
            // last time of an incident as a report prints it (milliseconds) takes in that
            // whole millisecond of a log that has nanoseconds.
            let end = at.saturating_add(precision_ns(t));
            b = Span {
                start: None,
                end: Some(end),
            };
            a = Span {
                start: Some(end),
                end: None,
            };
        }
        let cut =
            self.split.is_some() || self.before_window.is_some() || self.after_window.is_some();
        match (self.paths.is_empty(), self.before.is_empty()) {
            (false, false) => anyhow::bail!(
                "compare takes either --before PATHS --after PATHS, or PATHS with --split TIME \
                 (or --before-window and --after-window), not both"
            ),
            (false, true) if !cut => anyhow::bail!(
                "compare PATHS needs where to cut them: --split TIME, or --before-window \
                 FROM..TO and --after-window FROM..TO\n\
                 tip: faultline compare --split 2025-01-10T10:45:00Z app.log"
            ),
            (false, true) => Ok(ComparePlan {
                before: (specs(&self.paths), b),
                after: (specs(&self.paths), a),
            }),
            (true, false) if self.split.is_some() => {
                anyhow::bail!("--split cuts one log in two: give PATHS, not --before and --after")
            }
            (true, false) => Ok(ComparePlan {
                before: (specs(&self.before), b),
                after: (specs(&self.after), a),
            }),
            (true, true) => anyhow::bail!(
                "no input: give --before PATHS --after PATHS, or PATHS with --split TIME\n\
                 tip: faultline compare --before old.log --after new.log"
            ),
        }
    }
}

impl AnalyzeArgs {
    /// The inputs: the paths, `-` as stdin, or stdin when none is given and it is piped.
    pub fn inputs(&self) -> Result<Vec<InputSpec>, String> {
        if self.state.is_some() && (self.paths.is_empty() || self.paths.iter().any(|p| p == "-")) {
            return Err("--state reads files and directories: give their paths (not stdin)".into());
        }
        if self.paths.is_empty() {
            if std::io::stdin().is_terminal() {
                return Err("no input: give a file or directory, or pipe logs into stdin\n\
                            tip: faultline analyze app.log   or   kubectl logs deploy/api | faultline analyze"
                    .into());
            }
            return Ok(vec![InputSpec::Stdin]);
        }
        Ok(specs(&self.paths))
    }

    /// The validated configuration.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut c = self.run.config()?;
        let zone = self.run.zone()?;
        let now = jiff::Timestamp::now();
        let when = |v: &Option<String>, flag: &str| -> anyhow::Result<Option<i64>> {
            v.as_deref()
                .map(|s| {
                    parse_time_arg(s, now, &zone).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
                })
                .transpose()
        };
        c.scan.window.since = when(&self.since, "since")?;
        c.scan.window.until = when(&self.until, "until")?;
        c.trends.by_source = self.by == Some(SplitBy::Source);
        if matches!(self.format, OutFormat::Csv | OutFormat::Parquet) && self.output.is_none() {
            anyhow::bail!("--format csv and parquet write one file per frame: give --output DIR");
        }
        if let (
            OutFormat::Table | OutFormat::Json | OutFormat::Markdown | OutFormat::Html,
            Some(p),
        ) = (self.format, &self.output)
        {
            if p.is_dir() {
                anyhow::bail!(
                    "{}: is a directory; --output takes a file for --format {}",
                    p.display(),
                    self.format.name()
                );
            }
        }
        Ok(c)
    }
}

/// Parses every `--fail-on` list; `new` and `regressed` only where a comparison is made.
pub fn thresholds(
    lists: &[String],
    config: &Config,
    comparison: bool,
) -> anyhow::Result<Thresholds> {
    let mut all = Thresholds::default();
    let known = |id: &str| config.catalog().signatures.iter().any(|s| s.id == id);
    for l in lists {
        all.extend(Thresholds::parse(l, known).map_err(|e| anyhow::anyhow!("--fail-on: {e}"))?);
    }
    if let (false, Some(r)) = (comparison, all.needs_comparison()) {
        anyhow::bail!("--fail-on: '{r}' needs a before and an after: use faultline compare");
    }
    Ok(all)
}

impl RunArgs {
    /// The zone of zone-less times (`--tz`, UTC by default).
    pub fn zone(&self) -> anyhow::Result<jiff::tz::TimeZone> {
        match &self.tz {
            None => Ok(jiff::tz::TimeZone::UTC),
            Some(z) => jiff::tz::TimeZone::get(z).map_err(|e| anyhow::anyhow!("--tz {z}: {e}")),
        }
    }

    /// The validated configuration, without a time window.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut c = Config::with_catalog(&self.patterns, &self.disable)?;
        c.scan.walk = faultline::input::WalkFilter::new(self.hidden, &self.globs, &self.exclude)
            .map_err(|e| anyhow::anyhow!("--glob/--exclude: {e}"))?;
        if let Some(t) = self.threads {
            c.threads = usize::from(t);
        }
        c.scan.chunk_size = self.chunk_size;
        if let Some(m) = self.max_line {
            c.scan.limits.max_line_len = m;
        }
        c.trends.bucket_ns = self.bucket;
        c.set_redact(!self.no_redact);
        if self.tz.is_some() {
            c.scan.limits.zone = Some(self.zone()?);
        }
        c.scan.layout = self.input_format.layout();
        c.scan.year = self.year;
        c.scan.max_decompressed = self.max_decompressed as u64;
        c.scan.memory = Some(self.memory as u64);
        let floor = |l: &str| Some(faultline::templates::severity(l) as u8);
        c.scan.templates = match self.templates {
            TemplateLevel::Warning => floor("warning"),
            TemplateLevel::Error => floor("error"),
            TemplateLevel::Critical => floor("critical"),
            TemplateLevel::Off => None,
        };
        if self.no_requests {
            c.without_requests();
        }
        for (k, u) in &self.latency_fields {
            c.add_latency_field(k, *u);
        }
        Ok(c)
    }
}

/// The man page of faultline, or of one of its subcommands (`faultline-analyze(1)`).
pub fn man_page(sub: Option<&str>) -> anyhow::Result<Vec<u8>> {
    use clap::CommandFactory;
    let top = Cli::command();
    let cmd = match sub {
        None => top,
        Some(name) => {
            let names: Vec<String> = top
                .get_subcommands()
                .map(|c| c.get_name().to_string())
                .collect();
            let Some(c) = top.find_subcommand(name) else {
                anyhow::bail!("no command '{name}': one of {}", names.join(", "));
            };
            let c = c.clone();
            // clap keeps names as `&'static str`; this page is the process's one output.
            let full: &'static str = format!("faultline-{}", c.get_name()).leak();
            c.name(full).bin_name(full)
        }
    };
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut buf)?;
    Ok(buf)
}

/// Parses `--regressed-factor`: a number above 1.
fn parse_factor(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 1.0 => Ok(x),
        _ => Err(format!(
            "'{s}': the factor must be a number of at least 1 (e.g. 2)"
        )),
    }
}

/// The unit of the last digit of a written time of day: `10:45:00.123` -> 1 ms, `10:45:00`
/// -> 1 s, `10:45` -> 1 min; 1 ns for anything else (a date, a duration).
pub fn precision_ns(s: &str) -> i64 {
    let s = s.trim();
    let Some(tod) = s.find(['T', 't', ' ']).map(|i| &s[i + 1..]) else {
        return 1;
    };
    if let Some(dot) = tod.find(['.', ',']) {
        let digits = tod[dot + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count()
            .min(9);
        return 10i64.pow(9 - digits as u32);
    }
    let clock = tod
        .split(['Z', 'z', '+', '-', '['])
        .next()
        .unwrap_or_default();
    match clock.matches(':').count() {
        2 => 1_000_000_000,
        1 => 60_000_000_000,
        _ => 1,
    }
}

/// Parses a `--before-window`/`--after-window` value, `FROM..TO`, into its bounds.
pub fn parse_window(
    s: &str,
    now: jiff::Timestamp,
    zone: &jiff::tz::TimeZone,
) -> Result<(Option<i64>, Option<i64>), String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("'{s}': write FROM..TO (either end may be left out)"))?;
    let end = |v: &str| {
        let v = v.trim();
        (!v.is_empty())
            .then(|| parse_time_arg(v, now, zone))
            .transpose()
    };
    let (a, b) = (end(a)?, end(b)?);
    if let (Some(x), Some(y)) = (a, b) {
        if x >= y {
            return Err(format!("'{s}': the window ends before it starts"));
        }
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_input_format_but_auto_is_a_layout() {
        for f in InputFormat::value_variants() {
            assert_eq!(f.layout().is_none(), *f == InputFormat::Auto, "{f:?}");
        }
        assert_eq!(InputFormat::Cri.layout(), Some(Layout::Cri));
    }

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn analyze_flags() {
        let c = Cli::try_parse_from([
            "faultline",
            "analyze",
            "--format",
            "json",
            "--threads",
            "2",
            "--chunk-size",
            "4K",
            "--patterns",
            "p",
            "a.log",
            "-",
        ])
        .unwrap();
        let Command::Analyze(a) = c.command else {
            panic!()
        };
        assert_eq!(a.format, OutFormat::Json);
        assert_eq!(a.run.threads, Some(2));
        assert_eq!(a.run.chunk_size, Some(4096));
        assert_eq!(
            a.inputs().unwrap(),
            vec![InputSpec::Path("a.log".into()), InputSpec::Stdin]
        );
        assert!(Cli::try_parse_from(["faultline", "analyze", "--threads", "0"]).is_err());
        assert!(Cli::try_parse_from(["faultline", "analyze", "--format", "xml"]).is_err());
        let c = Cli::try_parse_from([
            "faultline",
            "analyze",
            "--bucket",
            "5m",
            "--latency-field",
            "duration=ms",
            "--format",
            "parquet",
            "-o",
            "out",
            "x.log",
        ])
        .unwrap();
        let Command::Analyze(a) = c.command else {
            panic!()
        };
        assert_eq!(a.run.bucket, 300_000_000_000);
        assert_eq!(
            a.run.latency_fields,
            vec![("duration".to_string(), Unit::Ms)]
        );
        assert!(a.config().is_ok());
        let c = Cli::try_parse_from(["faultline", "analyze", "--format", "csv", "x.log"]).unwrap();
        let Command::Analyze(a) = c.command else {
            panic!()
        };
        assert!(a.config().unwrap_err().to_string().contains("--output DIR"));
        assert!(
            Cli::try_parse_from(["faultline", "analyze", "--latency-field", "duration"]).is_err()
        );
        assert!(Cli::try_parse_from(["faultline", "analyze", "--bucket", "0m"]).is_err());
    }

    #[test]
    fn a_written_time_covers_its_last_digit() {
        assert_eq!(precision_ns("2025-01-10T08:42:19.448Z"), 1_000_000);
        assert_eq!(precision_ns("2025-01-10T08:42:19.448123+02:00"), 1_000);
        assert_eq!(precision_ns("2025-01-10T08:42:19Z"), 1_000_000_000);
        assert_eq!(precision_ns("2025-01-10 08:42:19"), 1_000_000_000);
        assert_eq!(precision_ns("2025-01-10T08:42-05:00"), 60_000_000_000);
        assert_eq!(precision_ns("2025-01-10"), 1);
        assert_eq!(precision_ns("2h"), 1);
    }

    #[test]
    fn compare_sides() {
        let plan = |args: &[&str]| {
            let mut v = vec!["faultline", "compare"];
            v.extend_from_slice(args);
            match Cli::try_parse_from(v) {
                Ok(Cli {
                    command: Command::Compare(c),
                    ..
                }) => c.plan().map_err(|e| e.to_string()),
                Ok(_) => unreachable!(),
                Err(e) => Err(e.to_string()),
            }
        };
        let p = plan(&["--split", "2025-01-10T10:45:00Z", "a.log"]).unwrap();
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_nanosecond() as i64;
        assert_eq!(p.before.1.end, Some(t("2025-01-10T10:45:01Z")));
        assert_eq!(p.after.1.start, Some(t("2025-01-10T10:45:01Z")));
        assert_eq!(p.before.0, vec![InputSpec::Path("a.log".into())]);
        let p = plan(&["--before", "a.log", "b.log", "--after", "c.log"]).unwrap();
        assert_eq!(p.before.0.len(), 2);
        assert_eq!(p.after.1, Span::default());
        let p = plan(&[
            "--before-window",
            "..2025-01-10T10:00:00Z",
            "--after-window",
            "2025-01-10T11:00:00Z..",
            "a.log",
        ])
        .unwrap();
        assert_eq!(p.before.1.start, None);
        assert_eq!(p.after.1.start, Some(t("2025-01-10T11:00:00Z")));
        assert!(plan(&["a.log"]).unwrap_err().contains("--split"));
        assert!(plan(&[]).unwrap_err().contains("no input"));
        assert!(plan(&["--before", "a.log"]).is_err());
        assert!(plan(&["--before", "a", "--after", "b", "--split", "2h"])
            .unwrap_err()
            .contains("cuts one log"));
        assert!(plan(&["c.log", "--before", "a", "--after", "b"])
            .unwrap_err()
            .contains("not both"));
        assert!(plan(&["--before-window", "10:00", "a.log"])
            .unwrap_err()
            .contains("FROM..TO"));
        assert!(plan(&[
            "--before-window",
            "2025-01-10T11:00:00Z..2025-01-10T10:00:00Z",
            "a.log"
        ])
        .unwrap_err()
        .contains("ends before"));
        assert!(plan(&["--regressed-factor", "0.5", "--split", "2h", "a.log"]).is_err());
        assert!(
            plan(&["--split", "2h", "--before-window", "..2h", "a.log"]).is_err(),
            "--split and a window conflict"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("4kib"), Ok(4096));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_duration("30s"), Ok(30_000_000_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000_000_000));
        assert!(parse_duration("1w").is_err());
        let now: jiff::Timestamp = "2025-01-10T12:00:00Z".parse().unwrap();
        let utc = jiff::tz::TimeZone::UTC;
        let ns = |s: &str| parse_time_arg(s, now, &utc).map(faultline::framing::format_rfc3339);
        assert_eq!(ns("2h").unwrap(), "2025-01-10T10:00:00.000Z");
        assert_eq!(ns("2025-01-10").unwrap(), "2025-01-10T00:00:00.000Z");
        assert_eq!(
            ns("2025-01-10T08:30:00Z").unwrap(),
            "2025-01-10T08:30:00.000Z"
        );
        assert_eq!(
            ns("2025-01-10T08:30:00+02:00").unwrap(),
            "2025-01-10T06:30:00.000Z"
        );
        assert_eq!(
            ns("2025-01-10 08:30:00").unwrap(),
            "2025-01-10T08:30:00.000Z"
        );
        assert!(ns("yesterday").is_err());
    }
}
