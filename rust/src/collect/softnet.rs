//! softnet: per-CPU packet-processing counters from `<procfs>/net/softnet_stat`, one line of
//! hex columns per CPU: `node_softnet_{processed,dropped,times_squeezed,cpu_collision,
//! received_rps,flow_limit_count}_total{cpu}` and the `node_softnet_backlog_len{cpu}` gauge
//! (node_exporter 1.8+). Columns a kernel doesn't have yet read 0, as in node_exporter; the
//! CPU number is the 13th column since Linux 5.14, the line's position before.

use super::{malformed, read, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::path::PathBuf;

/// One CPU's line.
#[derive(Debug, PartialEq, Default)]
pub struct Softnet {
    /// The CPU number.
    pub cpu: u32,
    /// processed, dropped, times_squeezed, cpu_collision, received_rps, flow_limit_count,
    /// backlog_len.
    pub values: [f64; 7],
}

/// Parses every CPU's line; fewer than 9 columns or a column that isn't hex is an error.
pub fn parse(text: &str) -> Result<Vec<Softnet>> {
    let mut cpus = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let columns: Vec<u32> = line
            .split_ascii_whitespace()
            .map(|c| u32::from_str_radix(c, 16))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| malformed("softnet_stat line", line))?;
        if columns.len() < 9 {
            return Err(malformed("softnet_stat line (fewer than 9 columns)", line));
        }
        let column = |i: usize| columns.get(i).copied().unwrap_or(0) as f64;
        let (backlog, cpu) = if columns.len() >= 13 { (column(11), columns[12]) } else { (0.0, index as u32) };
        cpus.push(Softnet {
            cpu,
            values: [column(0), column(1), column(2), column(8), column(9), column(10), backlog],
        });
    }
    Ok(cpus)
}

/// `(family, help, type)` of each value, in [`Softnet::values`]' order.
const FAMILIES: [(&str, &str, MetricType); 7] = [
    ("node_softnet_processed", "Number of processed packets", MetricType::Counter),
    ("node_softnet_dropped", "Number of dropped packets", MetricType::Counter),
    ("node_softnet_times_squeezed", "Number of times processing packets ran out of quota", MetricType::Counter),
    (
        "node_softnet_cpu_collision",
        "Number of collision occur while obtaining device lock while transmitting",
        MetricType::Counter,
    ),
    ("node_softnet_received_rps", "Number of times cpu woken up received_rps", MetricType::Counter),
    ("node_softnet_flow_limit_count", "Number of times flow limit has been reached", MetricType::Counter),
    ("node_softnet_backlog_len", "Softnet backlog status", MetricType::Gauge),
];

struct SoftnetCollector {
    path: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(SoftnetCollector { path: config.paths.proc("net/softnet_stat") }))
}

impl NodeCollector for SoftnetCollector {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let cpus = parse(&read(&self.path)?)?;
        let labels: Vec<Text> = cpus.iter().map(|c| Text::from(c.cpu.to_string())).collect();
        for (i, (name, help, kind)) in FAMILIES.into_iter().enumerate() {
            let mut family = MetricFamily::new(name, help, kind, "");
            let suffix = if kind == MetricType::Counter { "_total" } else { "" };
            for (cpu, label) in cpus.iter().zip(&labels) {
                family.push(suffix, vec![("cpu".into(), label.clone())], cpu.values[i]);
            }
            out.push(family);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, scrape};

    #[test]
    fn parses_old_and_new_layouts() {
        let new = "000cd1d8 00000001 00000002 0 0 0 0 0 00000003 00000004 00000005 00000006 00000007 0 0\n";
        assert_eq!(parse(new).unwrap(), [Softnet { cpu: 7, values: [840152.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0] }]);
        let old = "00000010 0 0 0 0 0 0 0 0\n00000020 0 0 0 0 0 0 0 0\n";
        let cpus = parse(old).unwrap();
        assert_eq!((cpus[1].cpu, cpus[1].values[0], cpus[1].values[4]), (1, 32.0, 0.0));
    }

    #[test]
    fn collects_from_the_fixture() {
        let out = scrape(build, &fixture_config()).unwrap();
        assert_eq!(out.len(), 7);
        assert_eq!(out[0].samples[0].name, "node_softnet_processed_total");
        assert_eq!(out[0].samples[0].value, 0xd0d72 as f64);
        assert_eq!(out[2].samples[1].value, 1.0, "cpu 1 was squeezed once");
        assert_eq!(out[6].samples[1].name, "node_softnet_backlog_len");
        let cpus: Vec<&str> = out[0].samples.iter().map(|s| s.labels[0].1.as_ref()).collect();
        assert_eq!(cpus, ["0", "1"]);
    }

    #[test]
    fn garbled_or_truncated_input_is_an_error() {
        assert!(parse("000cd1d8 00000000 00000000\n").unwrap_err().to_string().contains("fewer than 9"));
        assert!(parse("000cd1d8 0 0 0 0 0 0 0 0xyz\n").unwrap_err().to_string().contains("malformed softnet_stat"));
    }
}
