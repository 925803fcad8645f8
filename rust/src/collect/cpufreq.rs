//! cpufreq: each online CPU's frequencies from `<sysfs>/devices/system/cpu/cpu<N>/cpufreq`
//! (kernel Documentation/admin-guide/pm/cpufreq.rst, kHz there, Hz here):
//! `node_cpu_frequency{,_min,_max}_hertz{cpu}` (cpuinfo_*), `node_cpu_scaling_frequency
//! {,_min,_max}_hertz{cpu}` (scaling_*), and `node_cpu_scaling_governor{cpu,governor}`.
//!
//! As node_exporter (procfs): CPUs listed in `offline` are skipped, as are CPUs without a
//! cpufreq directory (a VM has none: then nothing, and no error); a frequency file that is
//! missing or root's only is left out; the governor and driver files must be there, and a
//! `stats/` file that doesn't parse fails the collector. Reading a CPU's cpufreq can make the
//! kernel wait on that CPU, so CPUs are read in parallel, a few threads at a time, as
//! node_exporter reads them in goroutines.

use super::cpu::parse_cpu_list;
use super::{malformed, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::{Path, PathBuf};

/// Threads reading CPUs at once.
const READERS: usize = 8;

/// The uint files, in the order of [`FAMILIES`].
const FILES: [&str; 6] = [
    "cpuinfo_cur_freq",
    "cpuinfo_min_freq",
    "cpuinfo_max_freq",
    "scaling_cur_freq",
    "scaling_min_freq",
    "scaling_max_freq",
];

/// `(family, help)` of each frequency.
const FAMILIES: [(&str, &str); 6] = [
    ("node_cpu_frequency_hertz", "Current CPU thread frequency in hertz."),
    ("node_cpu_frequency_min_hertz", "Minimum CPU thread frequency in hertz."),
    ("node_cpu_frequency_max_hertz", "Maximum CPU thread frequency in hertz."),
    ("node_cpu_scaling_frequency_hertz", "Current scaled CPU thread frequency in hertz."),
    ("node_cpu_scaling_frequency_min_hertz", "Minimum scaled CPU thread frequency in hertz."),
    ("node_cpu_scaling_frequency_max_hertz", "Maximum scaled CPU thread frequency in hertz."),
];

/// One CPU's reading.
#[derive(Debug, Default, PartialEq)]
pub struct CpuFreq {
    /// The CPU number.
    pub cpu: String,
    /// kHz of [`FILES`], where present.
    pub khz: [Option<u64>; 6],
    /// `scaling_available_governors`, and `scaling_governor`.
    pub governors: (String, String),
}

fn io_error(path: &Path, err: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", path.display())))
}

/// A file that may be missing or root's only (`None`), else must hold what `parse` takes.
fn optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if matches!(err.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied) => {
            Ok(None)
        }
        Err(err) => Err(io_error(path, err)),
    }
}

/// Reads one CPU's cpufreq directory.
pub fn read_cpu(cpu: &str, dir: &Path) -> Result<CpuFreq> {
    let mut reading = CpuFreq { cpu: cpu.to_owned(), ..CpuFreq::default() };
    for (slot, file) in reading.khz.iter_mut().zip(FILES) {
        let path = dir.join(file);
        if let Some(text) = optional(&path)? {
            *slot = Some(text.trim().parse().map_err(|_| malformed(&path.display().to_string(), &text))?);
        }
    }
    if let Some(text) = optional(&dir.join("cpuinfo_transition_latency"))? {
        text.trim().parse::<u64>().map_err(|_| malformed("cpuinfo_transition_latency", &text))?;
    }
    let required = |file: &str| -> Result<String> {
        let path = dir.join(file);
        std::fs::read_to_string(&path).map(|t| t.trim().to_owned()).map_err(|err| io_error(&path, err))
    };
    for file in ["scaling_driver", "related_cpus", "scaling_setspeed"] {
        required(file)?;
    }
    reading.governors = (required("scaling_available_governors")?, required("scaling_governor")?);
    check_stats(&dir.join("stats"))?;
    Ok(reading)
}

/// The `stats/` files are parsed by node_exporter even though it reports none of them: one
/// that doesn't parse fails its collector, here too.
fn check_stats(dir: &Path) -> Result<()> {
    if let Some(text) = optional(&dir.join("total_trans"))? {
        text.trim().parse::<u64>().map_err(|_| malformed("cpufreq stats/total_trans", &text))?;
    }
    if let Some(text) = optional(&dir.join("time_in_state"))? {
        for line in text.lines().filter(|l| !l.is_empty()) {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            if fields.len() != 2 || fields.iter().any(|f| f.parse::<u64>().is_err()) {
                return Err(malformed("cpufreq stats/time_in_state line", line));
            }
        }
    }
    if let Some(text) = optional(&dir.join("trans_table"))? {
        for line in text.split('\n').skip(1).filter(|l| !l.is_empty()) {
            let mut fields: Vec<&str> = line.split_ascii_whitespace().collect();
            if let Some(first) = fields.first_mut() {
                *first = first.trim_end_matches(':');
            }
            if fields.iter().any(|f| !f.is_empty() && f.parse::<u64>().is_err()) {
                return Err(malformed("cpufreq stats/trans_table line", line));
            }
        }
    }
    Ok(())
}

struct Cpufreq {
    dir: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Cpufreq { dir: config.paths.sys("devices/system/cpu") }))
}

impl Cpufreq {
    /// The online CPUs that have cpufreq, in node_exporter's (lexical) order.
    fn cpus(&self) -> Result<Vec<(String, PathBuf)>> {
        let offline_path = self.dir.join("offline");
        let offline = std::fs::read_to_string(&offline_path).map_err(|err| io_error(&offline_path, err))?;
        let offline = if offline.trim().is_empty() { Vec::new() } else { parse_cpu_list(&offline)? };
        let mut cpus = super::thermal_zone::numbered(&self.dir, "cpu")?;
        cpus.retain(|(n, dir)| n.parse::<u32>().is_ok_and(|n| !offline.contains(&n)) && dir.join("cpufreq").is_dir());
        Ok(cpus)
    }
}

impl NodeCollector for Cpufreq {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let cpus = self.cpus()?;
        let chunk = cpus.len().div_ceil(READERS).max(1);
        let readings: Vec<Result<CpuFreq>> = std::thread::scope(|scope| {
            let readers: Vec<_> = cpus
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || part.iter().map(|(n, d)| read_cpu(n, &d.join("cpufreq"))).collect::<Vec<_>>())
                })
                .collect();
            readers
                .into_iter()
                .flat_map(|r| {
                    r.join().unwrap_or_else(|_| vec![Err(Error::InvalidValue("cpufreq reader panicked".into()))])
                })
                .collect()
        });
        let readings: Vec<CpuFreq> = readings.into_iter().collect::<Result<_>>()?;
        let mut families = Vec::new();
        for (i, (name, help)) in FAMILIES.into_iter().enumerate() {
            let mut family = MetricFamily::new(name, help, MetricType::Gauge, "");
            for reading in &readings {
                if let Some(khz) = reading.khz[i] {
                    family.push("", vec![("cpu".into(), reading.cpu.clone().into())], khz as f64 * 1000.0);
                }
            }
            families.push(family);
        }
        let mut governors = MetricFamily::new(
            "node_cpu_scaling_governor",
            "Current enabled CPU frequency governor.",
            MetricType::Gauge,
            "",
        );
        for reading in &readings {
            let (available, current) = &reading.governors;
            if current.is_empty() {
                continue;
            }
            for governor in available.split(' ') {
                let labels =
                    vec![("cpu".into(), reading.cpu.clone().into()), ("governor".into(), governor.to_owned().into())];
                governors.push("", labels, if governor == current { 1.0 } else { 0.0 });
            }
        }
        families.push(governors);
        out.extend(families.into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, scrape, sysfs_at, TempTree};

    #[test]
    fn collects_the_online_cpus_of_the_fixture() {
        let out = scrape(build, &fixture_config()).unwrap();
        let get = |name: &str| -> Vec<(String, f64)> {
            let family = out.iter().find(|f| f.name == name).unwrap();
            family
                .samples
                .iter()
                .map(|s| (s.labels.iter().map(|(_, v)| v.to_string()).collect::<Vec<_>>().join(","), s.value))
                .collect()
        };
        assert_eq!(get("node_cpu_frequency_hertz"), [("0".to_owned(), 2.1e9)], "cpu1 has no cpuinfo_cur_freq");
        assert_eq!(
            get("node_cpu_scaling_frequency_hertz"),
            [("0".to_owned(), 1.8e9), ("1".to_owned(), 2.0e9)],
            "cpu2 is offline"
        );
        assert_eq!(get("node_cpu_frequency_max_hertz")[1].1, 3.4e9);
        let governors = get("node_cpu_scaling_governor");
        assert_eq!(governors[..2], [("0,performance".to_owned(), 0.0), ("0,powersave".to_owned(), 1.0)]);
    }

    #[test]
    fn garbled_stats_or_a_missing_governor_fail() {
        let tree = TempTree::new("cpufreq");
        let freq = "devices/system/cpu/cpu0/cpufreq";
        tree.create_dir(format!("{freq}/stats"));
        tree.write("devices/system/cpu/offline", "\n");
        tree.write(format!("{freq}/scaling_cur_freq"), "1000000\n");
        let collector = build(&sysfs_at(tree.root())).unwrap();
        let err = collector.update(&mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("scaling_driver"), "{err}");
        for (file, value) in [
            ("scaling_driver", "acpi"),
            ("related_cpus", "0"),
            ("scaling_setspeed", "x"),
            ("scaling_available_governors", "ondemand"),
            ("scaling_governor", "ondemand"),
        ] {
            tree.write(format!("{freq}/{file}"), value);
        }
        tree.write(format!("{freq}/stats/time_in_state"), "1000000 12 7\n");
        let err = collector.update(&mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("time_in_state"), "{err}");
        tree.remove(format!("{freq}/stats/time_in_state"));
        let mut out = Vec::new();
        collector.update(&mut out).unwrap();
        assert_eq!(out.len(), 2, "scaling_frequency_hertz and the governor");
        assert!(read_cpu("0", Path::new("/nonexistent")).unwrap_err().to_string().contains("scaling_driver"));
    }
}
