//! pressure: pressure stall information from `<procfs>/pressure/{cpu,io,memory,irq}` as
//! counters of seconds (`total=` is in microseconds, divided as node_exporter divides it, so the
//! values are bit for bit the same). As in node_exporter, cpu exports only its "some" line. A
//! kernel without PSI has no such files: that is not an error, the collector exports nothing.

use super::{malformed, read, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::PathBuf;

/// The `some` and `full` totals of one pressure file, in seconds.
#[derive(Debug, PartialEq, Default)]
pub struct Pressure {
    /// Time in which at least one task was stalled.
    pub some: Option<f64>,
    /// Time in which all non-idle tasks were stalled.
    pub full: Option<f64>,
}

/// Reads `some ... total=N` and `full ... total=N` lines.
pub fn parse(text: &str) -> Result<Pressure> {
    let mut pressure = Pressure::default();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.split_ascii_whitespace();
        let slot = match parts.next() {
            Some("some") => &mut pressure.some,
            Some("full") => &mut pressure.full,
            _ => return Err(malformed("pressure line", line)),
        };
        let total = parts.find_map(|p| p.strip_prefix("total=")).and_then(|t| t.parse::<f64>().ok());
        *slot = Some(total.ok_or_else(|| malformed("pressure line", line))? / 1000.0 / 1000.0);
    }
    if pressure.some.is_none() && pressure.full.is_none() {
        return Err(malformed("pressure file (empty)", text));
    }
    Ok(pressure)
}

/// `(resource, which line, metric name, help)` in node_exporter's terms.
const SERIES: [(&str, bool, &str, &str); 6] = [
    (
        "cpu",
        false,
        "node_pressure_cpu_waiting_seconds",
        "Total time in seconds that processes have waited for CPU time",
    ),
    (
        "io",
        false,
        "node_pressure_io_waiting_seconds",
        "Total time in seconds that processes have waited due to IO congestion",
    ),
    (
        "io",
        true,
        "node_pressure_io_stalled_seconds",
        "Total time in seconds no process could make progress due to IO congestion",
    ),
    (
        "memory",
        false,
        "node_pressure_memory_waiting_seconds",
        "Total time in seconds that processes have waited for memory",
    ),
    (
        "memory",
        true,
        "node_pressure_memory_stalled_seconds",
        "Total time in seconds no process could make progress due to memory congestion",
    ),
    (
        "irq",
        true,
        "node_pressure_irq_stalled_seconds",
        "Total time in seconds no process could make progress due to IRQ congestion",
    ),
];

struct PressureCollector {
    dir: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(PressureCollector { dir: config.paths.proc("pressure") }))
}

impl NodeCollector for PressureCollector {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        for resource in ["cpu", "io", "memory", "irq"] {
            let text = match read(&self.dir.join(resource)) {
                Ok(text) => text,
                // No PSI at all (no data, not a failure), or no irq file: only kernels built
                // with CONFIG_IRQ_TIME_ACCOUNTING have it.
                Err(Error::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            };
            let pressure = parse(&text)?;
            for (_, full, name, help) in SERIES.iter().filter(|(r, ..)| *r == resource) {
                if let Some(value) = if *full { pressure.full } else { pressure.some } {
                    let mut family = MetricFamily::new(*name, *help, MetricType::Counter, "");
                    family.push("_total", Vec::new(), value);
                    out.push(family);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, fixture_paths, procfs_at, scrape};

    #[test]
    fn reads_totals_in_seconds() {
        let text =
            "some avg10=1.83 avg60=1.29 avg300=0.79 total=27844028\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=5\n";
        assert_eq!(parse(text).unwrap(), Pressure { some: Some(27844028.0 / 1000.0 / 1000.0), full: Some(5e-6) });
        assert!(parse("some avg10=1\n").unwrap_err().to_string().contains("pressure line"));
        assert!(parse("half total=3\n").is_err());
    }

    #[test]
    fn collects_from_the_fixture_and_tolerates_no_psi() {
        let out = scrape(build, &fixture_config()).unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.samples[0].name.as_ref()).collect();
        assert!(names.contains(&"node_pressure_cpu_waiting_seconds_total"), "{names:?}");
        assert!(names.contains(&"node_pressure_io_stalled_seconds_total"));
        assert!(names.contains(&"node_pressure_memory_waiting_seconds_total"));
        assert!(!names.contains(&"node_pressure_cpu_stalled_seconds_total"), "cpu exports only its some line");
        let text = std::fs::read_to_string(fixture_paths().proc("pressure/cpu")).unwrap();
        assert_eq!(out[0].samples[0].value, parse(&text).unwrap().some.unwrap());
        let none = procfs_at("/nonexistent");
        let out = scrape(build, &none).unwrap();
        assert!(out.is_empty());
    }
}
