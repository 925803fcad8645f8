//! cpu: `node_cpu_seconds_total{cpu,mode}` and `node_cpu_guest_seconds_total{cpu,mode}` from
//! the `cpuN` lines of `<procfs>/stat`, in seconds (jiffies / USER_HZ).
//!
//! The kernel's per-CPU counters can step backwards (a known effect of how idle time is
//! accounted on some kernels), which `rate()` would read as a counter reset. As node_exporter
//! does, the collector remembers each value and never reports less than it did before, except
//! when a CPU's idle time drops by 3 s or more: that is a CPU that went offline and came back,
//! and its history starts over.
//!
//! From `<sysfs>/devices/system/cpu`, as node_exporter 1.9: `node_cpu_isolated{cpu}` (the
//! `isolated` list, read once at start as node_exporter does), `node_cpu_core_throttles_total
//! {core,package}` and `node_cpu_package_throttles_total{package}` (each CPU's
//! `thermal_throttle`, read once per core and per package; CPUs without topology are skipped),
//! and `node_cpu_online{cpu}` (left out entirely when cpu0 has no `online` file, as upstream).
//!
//! With `--collector.cpu.info` (off by default, as in node_exporter), from `<procfs>/cpuinfo`
//! (the x86 layout: `key\t: value` lines, a block per `processor`): `node_cpu_info{package,
//! core,cpu,vendor,family,model,model_name,microcode,stepping,cachesize}` = 1 per CPU, the
//! first CPU's flags and bugs matching `--collector.cpu.info.flags-include` / `bugs-include`
//! as `node_cpu_flag_info{flag}` / `node_cpu_bug_info{bug}`, and, when the cpufreq collector
//! is off, `node_cpu_frequency_hertz{package,core,cpu}` from `cpu MHz`. A `processor`, `cpu
//! MHz` (or other numeric field) that doesn't parse fails the collector, as in procfs.

use super::{malformed, read, read_if_exists, Config, NodeCollector};
use crate::error::{Error, Result};
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
    /// `<sysfs>/devices/system/cpu`.
    sys_cpu: PathBuf,
    /// The isolated CPUs, from start.
    isolated: Vec<u32>,
    user_hz: f64,
    /// What was last reported per CPU id.
    reported: Mutex<Vec<(u32, CpuTimes)>>,
    /// `--collector.cpu.info`: what of `/proc/cpuinfo` to report, if anything.
    info: Option<InfoOptions>,
}

/// What `--collector.cpu.info` and its options ask for.
struct InfoOptions {
    path: PathBuf,
    flags: Option<regex::Regex>,
    bugs: Option<regex::Regex>,
    frequency: bool,
}

/// One processor's block of `/proc/cpuinfo`: the fields node_exporter reports.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CpuInfo {
    /// `processor`: the CPU number.
    pub processor: u32,
    /// `vendor_id` (or `vendor`).
    pub vendor: String,
    /// `cpu family`.
    pub family: String,
    /// `model`.
    pub model: String,
    /// `model name`.
    pub model_name: String,
    /// `stepping`.
    pub stepping: String,
    /// `microcode`.
    pub microcode: String,
    /// `cpu MHz`.
    pub mhz: f64,
    /// `cache size`.
    pub cache_size: String,
    /// `physical id`.
    pub package: String,
    /// `core id`.
    pub core: String,
    /// `flags`, split at spaces.
    pub flags: Vec<String>,
    /// `bugs`, split at spaces.
    pub bugs: Vec<String>,
}

/// The processors of an x86 `/proc/cpuinfo`, as procfs reads it (`key: value` split at the
/// first `": "`; numeric fields checked).
pub fn parse_cpuinfo(text: &str) -> Result<Vec<CpuInfo>> {
    let bad = |line: &str| malformed("/proc/cpuinfo", line);
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
    if !first.starts_with("processor") || !first.contains(':') {
        return Err(bad(first));
    }
    let mut cpus: Vec<CpuInfo> = Vec::new();
    for line in text.lines().filter(|l| l.contains(':')) {
        let (key, value) = match line.split_once(": ") {
            Some((key, value)) => (key.trim(), value),
            None => (line.trim(), ""),
        };
        let uint = |v: &str| super::parse_go_uint(v).filter(|v| *v <= u64::from(u32::MAX)).ok_or_else(|| bad(line));
        if key == "processor" {
            cpus.push(CpuInfo { processor: uint(value)? as u32, ..CpuInfo::default() });
            continue;
        }
        let Some(cpu) = cpus.last_mut() else { return Err(bad(line)) };
        match key {
            "vendor" | "vendor_id" => cpu.vendor = value.to_owned(),
            "cpu family" => cpu.family = value.to_owned(),
            "model" => cpu.model = value.to_owned(),
            "model name" => cpu.model_name = value.to_owned(),
            "stepping" => cpu.stepping = value.to_owned(),
            "microcode" => cpu.microcode = value.to_owned(),
            "cpu MHz" => cpu.mhz = value.parse().map_err(|_| bad(line))?,
            "cache size" => cpu.cache_size = value.to_owned(),
            "physical id" => cpu.package = value.to_owned(),
            "core id" => cpu.core = value.to_owned(),
            "flags" => cpu.flags = value.split_whitespace().map(str::to_owned).collect(),
            "bugs" => cpu.bugs = value.split_whitespace().map(str::to_owned).collect(),
            "bogomips" => {
                value.parse::<f64>().map_err(|_| bad(line))?;
            }
            "siblings" | "cpu cores" | "cpuid level" | "clflush size" | "cache_alignment" => {
                uint(value)?;
            }
            _ => {}
        }
    }
    Ok(cpus)
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    // SAFETY: sysconf only reads a configuration value.
    let user_hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let sys_cpu = config.paths.sys("devices/system/cpu");
    let isolated = match read_if_exists(&sys_cpu.join("isolated"))? {
        Some(text) => parse_cpu_list(&text)?,
        None => Vec::new(),
    };
    let path = config.paths.proc("stat");
    let include = |flag: &str, pattern: &Option<String>| -> Result<Option<regex::Regex>> {
        let pattern = pattern.as_deref().filter(|p| !p.is_empty());
        if pattern.is_some() && !config.cpu_info {
            return Err(Error::InvalidValue(format!("{flag} requires --collector.cpu.info")));
        }
        super::netdev::compile(flag, pattern)
    };
    let flags = include("--collector.cpu.info.flags-include", &config.cpu_info_flags_include)?;
    let bugs = include("--collector.cpu.info.bugs-include", &config.cpu_info_bugs_include)?;
    let info = config.cpu_info.then(|| InfoOptions {
        path: config.paths.proc("cpuinfo"),
        flags,
        bugs,
        frequency: !config.cpufreq_enabled,
    });
    Ok(Box::new(CpuCollector { path, sys_cpu, isolated, user_hz, reported: Mutex::new(Vec::new()), info }))
}

/// A kernel CPU list (`0-3,8,10-11`), as in `isolated`.
pub fn parse_cpu_list(text: &str) -> Result<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim_end_matches('\n').split(',').filter(|p| !p.is_empty()) {
        let bad = || malformed("cpu list", text);
        match part.split_once('-') {
            Some((start, end)) => {
                let (start, end): (u32, u32) = (start.parse().map_err(|_| bad())?, end.parse().map_err(|_| bad())?);
                cpus.extend(start..=end);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(cpus)
}

/// An unsigned integer file, `None` when it can't be read or parsed (node_exporter skips those).
/// Read without keeping a descriptor: a big machine has several such files per CPU, more than
/// `kernel_file` keeps.
fn uint_file(path: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
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

impl CpuCollector {
    /// The `cpuN` directories of sysfs, in node_exporter's (lexical) order.
    fn sys_cpus(&self) -> Result<Vec<(String, PathBuf)>> {
        let entries = match std::fs::read_dir(&self.sys_cpu) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => {
                let message = format!("{}: {err}", self.sys_cpu.display());
                return Err(Error::Io(std::io::Error::new(err.kind(), message)));
            }
        };
        let mut cpus: Vec<(String, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(name, _)| name.strip_prefix("cpu").is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit())))
            .collect();
        cpus.sort();
        Ok(cpus)
    }

    fn sysfs_families(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        if !self.isolated.is_empty() {
            let help = "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.";
            let mut isolated = MetricFamily::new("node_cpu_isolated", help, MetricType::Gauge, "");
            for cpu in &self.isolated {
                isolated.push("", vec![("cpu".into(), cpu.to_string().into())], 1.0);
            }
            out.push(isolated);
        }
        let cpus = self.sys_cpus()?;
        let mut packages: Vec<(u64, Option<u64>)> = Vec::new();
        let mut cores: Vec<((u64, u64), Option<u64>)> = Vec::new();
        for (_, dir) in &cpus {
            let topology = dir.join("topology");
            let (Some(package), Some(core)) =
                (uint_file(&topology.join("physical_package_id")), uint_file(&topology.join("core_id")))
            else {
                continue;
            };
            if !cores.iter().any(|(key, _)| *key == (package, core)) {
                cores.push(((package, core), uint_file(&dir.join("thermal_throttle/core_throttle_count"))));
            }
            if !packages.iter().any(|(key, _)| *key == package) {
                packages.push((package, uint_file(&dir.join("thermal_throttle/package_throttle_count"))));
            }
        }
        let help = "Number of times this CPU package has been throttled.";
        let mut package_throttles = MetricFamily::new("node_cpu_package_throttles", help, MetricType::Counter, "");
        for (package, count) in packages.iter().filter_map(|(p, c)| Some((p, (*c)?))) {
            package_throttles.push("_total", vec![("package".into(), package.to_string().into())], count as f64);
        }
        let help = "Number of times this CPU core has been throttled.";
        let mut core_throttles = MetricFamily::new("node_cpu_core_throttles", help, MetricType::Counter, "");
        for ((package, core), count) in cores.iter().filter_map(|(k, c)| Some((k, (*c)?))) {
            let labels = vec![("core".into(), core.to_string().into()), ("package".into(), package.to_string().into())];
            core_throttles.push("_total", labels, count as f64);
        }
        out.extend([package_throttles, core_throttles].into_iter().filter(|f| !f.samples.is_empty()));
        // Online state, unless the kernel can't take CPUs offline (then cpu0 has no `online`).
        if cpus.first().is_some_and(|(_, dir)| dir.join("online").exists()) {
            let mut online = MetricFamily::new(
                "node_cpu_online",
                "CPUs that are online and being scheduled.",
                MetricType::Gauge,
                "",
            );
            for (name, dir) in &cpus {
                let up = std::fs::read_to_string(dir.join("online")).is_ok_and(|v| v.trim() == "1");
                online.push("", vec![("cpu".into(), name[3..].to_owned().into())], if up { 1.0 } else { 0.0 });
            }
            out.push(online);
        }
        Ok(())
    }
}

impl CpuCollector {
    fn info_families(&self, options: &InfoOptions, out: &mut Vec<MetricFamily>) -> Result<()> {
        let cpus = parse_cpuinfo(&read(&options.path)?)?;
        let mut info = MetricFamily::new("node_cpu_info", "CPU information from /proc/cpuinfo.", MetricType::Gauge, "");
        let help = "Current CPU thread frequency in hertz.";
        let mut frequency = MetricFamily::new("node_cpu_frequency_hertz", help, MetricType::Gauge, "");
        for cpu in &cpus {
            let labels = [
                ("package", &cpu.package),
                ("core", &cpu.core),
                ("cpu", &cpu.processor.to_string()),
                ("vendor", &cpu.vendor),
                ("family", &cpu.family),
                ("model", &cpu.model),
                ("model_name", &cpu.model_name),
                ("microcode", &cpu.microcode),
                ("stepping", &cpu.stepping),
                ("cachesize", &cpu.cache_size),
            ];
            let labels: Vec<(Text, Text)> = labels.iter().map(|(k, v)| ((*k).into(), (*v).clone().into())).collect();
            frequency.push("", labels[..3].to_vec(), cpu.mhz * 1e6);
            info.push("", labels, 1.0);
        }
        out.push(info);
        if options.frequency {
            out.push(frequency);
        }
        let first = cpus.first();
        let fields = [
            (
                "node_cpu_flag_info",
                "flag",
                "The `flags` field of CPU information from /proc/cpuinfo taken from the first core.",
                &options.flags,
                first.map(|c| &c.flags),
            ),
            (
                "node_cpu_bug_info",
                "bug",
                "The `bugs` field of CPU information from /proc/cpuinfo taken from the first core.",
                &options.bugs,
                first.map(|c| &c.bugs),
            ),
        ];
        for (name, label, help, filter, values) in fields {
            let (Some(filter), Some(values)) = (filter, values) else { continue };
            let mut family = MetricFamily::new(name, help, MetricType::Gauge, "");
            for value in values.iter().filter(|v| filter.is_match(v)) {
                family.push("", vec![(label.into(), value.clone().into())], 1.0);
            }
            out.push(family);
        }
        Ok(())
    }
}

impl NodeCollector for CpuCollector {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        if let Some(options) = &self.info {
            self.info_families(options, out)?;
        }
        out.extend(self.families(&read(&self.path)?)?);
        self.sysfs_families(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, label_pairs, scrape, sysfs_at, TempTree};

    fn collector() -> CpuCollector {
        let (path, sys_cpu) = (PathBuf::new(), PathBuf::new());
        CpuCollector {
            path,
            sys_cpu,
            isolated: Vec::new(),
            user_hz: 100.0,
            reported: Mutex::new(Vec::new()),
            info: None,
        }
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
        let out = scrape(build, &fixture_config()).unwrap();
        assert_eq!(out[0].name, "node_cpu_guest_seconds");
        assert_eq!(out[1].samples.len(), 2 * 8, "two CPUs in the fixture, eight modes each");
        assert_eq!(out[1].samples[0].name, "node_cpu_seconds_total");
        // cpu0's user column in the fixture is 14825 jiffies.
        assert_eq!(value(&out, "0", "user"), 14825.0 / 100.0);
        let family = |name: &str| {
            let family = out.iter().find(|f| f.name == name).unwrap();
            family.samples.iter().map(|s| (s.labels.iter().map(|(_, v)| v.to_string()).collect(), s.value)).collect()
        };
        let isolated: Vec<(Vec<String>, f64)> = family("node_cpu_isolated");
        assert_eq!(isolated, [(vec!["2".to_owned()], 1.0)]);
        let online: Vec<(Vec<String>, f64)> = family("node_cpu_online");
        let expected = [(vec!["0".to_owned()], 1.0), (vec!["1".to_owned()], 1.0), (vec!["2".to_owned()], 0.0)];
        assert_eq!(online, expected, "cpu2 is offline (and has no topology) in the fixture");
        let cores: Vec<(Vec<String>, f64)> = family("node_cpu_core_throttles");
        assert_eq!(cores, [(vec!["0".to_owned(), "0".to_owned()], 3.0), (vec!["1".to_owned(), "0".to_owned()], 5.0)]);
        let packages: Vec<(Vec<String>, f64)> = family("node_cpu_package_throttles");
        assert_eq!(packages, [(vec!["0".to_owned()], 12.0)], "read once per package");
    }

    #[test]
    fn cpu_lists_and_a_bad_isolated_file() {
        assert_eq!(parse_cpu_list("0-2,5,7-8\n").unwrap(), [0, 1, 2, 5, 7, 8]);
        assert_eq!(parse_cpu_list("\n").unwrap(), Vec::<u32>::new());
        assert!(parse_cpu_list("0-x").unwrap_err().to_string().contains("malformed cpu list"));
        let tree = TempTree::new("cpu");
        tree.write("devices/system/cpu/isolated", "1-\n");
        assert!(build(&sysfs_at(tree.root())).err().unwrap().to_string().contains("malformed cpu list"));
    }

    #[test]
    fn cpu_info_reports_the_fixture_cpuinfo_when_asked() {
        let base = fixture_config();
        let config = Config {
            cpu_info: true,
            cpu_info_flags_include: Some("^(aes|avx2)$".into()),
            cpu_info_bugs_include: Some("spectre".into()),
            ..base.clone()
        };
        let out = scrape(build, &config).unwrap();
        let family = |name: &str| out.iter().find(|f| f.name == name);
        let info = family("node_cpu_info").unwrap();
        assert_eq!(info.samples.len(), 2);
        let labels = label_pairs(&info.samples[1]);
        assert!(labels.contains(&("cpu", "1")) && labels.contains(&("vendor", "AuthenticAMD")), "{labels:?}");
        let flags: Vec<&str> =
            family("node_cpu_flag_info").unwrap().samples.iter().map(|s| s.labels[0].1.as_ref()).collect();
        assert_eq!(flags, ["aes", "avx2"], "in /proc/cpuinfo order");
        assert!(family("node_cpu_bug_info").unwrap().samples.len() >= 2);
        assert_eq!(family("node_cpu_frequency_hertz").unwrap().samples[0].value, 2596.104 * 1e6, "cpufreq is off");
        let out = scrape(build, &base).unwrap();
        assert!(out.iter().all(|f| f.name != "node_cpu_info"), "off by default");
        let err = build(&Config { cpu_info_flags_include: Some("x".into()), ..base }).err().unwrap().to_string();
        assert!(err.contains("requires --collector.cpu.info"), "{err}");
    }

    #[test]
    fn a_garbled_cpuinfo_fails() {
        assert!(parse_cpuinfo("vendor_id\t: x\n").is_err(), "must start with processor");
        let err = parse_cpuinfo("processor\t: 0\ncpu MHz\t\t: fast\n").unwrap_err().to_string();
        assert!(err.contains("cpu MHz"), "{err}");
        assert!(parse_cpuinfo("processor\t: zero\n").is_err());
        let cpus = parse_cpuinfo("processor\t: 0\npower management:\n\nprocessor\t: 1\n").unwrap();
        assert_eq!(cpus.iter().map(|c| c.processor).collect::<Vec<_>>(), [0, 1]);
    }
}
