//! powersupplyclass: each power supply of `<sysfs>/class/power_supply` (kernel
//! Documentation/ABI/testing/sysfs-class-power): `node_power_supply_<property>{power_supply}`
//! for each numeric attribute it has (µA, µV, µW, µWh, µAh turned into A, V, W, Wh, Ah; tenths
//! of °C into °C), and `node_power_supply_info{power_supply,...}` with its text attributes
//! (labels only for those present), under node_exporter 1.9's names.
//!
//! As node_exporter (procfs): only regular files are read (at most 128 bytes, trimmed); an
//! attribute the driver refuses (EINVAL, ENODEV, EOPNOTSUPP, vanished) is left out, as is a
//! number that doesn't parse; any other read error fails the collector. No power_supply class
//! at all is node_exporter's "no data" (a failure); an empty one (a VM) is no error.

use super::{absent_is_no_data, parse_go_int, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// `(attribute file, metric property, divisor)` of the numeric attributes.
const NUMBERS: [(&str, &str, f64); 49] = [
    ("authentic", "authentic", 1.0),
    ("calibrate", "calibrate", 1.0),
    ("capacity", "capacity", 1.0),
    ("capacity_alert_max", "capacity_alert_max", 1.0),
    ("capacity_alert_min", "capacity_alert_min", 1.0),
    ("cycle_count", "cyclecount", 1.0),
    ("online", "online", 1.0),
    ("present", "present", 1.0),
    ("time_to_empty_now", "time_to_empty_seconds", 1.0),
    ("time_to_full_now", "time_to_full_seconds", 1.0),
    ("current_boot", "current_boot", 1e6),
    ("current_max", "current_max", 1e6),
    ("current_now", "current_ampere", 1e6),
    ("energy_empty", "energy_empty", 1e6),
    ("energy_empty_design", "energy_empty_design", 1e6),
    ("energy_full", "energy_full", 1e6),
    ("energy_full_design", "energy_full_design", 1e6),
    ("energy_now", "energy_watthour", 1e6),
    ("voltage_boot", "voltage_boot", 1e6),
    ("voltage_max", "voltage_max", 1e6),
    ("voltage_max_design", "voltage_max_design", 1e6),
    ("voltage_min", "voltage_min", 1e6),
    ("voltage_min_design", "voltage_min_design", 1e6),
    ("voltage_now", "voltage_volt", 1e6),
    ("voltage_ocv", "voltage_ocv", 1e6),
    ("charge_control_limit", "charge_control_limit", 1e6),
    ("charge_control_limit_max", "charge_control_limit_max", 1e6),
    ("charge_counter", "charge_counter", 1e6),
    ("charge_empty", "charge_empty", 1e6),
    ("charge_empty_design", "charge_empty_design", 1e6),
    ("charge_full", "charge_full", 1e6),
    ("charge_full_design", "charge_full_design", 1e6),
    ("charge_now", "charge_ampere", 1e6),
    ("charge_term_current", "charge_term_current", 1e6),
    ("constant_charge_current", "constant_charge_current", 1e6),
    ("constant_charge_current_max", "constant_charge_current_max", 1e6),
    ("constant_charge_voltage", "constant_charge_voltage", 1e6),
    ("constant_charge_voltage_max", "constant_charge_voltage_max", 1e6),
    ("precharge_current", "precharge_current", 1e6),
    ("input_current_limit", "input_current_limit", 1e6),
    ("power_now", "power_watt", 1e6),
    ("temp", "temp_celsius", 10.0),
    ("temp_alert_max", "temp_alert_max_celsius", 10.0),
    ("temp_alert_min", "temp_alert_min_celsius", 10.0),
    ("temp_ambient", "temp_ambient_celsius", 10.0),
    ("temp_ambient_max", "temp_ambient_max_celsius", 10.0),
    ("temp_ambient_min", "temp_ambient_min_celsius", 10.0),
    ("temp_max", "temp_max_celsius", 10.0),
    ("temp_min", "temp_min_celsius", 10.0),
];

/// The text attributes that label `node_power_supply_info` (besides power_supply).
const TEXTS: [&str; 11] = [
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "scope",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
];

/// An attribute's text, `None` for the errors node_exporter skips.
fn attribute(path: &Path) -> Result<Option<String>> {
    let mut buf = [0u8; 128];
    match std::fs::File::open(path).and_then(|mut f| f.read(&mut buf)) {
        Ok(n) => Ok(Some(String::from_utf8_lossy(&buf[..n]).trim().to_owned())),
        Err(err)
            if err.kind() == std::io::ErrorKind::NotFound
                || matches!(err.raw_os_error(), Some(libc::EINVAL | libc::ENODEV | libc::EOPNOTSUPP)) =>
        {
            Ok(None)
        }
        Err(err) => Err(Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", path.display())))),
    }
}

/// One supply's attributes, by file name.
pub fn read_supply(dir: &Path) -> Result<BTreeMap<String, String>> {
    let io = |err: std::io::Error| Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", dir.display())));
    let mut attributes = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io)?.filter_map(|e| e.ok()) {
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if let Some(value) = attribute(&entry.path())? {
            attributes.insert(entry.file_name().to_string_lossy().into_owned(), value);
        }
    }
    Ok(attributes)
}

struct PowerSupplyClass {
    dir: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(PowerSupplyClass { dir: config.paths.sys("class/power_supply") }))
}

impl NodeCollector for PowerSupplyClass {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        absent_is_no_data(self.families(out))
    }
}

impl PowerSupplyClass {
    fn families(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let io =
            |err: std::io::Error| Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", self.dir.display())));
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .map_err(io)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut families: BTreeMap<&str, MetricFamily> = BTreeMap::new();
        let help = "info of /sys/class/power_supply/<power_supply>.";
        let mut info = MetricFamily::new("node_power_supply_info", help, MetricType::Gauge, "");
        for name in names {
            let attributes = read_supply(&self.dir.join(&name))?;
            let supply: Text = name.clone().into();
            for (file, property, divisor) in NUMBERS {
                let Some(value) = attributes.get(file).and_then(|v| parse_go_int(v)) else { continue };
                let family = families.entry(property).or_insert_with(|| {
                    let help = format!("{property} value of /sys/class/power_supply/<power_supply>.");
                    MetricFamily::new(format!("node_power_supply_{property}"), help, MetricType::Gauge, "")
                });
                family.push("", vec![("power_supply".into(), supply.clone())], value as f64 / divisor);
            }
            let mut labels: Vec<(Text, Text)> = TEXTS
                .iter()
                .filter_map(|t| attributes.get(*t).filter(|v| !v.is_empty()).map(|v| ((*t).into(), v.clone().into())))
                .collect();
            labels.push(("power_supply".into(), supply));
            labels.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
            info.push("", labels, 1.0);
        }
        out.extend(families.into_values());
        if !info.samples.is_empty() {
            out.push(info);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, scrape, sysfs_at, update_error, TempTree};

    #[test]
    fn collects_the_fixture_supplies() {
        let out = scrape(build, &fixture_config()).unwrap();
        let get = |name: &str| -> Vec<(String, f64)> {
            let family = out.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("{name}"));
            family.samples.iter().map(|s| (s.labels[0].1.to_string(), s.value)).collect()
        };
        assert_eq!(get("node_power_supply_online"), [("AC".to_owned(), 1.0)]);
        assert_eq!(get("node_power_supply_energy_watthour"), [("BAT0".to_owned(), 39.87)]);
        assert_eq!(get("node_power_supply_power_watt"), [("BAT0".to_owned(), 7.368)]);
        assert_eq!(get("node_power_supply_cyclecount"), [("BAT0".to_owned(), 0.0)]);
        let info = out.iter().find(|f| f.name == "node_power_supply_info").unwrap();
        let bat: Vec<&str> = info.samples[1].labels.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(
            bat,
            [
                "capacity_level",
                "manufacturer",
                "model_name",
                "power_supply",
                "serial_number",
                "status",
                "technology",
                "type"
            ]
        );
    }

    #[test]
    fn a_missing_class_fails_and_garbled_values_are_left_out() {
        assert!(update_error(build, &sysfs_at("/nonexistent")).to_string().contains("class/power_supply"));
        let tree = TempTree::new("psu");
        tree.write("class/power_supply/BAT1/capacity", "full\n");
        tree.write("class/power_supply/BAT1/temp", "251\n");
        let out = scrape(build, &sysfs_at(tree.root())).unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_ref()).collect();
        assert_eq!(names, ["node_power_supply_temp_celsius", "node_power_supply_info"]);
        assert_eq!(out[0].samples[0].value, 25.1);
    }
}
