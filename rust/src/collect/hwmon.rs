//! hwmon: the sensors of each chip in `<sysfs>/class/hwmon/hwmon<N>` (kernel
//! Documentation/hwmon/sysfs-interface.rst), named as node_exporter 1.9 names them:
//! `node_hwmon_<type>[_<property>]_<unit>{chip,sensor}` (temp `_celsius`, in `_volts`, fan
//! `_rpm`, power `_watt`, energy `_joule_total`, curr `_amps`, ...), `node_hwmon_chip_names`,
//! `node_hwmon_sensor_label`, and the chip-wide beep_enable, vrm and update_interval.
//!
//! The chip label is node_exporter's: `<bus>_<device>` of the resolved `device` link (cleaned
//! to `[a-z0-9:_]`), else the `name` file, else the directory's real name. Sensor files are
//! `<type><N>[_<property>]`, read from the chip's directory and its `device`, at most 128 bytes;
//! a file that can't be read or doesn't hold a number is left out, as node_exporter does.
//! Samples are in chip directory order, then sensor order (node_exporter's order is a map's).

use super::{absent_is_no_data, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The sensor types node_exporter reads.
const SENSOR_TYPES: [&str; 14] = [
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
    "freq",
];

/// Lower case, anything outside `[a-z0-9:_]` made `_`, `_` trimmed from both ends.
pub fn clean(name: &str) -> String {
    let lower: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_digit() || c.is_ascii_lowercase() || c == ':' || c == '_' { c } else { '_' })
        .collect();
    lower.trim_matches('_').to_owned()
}

/// `(type, number, property)` of a sensor file name (`temp1_input`: temp, 1, input), as
/// node_exporter's `^([^0-9]+)([0-9]*)?(_(.+))?$` splits it.
pub fn explode(name: &str) -> Option<(&str, u64, &str)> {
    let digits_at = name.find(|c: char| c.is_ascii_digit());
    let Some(at) = digits_at else {
        // No digits: the whole name is the type (`beep_enable`), the greedy type taking `_x` too.
        return (!name.is_empty()).then_some((name, 0, ""));
    };
    if at == 0 {
        return None;
    }
    let (kind, rest) = name.split_at(at);
    let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let (number, rest) = rest.split_at(digits);
    let property = match rest {
        "" => "",
        _ => rest.strip_prefix('_').filter(|p| !p.is_empty())?,
    };
    Some((kind, number.parse().ok()?, property))
}

/// A sysfs attribute as node_exporter reads it: one read of at most 128 bytes, newlines trimmed.
fn attribute(path: &Path) -> Option<String> {
    let mut buf = [0u8; 128];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut buf)).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).trim_matches('\n').to_owned())
}

/// sensor (`temp1`) -> property (`input`, `""`, `label`, ...) -> value text.
type Sensors = BTreeMap<String, BTreeMap<String, String>>;

fn read_sensors(dir: &Path, sensors: &mut Sensors) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::Io(std::io::Error::new(e.kind(), format!("{}: {e}", dir.display()))))?;
    for entry in entries.filter_map(|e| e.ok()) {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some((kind, number, property)) = explode(&file) else { continue };
        if !SENSOR_TYPES.contains(&kind) {
            continue;
        }
        if let Some(value) = attribute(&entry.path()) {
            sensors.entry(format!("{kind}{number}")).or_default().insert(property.to_owned(), value);
        }
    }
    Ok(())
}

/// The chip's label (see the module comment).
pub fn chip_name(dir: &Path) -> Result<String> {
    if let Ok(device) = std::fs::canonicalize(dir.join("device")) {
        let name = clean(&device.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let bus = clean(
            &device.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        );
        if !bus.is_empty() && !name.is_empty() {
            return Ok(format!("{bus}_{name}"));
        }
        if !name.is_empty() {
            return Ok(name);
        }
    }
    if let Some(name) = std::fs::read_to_string(dir.join("name")).ok().map(|n| clean(&n)).filter(|n| !n.is_empty()) {
        return Ok(name);
    }
    let real = std::fs::canonicalize(dir)
        .map_err(|e| Error::Io(std::io::Error::new(e.kind(), format!("{}: {e}", dir.display()))))?;
    let name = clean(&real.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    if name.is_empty() {
        return Err(Error::InvalidValue(format!("Could not derive a monitoring name for {}", dir.display())));
    }
    Ok(name)
}

/// `(name, help, type, value)` of one sensor property, `None` where node_exporter emits none.
fn sample(
    kind: &str,
    element: &str,
    has_bare: bool,
    value: f64,
    label: Option<&str>,
) -> Option<(String, String, MetricType, f64, Option<String>)> {
    let prefix = format!("node_hwmon_{kind}");
    let name = if element == "input" {
        if has_bare {
            format!("{prefix}_input")
        } else {
            prefix
        }
    } else if !element.is_empty() {
        format!("{prefix}_{}", clean(element))
    } else {
        prefix
    };
    let gauge = MetricType::Gauge;
    Some(match (kind, element) {
        (_, "fault" | "alarm") => (name, format!("Hardware sensor {element} status ({kind})"), gauge, value, None),
        (_, "beep") => (format!("{name}_enabled"), "Hardware monitor sensor has beeping enabled".into(), gauge, value, None),
        ("in" | "cpu", _) => (format!("{name}_volts"), format!("Hardware monitor for voltage ({element})"), gauge, value * 0.001, None),
        ("temp", e) if e != "type" => {
            let shown = if e.is_empty() { "input" } else { e };
            (format!("{name}_celsius"), format!("Hardware monitor for temperature ({shown})"), gauge, value * 0.001, None)
        }
        ("curr", _) => (format!("{name}_amps"), format!("Hardware monitor for current ({element})"), gauge, value * 0.001, None),
        ("energy", _) => (
            format!("{name}_joule"),
            format!("Hardware monitor for joules used so far ({element})"),
            MetricType::Counter,
            value / 1e6,
            None,
        ),
        ("power", "accuracy") => (name, "Hardware monitor power meter accuracy, as a ratio".into(), gauge, value / 1e6, None),
        ("power", "average_interval" | "average_interval_min" | "average_interval_max") => (
            format!("{name}_seconds"),
            format!("Hardware monitor power usage update interval ({element})"),
            gauge,
            value * 0.001,
            None,
        ),
        ("power", _) => (format!("{name}_watt"), format!("Hardware monitor for power usage in watts ({element})"), gauge, value / 1e6, None),
        ("humidity", _) => (
            name,
            format!("Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ({element})"),
            gauge,
            value / 1e6,
            None,
        ),
        ("fan", "input" | "min" | "max" | "target") => {
            (format!("{name}_rpm"), format!("Hardware monitor for fan revolutions per minute ({element})"), gauge, value, None)
        }
        ("freq", "input") => {
            let label = clean(label?);
            (format!("{name}_freq_mhz"), "Hardware monitor for GPU frequency in MHz".into(), gauge, value / 1e6, Some(label))
        }
        ("freq", _) => return None,
        _ => (name, format!("Hardware monitor {kind} element {element}"), gauge, value, None),
    })
}

struct Hwmon {
    dir: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Hwmon { dir: config.paths.sys("class/hwmon") }))
}

/// The families being built, by name.
#[derive(Default)]
struct Families(BTreeMap<String, MetricFamily>);

impl Families {
    fn push(&mut self, name: String, help: String, kind: MetricType, labels: Vec<(Text, Text)>, value: f64) {
        let family = self.0.entry(name.clone()).or_insert_with(|| {
            let base = if kind == MetricType::Counter {
                name.strip_suffix("_total").unwrap_or(&name).to_owned()
            } else {
                name.clone()
            };
            MetricFamily::new(base, help, kind, "")
        });
        let sample =
            if kind == MetricType::Counter { format!("{}_total", family.name) } else { family.name.to_string() };
        family.push_named(sample, labels, value);
    }
}

impl Hwmon {
    fn chip(&self, dir: &Path, families: &mut Families) -> Result<()> {
        let chip = chip_name(dir)?;
        let mut sensors = Sensors::new();
        read_sensors(dir, &mut sensors)?;
        if dir.join("device").exists() {
            read_sensors(&dir.join("device"), &mut sensors)?;
        }
        let chip_label = || -> (Text, Text) { ("chip".into(), chip.clone().into()) };
        if let Some(name) = std::fs::read_to_string(dir.join("name")).ok().map(|n| clean(&n)).filter(|n| !n.is_empty())
        {
            let labels = vec![chip_label(), ("chip_name".into(), name.into())];
            families.push(
                "node_hwmon_chip_names".into(),
                "Annotation metric for human-readable chip names".into(),
                MetricType::Gauge,
                labels,
                1.0,
            );
        }
        for (sensor, properties) in &sensors {
            let Some((kind, _, _)) = explode(sensor) else { continue };
            let labels = || vec![chip_label(), ("sensor".into(), sensor.clone().into())];
            if let Some(label) = properties.get("label") {
                let labels = vec![
                    chip_label(),
                    ("label".into(), label.clone().into()),
                    ("sensor".into(), sensor.clone().into()),
                ];
                families.push(
                    "node_hwmon_sensor_label".into(),
                    "Label for given chip and sensor".into(),
                    MetricType::Gauge,
                    labels,
                    1.0,
                );
            }
            let bare = properties.get("").map(String::as_str);
            match kind {
                "beep_enable" => {
                    let on = if bare == Some("1") { 1.0 } else { 0.0 };
                    families.push(
                        "node_hwmon_beep_enabled".into(),
                        "Hardware beep enabled".into(),
                        MetricType::Gauge,
                        labels(),
                        on,
                    );
                    continue;
                }
                "vrm" => {
                    if let Some(v) = bare.and_then(|b| b.parse::<f64>().ok()) {
                        let name = "node_hwmon_voltage_regulator_version".into();
                        families.push(name, "Hardware voltage regulator".into(), MetricType::Gauge, labels(), v);
                    }
                    continue;
                }
                "update_interval" => {
                    if let Some(v) = bare.and_then(|b| b.parse::<f64>().ok()) {
                        let name = "node_hwmon_update_interval_seconds".into();
                        families.push(
                            name,
                            "Hardware monitor update interval".into(),
                            MetricType::Gauge,
                            labels(),
                            v * 0.001,
                        );
                    }
                    continue;
                }
                _ => {}
            }
            for (element, text) in properties.iter().filter(|(e, _)| *e != "label") {
                let Ok(value) = text.parse::<f64>() else { continue };
                let label = properties.get("label").map(String::as_str);
                if let Some((name, help, kind, value, sensor_label)) =
                    sample(kind, element, bare.is_some(), value, label)
                {
                    let labels = match sensor_label {
                        Some(cleaned) => vec![chip_label(), ("sensor".into(), cleaned.into())],
                        None => labels(),
                    };
                    families.push(name, help, kind, labels, value);
                }
            }
        }
        Ok(())
    }
}

impl NodeCollector for Hwmon {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let entries = absent_is_no_data(
            std::fs::read_dir(&self.dir)
                .map_err(|e| Error::Io(std::io::Error::new(e.kind(), format!("{}: {e}", self.dir.display())))),
        )?;
        let mut chips: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
        chips.sort();
        let mut families = Families::default();
        let mut last_error = None;
        for dir in chips {
            if let Err(err) = self.chip(&dir, &mut families) {
                last_error = Some(err);
            }
        }
        if let Some(err) = last_error {
            return Err(err);
        }
        out.extend(families.0.into_values());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, scrape, sysfs_at, update_error, TempTree};

    #[test]
    fn splits_names_as_node_exporter() {
        assert_eq!(explode("temp1_input"), Some(("temp", 1, "input")));
        assert_eq!(explode("temp1_crit_alarm"), Some(("temp", 1, "crit_alarm")));
        assert_eq!(explode("pwm1"), Some(("pwm", 1, "")));
        assert_eq!(explode("beep_enable"), Some(("beep_enable", 0, "")));
        assert_eq!(explode("in0x"), None);
        assert_eq!(clean("Package id 0\n"), "package_id_0");
    }

    #[test]
    fn collects_the_fixture_chips() {
        let out = scrape(build, &fixture_config()).unwrap();
        let get = |name: &str| -> Vec<(Vec<String>, f64)> {
            let family = out.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("{name}"));
            family.samples.iter().map(|s| (s.labels.iter().map(|(_, v)| v.to_string()).collect(), s.value)).collect()
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            get("node_hwmon_temp_celsius"),
            [
                (s(&["platform_coretemp_0", "temp1"]), 55.0),
                (s(&["platform_coretemp_0", "temp2"]), 53.0),
                (s(&["nct6779", "temp7"]), 34.0),
            ],
            "chips in directory order, sensors sorted"
        );
        assert_eq!(get("node_hwmon_chip_names")[0], (s(&["platform_coretemp_0", "coretemp"]), 1.0));
        assert_eq!(get("node_hwmon_temp_crit_alarm_celsius"), [(s(&["platform_coretemp_0", "temp1"]), 0.0)]);
        assert_eq!(get("node_hwmon_fan_rpm"), [(s(&["nct6779", "fan1"]), 1024.0)]);
        assert_eq!(get("node_hwmon_in_volts"), [(s(&["nct6779", "in0"]), 1.048)]);
        assert_eq!(get("node_hwmon_power_watt"), [(s(&["nct6779", "power1"]), 4.2)]);
        assert_eq!(get("node_hwmon_update_interval_seconds"), [(s(&["nct6779", "update_interval0"]), 1.0)]);
        let energy = out.iter().find(|f| f.name == "node_hwmon_energy_joule").unwrap();
        assert_eq!(
            (energy.kind, energy.samples[0].name.as_ref()),
            (MetricType::Counter, "node_hwmon_energy_joule_total")
        );
        let label = get("node_hwmon_sensor_label");
        assert!(label.contains(&(s(&["platform_coretemp_0", "Package id 0", "temp1"]), 1.0)), "{label:?}");
        let pwm = out.iter().find(|f| f.name == "node_hwmon_pwm").unwrap();
        assert_eq!(pwm.help, "Hardware monitor pwm element ");
    }

    #[test]
    fn unreadable_values_are_left_out_and_a_missing_class_fails() {
        assert!(update_error(build, &sysfs_at("/nonexistent")).to_string().contains("class/hwmon"));
        let tree = TempTree::new("hwmon");
        tree.write("class/hwmon/hwmon3/name", "acpitz\n");
        tree.write("class/hwmon/hwmon3/temp1_input", "garbage\n");
        tree.write("class/hwmon/hwmon3/temp2_input", "41000\n");
        let out = scrape(build, &sysfs_at(tree.root())).unwrap();
        let temps = out.iter().find(|f| f.name == "node_hwmon_temp_celsius").unwrap();
        assert_eq!(temps.samples.len(), 1);
        assert_eq!(temps.samples[0].labels[0].1.as_ref(), "acpitz");
    }
}
