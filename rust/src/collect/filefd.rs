//! filefd: `node_filefd_allocated` and `node_filefd_maximum` from `<procfs>/sys/fs/file-nr`,
//! whose three tab-separated fields are allocated, unused (always 0 since Linux 2.6) and the
//! maximum. Split on tabs as node_exporter does, so a file in any other shape is an error.

use super::{malformed, read, single, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::PathBuf;

/// `(allocated, maximum)` from the file's first and third fields.
pub fn parse(text: &str) -> Result<(f64, f64)> {
    let fields: Vec<&str> = text.trim().split('\t').collect();
    let value = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (value(0), value(2)) {
        (Some(allocated), Some(maximum)) => Ok((allocated, maximum)),
        _ => Err(malformed("file-nr", text)),
    }
}

struct Filefd {
    path: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Filefd { path: config.paths.proc("sys/fs/file-nr") }))
}

impl NodeCollector for Filefd {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let (allocated, maximum) = parse(&read(&self.path)?)?;
        let help = "File descriptor statistics: allocated.";
        out.push(single("node_filefd_allocated", help, MetricType::Gauge, allocated));
        let help = "File descriptor statistics: maximum.";
        out.push(single("node_filefd_maximum", help, MetricType::Gauge, maximum));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, procfs_at, scrape, update_error};

    #[test]
    fn parses_the_fixture() {
        let out = scrape(build, &fixture_config()).unwrap();
        let got: Vec<(&str, f64)> = out.iter().map(|f| (f.name.as_ref(), f.samples[0].value)).collect();
        assert_eq!(got, [("node_filefd_allocated", 764.0), ("node_filefd_maximum", 2466170.0)]);
    }

    #[test]
    fn garbled_or_missing_input_is_an_error() {
        assert!(parse("764 0 2466170\n").unwrap_err().to_string().contains("malformed file-nr"));
        assert!(parse("764\t0\n").is_err());
        assert!(parse("764\t0\tlots\n").is_err());
        let err = update_error(build, &procfs_at("/nonexistent")).to_string();
        assert!(err.contains("/nonexistent/sys/fs/file-nr"), "{err}");
    }
}
