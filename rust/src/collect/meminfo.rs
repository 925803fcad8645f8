//! meminfo: one gauge per `<procfs>/meminfo` line, `node_memory_<Field>_bytes` (kB × 1024) or,
//! for the page counts without a unit (`HugePages_*`), `node_memory_<Field>`. Every line is
//! exported (node_exporter 1.5–1.8's superset), with `(anon)`/`(file)` written `_anon`/`_file`.

use super::{malformed, read, single, Config, FieldNames, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::PathBuf;

/// `(key, value, whether in kB)` per line, the value in bytes when it was in kB.
pub fn parse(text: &str) -> Result<Vec<(&str, f64, bool)>> {
    let mut fields = Vec::with_capacity(64);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (key, rest) = line.split_once(':').ok_or_else(|| malformed("/proc/meminfo line", line))?;
        let mut parts = rest.split_ascii_whitespace();
        let value: f64 =
            parts.next().and_then(|v| v.parse().ok()).ok_or_else(|| malformed("/proc/meminfo line", line))?;
        match parts.next() {
            Some("kB") => fields.push((key, value * 1024.0, true)),
            None => fields.push((key, value, false)),
            Some(_) => return Err(malformed("/proc/meminfo line (unknown unit)", line)),
        }
    }
    if fields.is_empty() {
        return Err(malformed("/proc/meminfo (empty)", text));
    }
    Ok(fields)
}

/// The metric name suffix of a key: `MemTotal_bytes`, `Active_anon_bytes`, `HugePages_Total`.
pub fn suffix(key: &str, in_kb: bool) -> String {
    let key = key.replace('(', "_").replace(')', "");
    if in_kb {
        format!("{key}_bytes")
    } else {
        key
    }
}

struct Meminfo {
    path: PathBuf,
    names: FieldNames,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Meminfo { path: config.paths.proc("meminfo"), names: FieldNames::default() }))
}

impl NodeCollector for Meminfo {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        for (key, value, in_kb) in parse(&read(&self.path)?)? {
            let (name, help) = self.names.get(key, || {
                let suffix = suffix(key, in_kb);
                (format!("node_memory_{suffix}"), format!("Memory information field {suffix}."))
            });
            out.push(single(name, help, MetricType::Gauge, value));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, fixture_paths, scrape};

    #[test]
    fn names_units_and_values() {
        let text = "MemTotal:       24576000 kB\nActive(anon):      1024 kB\nHugePages_Total:       0\n";
        let fields = parse(text).unwrap();
        assert_eq!(
            fields,
            [
                ("MemTotal", 24576000.0 * 1024.0, true),
                ("Active(anon)", 1024.0 * 1024.0, true),
                ("HugePages_Total", 0.0, false)
            ]
        );
        let suffixes: Vec<String> = fields.iter().map(|(key, _, in_kb)| suffix(key, *in_kb)).collect();
        assert_eq!(suffixes, ["MemTotal_bytes", "Active_anon_bytes", "HugePages_Total"]);
        assert!(parse("MemTotal: lots kB\n").unwrap_err().to_string().contains("MemTotal: lots"));
        assert!(parse("garbage\n").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn collects_from_the_fixture() {
        let out = scrape(build, &fixture_config()).unwrap();
        let total = out.iter().find(|f| f.name == "node_memory_MemTotal_bytes").unwrap();
        assert_eq!(total.help, "Memory information field MemTotal_bytes.");
        let text = std::fs::read_to_string(fixture_paths().proc("meminfo")).unwrap();
        let kb: f64 = text.lines().next().unwrap().split_ascii_whitespace().nth(1).unwrap().parse().unwrap();
        assert_eq!(total.samples[0].value, kb * 1024.0);
        assert!(out.iter().any(|f| f.name == "node_memory_HugePages_Total"));
        assert_eq!(out.len(), text.lines().count());
    }
}
