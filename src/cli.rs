//! Command-line flags, and their conversion into a validated [`Config`].

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use faultline::report::Format;
use faultline::{Config, InputSpec};

/// Find known failures in application logs: counts, variants, code locations and fixes.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse log files, directories (recursively) or stdin (`-`).
    Analyze(AnalyzeArgs),
    /// List the signature catalog with its remediations.
    Signatures(SignaturesArgs),
}

/// `faultline analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Files, directories and `-` for stdin. With none, stdin is read when it is not a terminal.
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = OutFormat::Table)]
    pub format: OutFormat,
    /// Worker threads (default: all CPUs).
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Split mapped files into chunks of this size, e.g. 4M (default: from the size and
    /// thread count). The result never depends on it.
    #[arg(long, value_parser = parse_size)]
    pub chunk_size: Option<usize>,
    /// Extra directory of `*.toml` signature files (repeatable).
    #[arg(long = "patterns", value_name = "DIR")]
    pub patterns: Vec<PathBuf>,
    /// Keep at most this many bytes of a line (default 1M).
    #[arg(long, value_parser = parse_size)]
    pub max_line: Option<usize>,
}

/// `faultline signatures`.
#[derive(Debug, clap::Args)]
pub struct SignaturesArgs {
    /// Output format (`table` also prints each remediation).
    #[arg(long, short = 'f', value_enum, default_value_t = OutFormat::Table)]
    pub format: OutFormat,
    /// Extra directory of `*.toml` signature files (repeatable).
    #[arg(long = "patterns", value_name = "DIR")]
    pub patterns: Vec<PathBuf>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    /// Human-readable tables.
    Table,
    /// The JSON report (schema faultline.report/v1).
    Json,
}

impl From<OutFormat> for Format {
    fn from(f: OutFormat) -> Format {
        match f {
            OutFormat::Table => Format::Table,
            OutFormat::Json => Format::Json,
        }
    }
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

impl AnalyzeArgs {
    /// The inputs: the paths, `-` as stdin, or stdin when none is given and it is piped.
    pub fn inputs(&self) -> Result<Vec<InputSpec>, String> {
        if self.paths.is_empty() {
            if std::io::stdin().is_terminal() {
                return Err("no input: give a file or directory, or pipe logs into stdin\n\
                            tip: faultline analyze app.log   or   kubectl logs deploy/api | faultline analyze"
                    .into());
            }
            return Ok(vec![InputSpec::Stdin]);
        }
        Ok(self
            .paths
            .iter()
            .map(|p| {
                if p.as_os_str() == "-" {
                    InputSpec::Stdin
                } else {
                    InputSpec::Path(p.clone())
                }
            })
            .collect())
    }

    /// The validated configuration.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut c = Config::with_patterns(&self.patterns)?;
        if let Some(t) = self.threads {
            c.threads = usize::from(t);
        }
        c.scan.chunk_size = self.chunk_size;
        if let Some(m) = self.max_line {
            c.scan.limits.max_line_len = m;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

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
        assert_eq!(a.threads, Some(2));
        assert_eq!(a.chunk_size, Some(4096));
        assert_eq!(
            a.inputs().unwrap(),
            vec![InputSpec::Path("a.log".into()), InputSpec::Stdin]
        );
        assert!(Cli::try_parse_from(["faultline", "analyze", "--threads", "0"]).is_err());
        assert!(Cli::try_parse_from(["faultline", "analyze", "--format", "xml"]).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("4kib"), Ok(4096));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
    }
}
