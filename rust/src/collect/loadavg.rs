//! loadavg: `node_load1`, `node_load5`, `node_load15` from `<procfs>/loadavg`.

use super::{malformed, read, single, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::PathBuf;

/// The three load averages from the file's first three fields.
pub fn parse(text: &str) -> Result<[f64; 3]> {
    let mut fields = text.split_ascii_whitespace().map(str::parse::<f64>);
    match (fields.next(), fields.next(), fields.next()) {
        (Some(Ok(one)), Some(Ok(five)), Some(Ok(fifteen))) => Ok([one, five, fifteen]),
        _ => Err(malformed("loadavg", text)),
    }
}

struct Loadavg {
    path: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Loadavg { path: config.paths.proc("loadavg") }))
}

impl NodeCollector for Loadavg {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let [one, five, fifteen] = parse(&read(&self.path)?)?;
        out.push(single("node_load1", "1m load average.", MetricType::Gauge, one));
        out.push(single("node_load5", "5m load average.", MetricType::Gauge, five));
        out.push(single("node_load15", "15m load average.", MetricType::Gauge, fifteen));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, fixture_paths, scrape};

    #[test]
    fn parses_the_first_three_fields() {
        assert_eq!(parse("0.21 0.34 0.50 1/245 1234\n").unwrap(), [0.21, 0.34, 0.5]);
        assert!(parse("0.21 garbage").unwrap_err().to_string().contains("malformed loadavg"));
    }

    #[test]
    fn collects_from_the_fixture() {
        let out = scrape(build, &fixture_config()).unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_ref()).collect();
        assert_eq!(names, ["node_load1", "node_load5", "node_load15"]);
        let expected = parse(&std::fs::read_to_string(fixture_paths().proc("loadavg")).unwrap()).unwrap();
        assert_eq!(out.iter().map(|f| f.samples[0].value).collect::<Vec<_>>(), expected);
    }
}
