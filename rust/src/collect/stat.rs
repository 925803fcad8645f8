//! stat: boot time, context switches, forks, interrupts and runnable/blocked processes from
//! `<procfs>/stat` (the per-CPU lines of the same file belong to the cpu collector).

use super::{malformed, read, single, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::PathBuf;

/// The system-wide counters of `/proc/stat`.
#[derive(Debug, Default, PartialEq)]
pub struct Stat {
    /// `btime`: boot time, seconds since the epoch.
    pub boot_time: f64,
    /// `ctxt`: context switches since boot.
    pub context_switches: f64,
    /// `processes`: forks since boot.
    pub forks: f64,
    /// First number of `intr`: interrupts serviced since boot.
    pub interrupts: f64,
    /// `procs_running`.
    pub procs_running: f64,
    /// `procs_blocked`.
    pub procs_blocked: f64,
}

/// Reads the system-wide lines; each one node_exporter reports must be present.
pub fn parse(text: &str) -> Result<Stat> {
    let mut stat = Stat::default();
    let mut seen = 0u8;
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (bit, slot) = match fields.next() {
            Some("btime") => (1, &mut stat.boot_time),
            Some("ctxt") => (2, &mut stat.context_switches),
            Some("processes") => (4, &mut stat.forks),
            Some("intr") => (8, &mut stat.interrupts),
            Some("procs_running") => (16, &mut stat.procs_running),
            Some("procs_blocked") => (32, &mut stat.procs_blocked),
            _ => continue,
        };
        *slot = fields.next().and_then(|v| v.parse().ok()).ok_or_else(|| malformed("/proc/stat line", line))?;
        seen |= bit;
    }
    if seen != 63 {
        return Err(malformed("/proc/stat (btime, ctxt, processes, intr or procs_* missing)", text));
    }
    Ok(stat)
}

struct StatCollector {
    path: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(StatCollector { path: config.paths.proc("stat") }))
}

fn counter(name: &'static str, help: &'static str, value: f64) -> MetricFamily {
    let mut family = MetricFamily::new(name, help, MetricType::Counter, "");
    family.push("_total", Vec::new(), value);
    family
}

impl NodeCollector for StatCollector {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let stat = parse(&read(&self.path)?)?;
        out.push(single("node_boot_time_seconds", "Node boot time, in unixtime.", MetricType::Gauge, stat.boot_time));
        out.push(counter("node_context_switches", "Total number of context switches.", stat.context_switches));
        out.push(counter("node_forks", "Total number of forks.", stat.forks));
        out.push(counter("node_intr", "Total number of interrupts serviced.", stat.interrupts));
        let help = "Number of processes blocked waiting for I/O to complete.";
        out.push(single("node_procs_blocked", help, MetricType::Gauge, stat.procs_blocked));
        let help = "Number of processes in runnable state.";
        out.push(single("node_procs_running", help, MetricType::Gauge, stat.procs_running));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, fixture_paths, scrape};

    #[test]
    fn parses_the_system_wide_lines() {
        let text = "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 590326 0 1\nctxt 539216\nbtime 1795357988\n\
                    processes 18000\nprocs_running 2\nprocs_blocked 1\nsoftirq 5 1\n";
        let expected = Stat {
            boot_time: 1795357988.0,
            context_switches: 539216.0,
            forks: 18000.0,
            interrupts: 590326.0,
            procs_running: 2.0,
            procs_blocked: 1.0,
        };
        assert_eq!(parse(text).unwrap(), expected);
        assert!(parse("ctxt 12\n").unwrap_err().to_string().contains("missing"));
        assert!(parse(&text.replace("ctxt 539216", "ctxt lots")).unwrap_err().to_string().contains("ctxt lots"));
    }

    #[test]
    fn collects_from_the_fixture() {
        let out = scrape(build, &fixture_config()).unwrap();
        let samples: Vec<(&str, f64)> = out.iter().map(|f| (f.samples[0].name.as_ref(), f.samples[0].value)).collect();
        let stat = parse(&std::fs::read_to_string(fixture_paths().proc("stat")).unwrap()).unwrap();
        assert_eq!(
            samples,
            [
                ("node_boot_time_seconds", stat.boot_time),
                ("node_context_switches_total", stat.context_switches),
                ("node_forks_total", stat.forks),
                ("node_intr_total", stat.interrupts),
                ("node_procs_blocked", stat.procs_blocked),
                ("node_procs_running", stat.procs_running),
            ]
        );
        assert!(stat.boot_time > 1.5e9);
    }
}
