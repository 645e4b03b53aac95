//! The validated run configuration, built once from the command line (or by a library user).

use std::path::Path;

use crate::aggregate::TrendOptions;
use crate::classify::catalog::read_dir_toml;
use crate::classify::{Catalog, Classifier, RequestReader};
use crate::error::CatalogError;
use crate::pipeline::ScanOptions;

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The compiled catalog and prefilter.
    pub classifier: Classifier,
    /// Worker threads; by default the number of CPUs.
    pub threads: usize,
    /// Read and split options.
    pub scan: ScanOptions,
    /// Timeline bucket and incident detection.
    pub trends: TrendOptions,
}

impl Config {
    /// The built-in catalog, all CPUs, default limits.
    pub fn new() -> Result<Config, CatalogError> {
        Config::with_patterns::<&Path>(&[])
    }

    /// The built-in catalog plus the `*.toml` files of each directory.
    pub fn with_patterns<P: AsRef<Path>>(dirs: &[P]) -> Result<Config, CatalogError> {
        let mut catalog = Catalog::builtin()?;
        let mut requests = RequestReader::builtin()?;
        for d in dirs {
            for (f, text) in read_dir_toml(d.as_ref())? {
                catalog.add_str(&f, &text)?;
                requests.add_str(&f, &text)?;
            }
        }
        let classifier = Classifier::with_requests(catalog, Some(requests));
        Ok(Config {
            classifier,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            scan: ScanOptions::default(),
            trends: TrendOptions::default(),
        })
    }
}
