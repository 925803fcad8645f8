//! cpu: `node_cpu_seconds_total{cpu,mode}` and `node_cpu_guest_seconds_total{cpu,mode}` from
//! the `cpuN` lines of `<procfs>/stat`, in seconds (jiffies / USER_HZ).
//!
//! The kernel's per-CPU counters can step backwards (a known effect of how idle time is
//! accounted on some kernels), which `rate()` would read as a counter reset. As node_exporter
//! does, the collector remembers each value and never reports less than it did before, except
//! when a CPU's idle time drops by 3 s or more: that is a CPU that went offline and came back,
//! and its history starts over.

use super::{malformed, read, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use parking_lot::Mutex;
use std::path::PathBuf;

/// The modes of `node_cpu_seconds_total`, in `/proc/stat` column order.
pub const MODES: [&str; 8] = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];
const IDLE: usize = 3;

/// One CPU's times in seconds: the eight modes, then guest and guest_nice.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CpuTimes(pub [f64; 10]);

/// Reads the `cpuN` lines (not the aggregate `cpu` line), converting jiffies with `user_hz`.
/// Kernels older than 2.6.33 lack the guest columns, which then read as 0.
pub fn parse(text: &str, user_hz: f64) -> Result<Vec<(u32, CpuTimes)>> {
    let mut cpus = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("cpu") && !l.starts_with("cpu ")) {
        let mut fields = line.split_ascii_whitespace();
        let id =
            fields.next().and_then(|f| f[3..].parse().ok()).ok_or_else(|| malformed("/proc/stat cpu line", line))?;
        let mut times = CpuTimes::default();
        let mut count = 0;
        for (slot, field) in times.0.iter_mut().zip(fields) {
            *slot = field.parse::<f64>().map_err(|_| malformed("/proc/stat cpu line", line))? / user_hz;
            count += 1;
        }
        if count < MODES.len() {
            return Err(malformed("/proc/stat cpu line (fewer than 8 columns)", line));
        }
        cpus.push((id, times));
    }
    if cpus.is_empty() {
        return Err(malformed("/proc/stat (no cpuN lines)", text));
    }
    Ok(cpus)
}

struct CpuCollector {
    path: PathBuf,
    user_hz: f64,
    /// What was last reported per CPU id.
    reported: Mutex<Vec<(u32, CpuTimes)>>,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    // SAFETY: sysconf only reads a configuration value.
    let user_hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(Box::new(CpuCollector { path: config.paths.proc("stat"), user_hz, reported: Mutex::new(Vec::new()) }))
}

impl CpuCollector {
    /// Applies the never-backwards rule to a fresh reading and remembers the result.
    fn monotonic(&self, current: Vec<(u32, CpuTimes)>) -> Vec<(u32, CpuTimes)> {
        let mut reported = self.reported.lock();
        let clamped: Vec<(u32, CpuTimes)> = current
            .into_iter()
            .map(|(id, mut times)| {
                if let Some((_, before)) = reported.iter().find(|(known, _)| *known == id) {
                    if before.0[IDLE] - times.0[IDLE] < 3.0 {
                        for (now, then) in times.0.iter_mut().zip(before.0) {
                            *now = now.max(then);
                        }
                    }
                }
                (id, times)
            })
            .collect();
        reported.clone_from(&clamped);
        clamped
    }

    fn families(&self, text: &str) -> Result<Vec<MetricFamily>> {
        let cpus = self.monotonic(parse(text, self.user_hz)?);
        let mut seconds =
            MetricFamily::new("node_cpu_seconds", "Seconds the CPUs spent in each mode.", MetricType::Counter, "");
        let help = "Seconds the CPUs spent in guests (VMs) for each mode.";
        let mut guest = MetricFamily::new("node_cpu_guest_seconds", help, MetricType::Counter, "");
        for (id, times) in &cpus {
            let cpu: Text = id.to_string().into();
            let labels = |mode: &'static str| vec![("cpu".into(), cpu.clone()), ("mode".into(), mode.into())];
            for (mode, value) in MODES.iter().zip(times.0) {
                seconds.push_named("node_cpu_seconds_total", labels(mode), value);
            }
            for (mode, value) in ["user", "nice"].iter().zip(&times.0[8..]) {
                guest.push_named("node_cpu_guest_seconds_total", labels(mode), *value);
            }
        }
        Ok(vec![guest, seconds])
    }
}

impl NodeCollector for CpuCollector {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        out.extend(self.families(&read(&self.path)?)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::fixture_paths;

    fn collector() -> CpuCollector {
        CpuCollector { path: PathBuf::new(), user_hz: 100.0, reported: Mutex::new(Vec::new()) }
    }

    fn value(families: &[MetricFamily], cpu: &str, mode: &str) -> f64 {
        let labels = [("cpu", cpu), ("mode", mode)];
        families[1]
            .samples
            .iter()
            .find(|s| s.labels.iter().map(|(n, v)| (&**n, &**v)).eq(labels))
            .map(|s| s.value)
            .unwrap()
    }

    #[test]
    fn parses_per_cpu_lines_in_seconds() {
        let text =
            "cpu  300 0 100 9000 0 0 0 0 0 0\ncpu0 100 1 50 4000 2 3 4 5 6 7\ncpu1 200 0 50 5000 0 0 0 0\nintr 1\n";
        let cpus = parse(text, 100.0).unwrap();
        assert_eq!(cpus[0], (0, CpuTimes([1.0, 0.01, 0.5, 40.0, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07])));
        assert_eq!(cpus[1].0, 1);
        assert_eq!(cpus[1].1 .0[8], 0.0);
        assert!(parse("cpu0 1 2 3\n", 100.0).unwrap_err().to_string().contains("fewer than 8"));
        assert!(parse("cpu0 1 2 x 4 5 6 7 8\n", 100.0).is_err());
        assert!(parse("intr 5\n", 100.0).unwrap_err().to_string().contains("no cpuN lines"));
    }

    #[test]
    fn never_goes_backwards_unless_the_cpu_was_replugged() {
        let collector = collector();
        collector.families("cpu0 1000 0 500 100000 0 0 0 0 0 0\n").unwrap();
        let dipped = collector.families("cpu0 990 0 510 99900 0 0 0 0 0 0\n").unwrap();
        assert_eq!(value(&dipped, "0", "user"), 10.0);
        assert_eq!(value(&dipped, "0", "system"), 5.1);
        assert_eq!(value(&dipped, "0", "idle"), 1000.0);
        let replugged = collector.families("cpu0 5 0 5 50 0 0 0 0 0 0\n").unwrap();
        assert_eq!(value(&replugged, "0", "idle"), 0.5);
        assert_eq!(value(&replugged, "0", "user"), 0.05);
    }

    #[test]
    fn collects_from_the_fixture() {
        let mut out = Vec::new();
        build(&Config { paths: fixture_paths(), ..Config::default() }).unwrap().update(&mut out).unwrap();
        assert_eq!(out[0].name, "node_cpu_guest_seconds");
        assert_eq!(out[1].samples.len(), 2 * 8, "two CPUs in the fixture, eight modes each");
        assert_eq!(out[1].samples[0].name, "node_cpu_seconds_total");
        // cpu0's user column in the fixture is 14825 jiffies.
        assert_eq!(value(&out, "0", "user"), 14825.0 / 100.0);
    }
}
