//! System collectors in node_exporter's model: one file per collector, each a pure `parse_*`
//! function over text plus a thin [`NodeCollector`] that reads through [`Paths`] (so
//! `--path.procfs` and the fixtures in tests work alike), registered by name in [`FACTORIES`]
//! with node_exporter's default state.
//!
//! [`NodeCollectors`] runs the enabled ones at each scrape, one after another (most take
//! microseconds; a thread per collector would cost more CPU than it saves), and reports
//! `node_scrape_collector_duration_seconds` and `node_scrape_collector_success` per collector.
//! A failing collector contributes nothing but its `success 0` and one log line; the others and
//! the scrape go on. The line is written when the failure starts (or its error changes), not at
//! every scrape. A collector whose source this host doesn't have (no nf_conntrack, no md, no
//! hwmon: node_exporter's `ErrNoData`) says so with [`no_data`]: success 0, and a line at debug
//! level only, as node_exporter logs those.

pub mod arp;
pub mod bcache;
pub mod bonding;
pub mod btrfs;
pub mod conntrack;
pub mod cpu;
pub mod cpufreq;
pub mod diskstats;
pub mod dmi;
pub mod edac;
pub mod entropy;
pub mod fibrechannel;
pub mod filefd;
pub mod filesystem;
pub mod gpu_nvidia;
pub mod hwmon;
pub mod infiniband;
pub mod ipvs;
pub mod kernel_file;
pub mod loadavg;
pub mod mdadm;
pub mod meminfo;
pub mod netclass;
pub mod netdev;
pub mod netstat;
pub mod nfs;
pub mod nfsd;
pub mod nvme;
pub mod os;
pub mod paths;
pub mod powersupplyclass;
pub mod pressure;
pub mod process;
pub mod rapl;
pub mod schedstat;
pub mod selinux;
pub mod sockstat;
pub mod softnet;
pub mod stat;
pub mod tapestats;
#[cfg(test)]
pub mod testing;
pub mod textfile;
pub mod thermal_zone;
pub mod time;
pub mod timex;
pub mod udp_queues;
pub mod uname;
pub mod vmstat;
pub mod watchdog;
pub mod xfs;
pub mod zfs;

use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::Options;
use crate::registry::{Collector, MetricFamily, Text};
pub use paths::Paths;
use std::path::PathBuf;
use std::time::Instant;

/// What the collectors are told at start (node_exporter's `--path.*` and `--collector.*` flags).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where procfs, sysfs and the root file system are.
    pub paths: Paths,
    /// `--collector.textfile.directory`: where `*.prom` files are read from.
    pub textfile_directory: Option<PathBuf>,
    /// `--collector.filesystem.mount-points-exclude` (a regex), when not the default.
    pub filesystem_mount_points_exclude: Option<String>,
    /// `--collector.filesystem.fs-types-exclude` (a regex), when not the default.
    pub filesystem_fs_types_exclude: Option<String>,
    /// `--collector.filesystem.mount-points-include` (a regex).
    pub filesystem_mount_points_include: Option<String>,
    /// `--collector.filesystem.fs-types-include` (a regex).
    pub filesystem_fs_types_include: Option<String>,
    /// `--collector.netdev.device-exclude` (a regex).
    pub netdev_device_exclude: Option<String>,
    /// `--collector.netdev.device-include` (a regex; not with device-exclude).
    pub netdev_device_include: Option<String>,
    /// `--collector.diskstats.device-include` (a regex; not with device-exclude, whose default
    /// must then be cleared, as in node_exporter).
    pub diskstats_device_include: Option<String>,
    /// `--collector.diskstats.device-exclude` (a regex), when not the default.
    pub diskstats_device_exclude: Option<String>,
    /// `--collector.gpu.nvml-library`, when not `libnvidia-ml.so.1`.
    pub gpu_nvml_library: Option<PathBuf>,
    /// `--collector.gpu.interval`, when not 1 s.
    pub gpu_interval: Option<std::time::Duration>,
    /// `--collector.gpu.pcie`: also read PCIe throughput.
    pub gpu_pcie: bool,
    /// `--collector.gpu.names=dcgm`: dcgm-exporter's names, units and labels.
    pub gpu_names_dcgm: bool,
    /// `--collector.netstat.fields` (a regex), when not the default.
    pub netstat_fields: Option<String>,
    /// `--collector.vmstat.fields` (a regex), when not the default.
    pub vmstat_fields: Option<String>,
    /// `--collector.netclass.ignored-devices` (a regex), when not the default (`^$`).
    pub netclass_ignored_devices: Option<String>,
    /// `--collector.netclass.ignore-invalid-speed`: no `speed_bytes` for a speed of -1.
    pub netclass_ignore_invalid_speed: bool,
    /// `--collector.arp.device-include` (a regex).
    pub arp_device_include: Option<String>,
    /// `--collector.arp.device-exclude` (a regex).
    pub arp_device_exclude: Option<String>,
    /// `--collector.tapestats.ignored-devices` (a regex), when not the default (`^$`).
    pub tapestats_ignored_devices: Option<String>,
    /// `--collector.ipvs.backend-labels` (comma-separated), when not the default (all six).
    pub ipvs_backend_labels: Option<String>,
    /// `--collector.bcache.priorityStats`: also read each cache's `priority_stats` (slow).
    pub bcache_priority_stats: bool,
    /// `--collector.cpu.info`: also report `/proc/cpuinfo`.
    pub cpu_info: bool,
    /// `--collector.cpu.info.flags-include` (a regex; needs `cpu_info`).
    pub cpu_info_flags_include: Option<String>,
    /// `--collector.cpu.info.bugs-include` (a regex; needs `cpu_info`).
    pub cpu_info_bugs_include: Option<String>,
    /// Whether the cpufreq collector runs (set by [`NodeCollectors::new`]); without it, cpu
    /// info reports the frequencies of `/proc/cpuinfo`, as node_exporter does.
    pub cpufreq_enabled: bool,
    /// Also report this process's `process_virtual_memory_max_bytes`, as node_exporter's
    /// process metrics (client_golang's) have it and prometheus_client's don't: the daemon's
    /// own metrics, off with `--web.disable-exporter-metrics`.
    pub virtual_memory_max: bool,
}

/// One system collector.
pub trait NodeCollector: Send + Sync {
    /// Appends this collector's metric families, or fails as a whole.
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()>;
}

/// A collector known by name.
pub struct Factory {
    /// The name in `--collector.<name>`, `collect[]` and the `collector` label.
    pub name: &'static str,
    /// Whether node_exporter enables it unless told otherwise.
    pub enabled_by_default: bool,
    /// Builds it; fails on a bad flag value (a regex that doesn't compile, say).
    pub build: fn(&Config) -> Result<Box<dyn NodeCollector>>,
}

/// Every collector, in the order their families are exposed.
pub const FACTORIES: &[Factory] = &[
    Factory { name: "arp", enabled_by_default: true, build: arp::build },
    Factory { name: "bcache", enabled_by_default: true, build: bcache::build },
    Factory { name: "bonding", enabled_by_default: true, build: bonding::build },
    Factory { name: "btrfs", enabled_by_default: true, build: btrfs::build },
    Factory { name: "conntrack", enabled_by_default: true, build: conntrack::build },
    Factory { name: "cpu", enabled_by_default: true, build: cpu::build },
    Factory { name: "cpufreq", enabled_by_default: true, build: cpufreq::build },
    Factory { name: "diskstats", enabled_by_default: true, build: diskstats::build },
    Factory { name: "dmi", enabled_by_default: true, build: dmi::build },
    Factory { name: "edac", enabled_by_default: true, build: edac::build },
    Factory { name: "entropy", enabled_by_default: true, build: entropy::build },
    Factory { name: "fibrechannel", enabled_by_default: true, build: fibrechannel::build },
    Factory { name: "filefd", enabled_by_default: true, build: filefd::build },
    Factory { name: "filesystem", enabled_by_default: true, build: filesystem::build },
    Factory { name: "gpu", enabled_by_default: true, build: gpu_nvidia::build },
    Factory { name: "hwmon", enabled_by_default: true, build: hwmon::build },
    Factory { name: "infiniband", enabled_by_default: true, build: infiniband::build },
    Factory { name: "ipvs", enabled_by_default: true, build: ipvs::build },
    Factory { name: "loadavg", enabled_by_default: true, build: loadavg::build },
    Factory { name: "mdadm", enabled_by_default: true, build: mdadm::build },
    Factory { name: "meminfo", enabled_by_default: true, build: meminfo::build },
    Factory { name: "netclass", enabled_by_default: true, build: netclass::build },
    Factory { name: "netdev", enabled_by_default: true, build: netdev::build },
    Factory { name: "netstat", enabled_by_default: true, build: netstat::build },
    Factory { name: "nfs", enabled_by_default: true, build: nfs::build },
    Factory { name: "nfsd", enabled_by_default: true, build: nfsd::build },
    Factory { name: "nvme", enabled_by_default: true, build: nvme::build },
    Factory { name: "os", enabled_by_default: true, build: os::build },
    Factory { name: "powersupplyclass", enabled_by_default: true, build: powersupplyclass::build },
    Factory { name: "pressure", enabled_by_default: true, build: pressure::build },
    Factory { name: "rapl", enabled_by_default: true, build: rapl::build },
    Factory { name: "schedstat", enabled_by_default: true, build: schedstat::build },
    Factory { name: "selinux", enabled_by_default: true, build: selinux::build },
    Factory { name: "sockstat", enabled_by_default: true, build: sockstat::build },
    Factory { name: "softnet", enabled_by_default: true, build: softnet::build },
    Factory { name: "stat", enabled_by_default: true, build: stat::build },
    Factory { name: "tapestats", enabled_by_default: true, build: tapestats::build },
    Factory { name: "textfile", enabled_by_default: true, build: textfile::build },
    Factory { name: "thermal_zone", enabled_by_default: true, build: thermal_zone::build },
    Factory { name: "time", enabled_by_default: true, build: time::build },
    Factory { name: "timex", enabled_by_default: true, build: timex::build },
    Factory { name: "udp_queues", enabled_by_default: true, build: udp_queues::build },
    Factory { name: "uname", enabled_by_default: true, build: uname::build },
    Factory { name: "vmstat", enabled_by_default: true, build: vmstat::build },
    Factory { name: "watchdog", enabled_by_default: true, build: watchdog::build },
    Factory { name: "xfs", enabled_by_default: true, build: xfs::build },
    Factory { name: "zfs", enabled_by_default: true, build: zfs::build },
];

/// The enabled collectors, run at each scrape.
pub struct NodeCollectors {
    collectors: Vec<(&'static str, Box<dyn NodeCollector>)>,
    /// [`Config::virtual_memory_max`].
    virtual_memory_max: bool,
    /// The error last logged per failing collector.
    failing: parking_lot::Mutex<hashbrown::HashMap<&'static str, String>>,
}

impl NodeCollectors {
    /// Builds the named collectors; an unknown name is an error listing the known ones.
    pub fn new(config: &Config, enabled: &[String]) -> Result<NodeCollectors> {
        let mut collectors = Vec::new();
        for name in enabled {
            if !FACTORIES.iter().any(|f| f.name == name) {
                let known: Vec<&str> = FACTORIES.iter().map(|f| f.name).collect();
                return Err(Error::InvalidValue(format!("unknown collector {name:?}; known collectors are {known:?}")));
            }
        }
        let config = &Config { cpufreq_enabled: enabled.iter().any(|e| e == "cpufreq"), ..config.clone() };
        for factory in FACTORIES.iter().filter(|f| enabled.iter().any(|e| e == f.name)) {
            collectors.push((factory.name, (factory.build)(config)?));
        }
        Ok(NodeCollectors { collectors, virtual_memory_max: config.virtual_memory_max, failing: Default::default() })
    }
}

impl Collector for NodeCollectors {
    fn collect(&self, options: &Options, out: &mut Vec<MetricFamily>) -> Result<()> {
        let help = "node_exporter: Duration of a collector scrape.";
        let mut durations = MetricFamily::new("node_scrape_collector_duration_seconds", help, MetricType::Gauge, "");
        let help = "node_exporter: Whether a collector succeeded.";
        let mut successes = MetricFamily::new("node_scrape_collector_success", help, MetricType::Gauge, "");
        kernel_file::within_one_scrape(|| {
            for (name, collector) in self.collectors.iter().filter(|(name, _)| options.wants(name)) {
                let started = Instant::now();
                let before = out.len();
                let ok = match collector.update(out) {
                    Ok(()) => {
                        self.failing.lock().remove(name);
                        true
                    }
                    Err(err) => {
                        out.truncate(before);
                        let error = err.to_string();
                        let logged = self.failing.lock().insert(name, error.clone());
                        if logged.as_ref() != Some(&error) {
                            let fields = [("collector", *name), ("error", error.as_str())];
                            if is_no_data(&err) {
                                crate::log::debug("collector has no data", &fields);
                            } else {
                                crate::log::error("collector failed", &fields);
                            }
                        }
                        false
                    }
                };
                let label: Vec<(Text, Text)> = vec![("collector".into(), (*name).into())];
                durations.push("", label.clone(), started.elapsed().as_secs_f64());
                successes.push("", label, if ok { 1.0 } else { 0.0 });
            }
        });
        out.push(durations);
        out.push(successes);
        if self.virtual_memory_max {
            out.push(process::virtual_memory_max());
        }
        Ok(())
    }
}

/// The `(name, help)` a collector made for each field it has seen, reused at later scrapes
/// (meminfo and vmstat name a family after each line of their file).
#[derive(Default)]
pub struct FieldNames(parking_lot::Mutex<hashbrown::HashMap<String, (Text, Text)>>);

impl FieldNames {
    /// The name and help for `field`, made by `make` the first time.
    pub fn get(&self, field: &str, make: impl FnOnce() -> (String, String)) -> (Text, Text) {
        let mut names = self.0.lock();
        if let Some(known) = names.get(field) {
            return known.clone();
        }
        let (name, help) = make();
        let made = (Text::from(name), Text::from(help));
        names.insert(field.to_owned(), made.clone());
        made
    }
}

/// A family with one unlabeled sample.
pub fn single(name: impl Into<Text>, help: impl Into<Text>, kind: MetricType, value: f64) -> MetricFamily {
    let mut family = MetricFamily::new(name, help, kind, "");
    family.push("", Vec::new(), value);
    family
}

/// Reads a file under a collector's root, naming the path when it fails. Files of procfs and
/// sysfs stay open between scrapes (see [`kernel_file`]).
pub fn read(path: &std::path::Path) -> Result<String> {
    kernel_file::read(path)
        .map_err(|err| Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", path.display()))))
}

/// Like [`read`], but a file that does not exist is `None` (a kernel without that feature).
pub fn read_if_exists(path: &std::path::Path) -> Result<Option<String>> {
    match read(path) {
        Ok(text) => Ok(Some(text)),
        Err(Error::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// The entries of a directory, `(name, path)` sorted by name (Go's `os.ReadDir` order); a
/// directory that doesn't exist is an error naming it, for [`absent_is_no_data`] to judge.
pub fn entries(dir: &std::path::Path) -> Result<Vec<(String, PathBuf)>> {
    let io = |err: std::io::Error| Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", dir.display())));
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    found.sort();
    Ok(found)
}

/// A sysfs attribute, trimmed (Go's `util.SysReadFile` and `strings.TrimSpace`), read without
/// keeping a descriptor open: devices' attributes are many.
pub fn attribute(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_owned())
        .map_err(|err| Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", path.display()))))
}

/// An attribute holding one unsigned decimal integer.
pub fn attribute_uint(path: &std::path::Path) -> Result<f64> {
    let text = attribute(path)?;
    text.parse::<u64>().map(|v| v as f64).map_err(|_| malformed(&path.display().to_string(), &text))
}

/// A file holding one unsigned decimal integer (Go's `strconv.ParseUint(trimmed, 10, 64)`).
pub fn read_uint(path: &std::path::Path) -> Result<f64> {
    let text = read(path)?;
    text.trim().parse::<u64>().map(|v| v as f64).map_err(|_| malformed(&path.display().to_string(), &text))
}

/// An integer as Go's `strconv.ParseInt(s, 0, 64)` reads it: a sign, then `0x`, `0o`, `0b` or
/// a leading `0` (octal) choose the base.
pub fn parse_go_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let lower = digits.get(..2).map(str::to_ascii_lowercase);
    let (radix, body) = match lower.as_deref() {
        Some("0x") => (16, &digits[2..]),
        Some("0o") => (8, &digits[2..]),
        Some("0b") => (2, &digits[2..]),
        _ if digits.len() > 1 && digits.starts_with('0') => (8, &digits[1..]),
        _ => (10, digits),
    };
    if body.is_empty() || body.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// An unsigned integer as Go's `strconv.ParseUint(s, 0, 64)` reads it (procfs' value parser
/// for sysfs counters): `0x`, `0o`, `0b` or a leading `0` choose the base.
pub fn parse_go_uint(text: &str) -> Option<u64> {
    if text.starts_with(['+', '-']) {
        return None;
    }
    let lower = text.get(..2).map(str::to_ascii_lowercase);
    let (radix, body) = match lower.as_deref() {
        Some("0x") => (16, &text[2..]),
        Some("0o") => (8, &text[2..]),
        Some("0b") => (2, &text[2..]),
        _ if text.len() > 1 && text.starts_with('0') => (8, &text[1..]),
        _ => (10, text),
    };
    if body.is_empty() || body.starts_with(['+', '-']) {
        return None;
    }
    u64::from_str_radix(body, radix).ok()
}

/// The `collector` of an [`Error::Collect`] made by [`no_data`].
const NO_DATA: &str = "no data";

/// The error of a collector whose source isn't on this host (node_exporter's `ErrNoData`).
pub fn no_data(message: impl Into<String>) -> Error {
    Error::Collect { collector: NO_DATA.into(), message: message.into() }
}

/// `result`, with a file or directory that doesn't exist (or may not be read) turned into
/// [`no_data`], for collectors node_exporter treats so.
pub fn absent_is_no_data<T>(result: Result<T>) -> Result<T> {
    match result {
        Err(Error::Io(err))
            if matches!(err.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied) =>
        {
            Err(no_data(err.to_string()))
        }
        other => other,
    }
}

/// Whether `err` is [`no_data`]'s.
pub fn is_no_data(err: &Error) -> bool {
    matches!(err, Error::Collect { collector, .. } if collector == NO_DATA)
}

/// The parse error for `what`, quoting the start of the offending text.
pub fn malformed(what: &str, text: &str) -> Error {
    let start: String = text.chars().take(60).collect();
    Error::InvalidValue(format!("malformed {what}: {start:?}"))
}

#[cfg(test)]
mod tests {
    use super::testing::fixture_config;
    use super::*;

    struct Failing;
    impl NodeCollector for Failing {
        fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
            out.push(single("half_written", "", MetricType::Gauge, 1.0));
            Err(malformed("thing", "garbage"))
        }
    }

    #[test]
    fn a_failing_collector_adds_only_its_success_0() {
        let mut collectors = NodeCollectors::new(&fixture_config(), &["loadavg".to_owned()]).unwrap();
        collectors.collectors.push(("failing", Box::new(Failing)));
        let mut out = Vec::new();
        collectors.collect(&Options::default(), &mut out).unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "node_load1",
                "node_load5",
                "node_load15",
                "node_scrape_collector_duration_seconds",
                "node_scrape_collector_success"
            ]
        );
        let success: Vec<f64> = out[4].samples.iter().map(|s| s.value).collect();
        assert_eq!(success, [1.0, 0.0]);
    }

    #[test]
    fn collect_filter_and_unknown_names() {
        let config = fixture_config();
        let collectors = NodeCollectors::new(&config, &["loadavg".to_owned()]).unwrap();
        let mut out = Vec::new();
        let options = Options { exclude: vec!["loadavg".into()], ..Options::default() };
        collectors.collect(&options, &mut out).unwrap();
        assert!(out.iter().all(|f| f.samples.is_empty()));
        let err = NodeCollectors::new(&config, &["nope".to_owned()]).err().unwrap().to_string();
        assert!(err.contains("unknown collector \"nope\""), "{err}");
    }
}
