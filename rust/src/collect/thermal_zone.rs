//! thermal_zone: `node_thermal_zone_temp{type,zone}` (°C) for each
//! `<sysfs>/class/thermal/thermal_zone<N>`, and `node_cooling_device_{cur,max}_state{name,type}`
//! for each `cooling_device<N>` (kernel Documentation/driver-api/thermal/sysfs-api.rst).
//!
//! As node_exporter (procfs' sysfs package): a zone whose type, policy or temp can't be read
//! (a sensor that answers ENODATA while its device is down) is skipped; a temp or passive
//! value that isn't a number fails the collector, as does any cooling device that can't be
//! read whole. No thermal class at all is no error: a VM has none.

use super::{malformed, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::{Path, PathBuf};

/// The entries of `dir` named `<prefix><digits...>`, sorted by name (Go's Glob order).
pub fn numbered(dir: &Path, prefix: &str) -> Result<Vec<(String, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", dir.display())))),
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let suffix = name.strip_prefix(prefix)?;
            suffix.starts_with(|c: char| c.is_ascii_digit()).then(|| (suffix.to_owned(), e.path()))
        })
        .collect();
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

/// A sysfs attribute, trimmed, without keeping a descriptor open (there may be many).
fn attribute(path: &Path) -> std::io::Result<String> {
    Ok(std::fs::read_to_string(path)?.trim().to_owned())
}

fn io_error(path: &Path, err: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", path.display())))
}

/// `(type, °C)` of a zone, `None` when it is to be skipped.
pub fn read_zone(dir: &Path) -> Result<Option<(String, f64)>> {
    let (Ok(kind), Ok(_policy), Ok(temp)) =
        (attribute(&dir.join("type")), attribute(&dir.join("policy")), attribute(&dir.join("temp")))
    else {
        return Ok(None);
    };
    let temp: i64 = temp.parse().map_err(|_| malformed(&format!("{}/temp", dir.display()), &temp))?;
    match attribute(&dir.join("passive")) {
        Ok(passive) if passive.parse::<u64>().is_err() => {
            return Err(malformed(&format!("{}/passive", dir.display()), &passive))
        }
        _ => {}
    }
    Ok(Some((kind, temp as f64 / 1000.0)))
}

/// `(type, max_state, cur_state)` of a cooling device; any failure is the collector's.
pub fn read_cooling_device(dir: &Path) -> Result<(String, f64, f64)> {
    let read = |file: &str| attribute(&dir.join(file)).map_err(|err| io_error(&dir.join(file), err));
    let number = |file: &str| -> Result<f64> {
        let text = read(file)?;
        text.parse::<i64>().map(|v| v as f64).map_err(|_| malformed(&format!("{}/{file}", dir.display()), &text))
    };
    Ok((read("type")?, number("max_state")?, number("cur_state")?))
}

struct ThermalZone {
    dir: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(ThermalZone { dir: config.paths.sys("class/thermal") }))
}

impl NodeCollector for ThermalZone {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let mut temp =
            MetricFamily::new("node_thermal_zone_temp", "Zone temperature in Celsius", MetricType::Gauge, "");
        for (zone, dir) in numbered(&self.dir, "thermal_zone")? {
            if let Some((kind, celsius)) = read_zone(&dir)? {
                temp.push("", vec![("type".into(), kind.into()), ("zone".into(), zone.into())], celsius);
            }
        }
        let help = "Current throttle state of the cooling device";
        let mut current = MetricFamily::new("node_cooling_device_cur_state", help, MetricType::Gauge, "");
        let help = "Maximum throttle state of the cooling device";
        let mut max = MetricFamily::new("node_cooling_device_max_state", help, MetricType::Gauge, "");
        for (name, dir) in numbered(&self.dir, "cooling_device")? {
            let (kind, max_state, cur_state) = read_cooling_device(&dir)?;
            let labels = vec![("name".into(), name.into()), ("type".into(), kind.into())];
            current.push("", labels.clone(), cur_state);
            max.push("", labels, max_state);
        }
        out.extend([temp, current, max].into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, scrape, sysfs_at, TempTree};

    fn values(family: &MetricFamily) -> Vec<(Vec<&str>, f64)> {
        family.samples.iter().map(|s| (s.labels.iter().map(|(_, v)| v.as_ref()).collect(), s.value)).collect()
    }

    #[test]
    fn collects_from_the_fixture() {
        let out = scrape(build, &fixture_config()).unwrap();
        assert_eq!(
            values(&out[0]),
            [(vec!["x86_pkg_temp", "0"], 48.0), (vec!["acpitz", "1"], 27.8)],
            "zone 2 has no temp"
        );
        assert_eq!(values(&out[1]), [(vec!["0", "Processor"], 0.0), (vec!["1", "intel_powerclamp"], -1.0)]);
        assert_eq!(out[2].name, "node_cooling_device_max_state");
        assert_eq!(values(&out[2])[1].1, 50.0);
    }

    #[test]
    fn garbled_values_fail_and_no_thermal_class_is_empty() {
        let tree = TempTree::new("thermal");
        let zone = "class/thermal/thermal_zone0";
        for (file, value) in [("type", "acpitz"), ("policy", "step_wise"), ("temp", "hot")] {
            tree.write(format!("{zone}/{file}"), value);
        }
        let collector = build(&sysfs_at(tree.root())).unwrap();
        assert!(collector.update(&mut Vec::new()).unwrap_err().to_string().contains("thermal_zone0/temp"));
        // A zone without a readable temp (a sensor whose device is down) is skipped (procfs 0.15;
        // node_exporter 1.5's older procfs failed the collector).
        tree.remove(format!("{zone}/temp"));
        let mut out = Vec::new();
        collector.update(&mut out).unwrap();
        assert!(out.is_empty());
        tree.write(format!("{zone}/temp"), "30000");
        tree.write("class/thermal/cooling_device0/type", "Fan");
        let err = collector.update(&mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("cooling_device0/max_state"), "a truncated cooling device: {err}");
        assert!(scrape(build, &sysfs_at("/nonexistent")).unwrap().is_empty());
    }
}
