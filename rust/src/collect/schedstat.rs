//! schedstat: per-CPU scheduler statistics from `<procfs>/schedstat` (kernel
//! Documentation/scheduler/sched-stats.rst): `node_schedstat_running_seconds_total{cpu}`,
//! `_waiting_seconds_total{cpu}` (run and run-queue wait time, ns in the file) and
//! `_timeslices_total{cpu}`, the 7th to 9th fields after each `cpuN`. As node_exporter
//! (procfs), a line that isn't a cpu line of at least nine numbers is skipped, not an error;
//! a kernel without CONFIG_SCHEDSTATS has no file: "no data", as node_exporter says.

use super::{absent_is_no_data, read, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use regex::Regex;
use std::path::PathBuf;

/// `(cpu, running ns, waiting ns, timeslices)` of each cpu line.
pub fn parse<'a>(line_pattern: &Regex, text: &'a str) -> Vec<(&'a str, [f64; 3])> {
    let mut cpus = Vec::new();
    for captures in text.lines().filter_map(|line| line_pattern.captures(line)) {
        let number = |i: usize| captures.get(i).and_then(|m| m.as_str().parse::<u64>().ok());
        if let (Some(running), Some(waiting), Some(slices)) = (number(8), number(9), number(10)) {
            let cpu = captures.get(1).map_or("", |m| m.as_str());
            cpus.push((cpu, [running as f64, waiting as f64, slices as f64]));
        }
    }
    cpus
}

struct Schedstat {
    path: PathBuf,
    line: Regex,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    let line = Regex::new(r"cpu(\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)").expect("a valid regex");
    Ok(Box::new(Schedstat { path: config.paths.proc("schedstat"), line }))
}

/// `(family, help, divisor)` of the three values.
const FAMILIES: [(&str, &str, f64); 3] = [
    ("node_schedstat_running_seconds", "Number of seconds CPU spent running a process.", 1e9),
    ("node_schedstat_waiting_seconds", "Number of seconds spent by processing waiting for this CPU.", 1e9),
    ("node_schedstat_timeslices", "Number of timeslices executed by CPU.", 1.0),
];

impl NodeCollector for Schedstat {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let text = absent_is_no_data(read(&self.path))?;
        let cpus = parse(&self.line, &text);
        for (i, (name, help, divisor)) in FAMILIES.into_iter().enumerate() {
            let mut family = MetricFamily::new(name, help, MetricType::Counter, "");
            for (cpu, values) in &cpus {
                family.push("_total", vec![("cpu".into(), (*cpu).to_owned().into())], values[i] / divisor);
            }
            out.push(family);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, procfs_at, scrape, update_error};

    #[test]
    fn collects_from_the_fixture() {
        let out = scrape(build, &fixture_config()).unwrap();
        let running: Vec<(&str, f64)> = out[0].samples.iter().map(|s| (s.labels[0].1.as_ref(), s.value)).collect();
        assert_eq!(running, [("0", 293.488717503), ("1", 270.130244818)]);
        assert_eq!(out[1].samples[1].value, 38.177003345);
        assert_eq!(
            (out[2].samples[0].name.as_ref(), out[2].samples[0].value),
            ("node_schedstat_timeslices_total", 926146.0)
        );
    }

    #[test]
    fn garbled_lines_are_skipped_and_a_missing_file_fails() {
        let collector = Schedstat {
            path: PathBuf::new(),
            line: Regex::new(r"cpu(\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)").unwrap(),
        };
        let text = "version 15\ncpu0 0 0 1 2 3\ncpu1 0 0 1 2 3 4 5 6 x\ncpu2 0 0 1 2 3 4 5 6 7\n";
        assert_eq!(parse(&collector.line, text), [("2", [5.0, 6.0, 7.0])]);
        let err = update_error(build, &procfs_at("/nonexistent")).to_string();
        assert!(err.contains("/nonexistent/schedstat"), "{err}");
    }
}
