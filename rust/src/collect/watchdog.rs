//! watchdog (node_exporter 1.8+): each watchdog device of `<sysfs>/class/watchdog` (kernel
//! Documentation/ABI/testing/sysfs-class-watchdog): `node_watchdog_{bootstatus,fw_version,
//! nowayout,timeleft_seconds,timeout_seconds,pretimeout_seconds,access_cs0}{name}` for the
//! attributes it has, and `node_watchdog_info{identity,name,options,pretimeout_governor,state,
//! status}`. As node_exporter (procfs): a missing attribute is left out, any other read error
//! or a number that doesn't parse fails the collector; no watchdog class is "no data".

use super::{absent_is_no_data, malformed, parse_go_int, read, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::path::PathBuf;

/// `(attribute, family, help)` of the numeric attributes.
const NUMBERS: [(&str, &str, &str); 7] = [
    ("bootstatus", "node_watchdog_bootstatus", "Value of /sys/class/watchdog/<watchdog>/bootstatus"),
    ("fw_version", "node_watchdog_fw_version", "Value of /sys/class/watchdog/<watchdog>/fw_version"),
    ("nowayout", "node_watchdog_nowayout", "Value of /sys/class/watchdog/<watchdog>/nowayout"),
    ("timeleft", "node_watchdog_timeleft_seconds", "Value of /sys/class/watchdog/<watchdog>/timeleft"),
    ("timeout", "node_watchdog_timeout_seconds", "Value of /sys/class/watchdog/<watchdog>/timeout"),
    ("pretimeout", "node_watchdog_pretimeout_seconds", "Value of /sys/class/watchdog/<watchdog>/pretimeout"),
    ("access_cs0", "node_watchdog_access_cs0", "Value of /sys/class/watchdog/<watchdog>/access_cs0"),
];

/// The text attributes, in label order (with `name` between identity and options).
const TEXTS: [&str; 5] = ["identity", "options", "pretimeout_governor", "state", "status"];

struct Watchdog {
    dir: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Watchdog { dir: config.paths.sys("class/watchdog") }))
}

impl Watchdog {
    /// An attribute's trimmed text, `None` when the file doesn't exist.
    fn attribute(&self, device: &str, file: &str) -> Result<Option<String>> {
        match read(&self.dir.join(device).join(file)) {
            Ok(text) => Ok(Some(text.trim().to_owned())),
            Err(Error::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }
}

impl NodeCollector for Watchdog {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        absent_is_no_data(self.families(out))
    }
}

impl Watchdog {
    fn families(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let io =
            |err: std::io::Error| Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", self.dir.display())));
        let mut devices: Vec<String> = std::fs::read_dir(&self.dir)
            .map_err(io)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        devices.sort();
        let mut families: Vec<MetricFamily> =
            NUMBERS.iter().map(|(_, name, help)| MetricFamily::new(*name, *help, MetricType::Gauge, "")).collect();
        let mut info =
            MetricFamily::new("node_watchdog_info", "Info of /sys/class/watchdog/<watchdog>", MetricType::Gauge, "");
        for device in devices {
            let name: Text = device.clone().into();
            for ((file, ..), family) in NUMBERS.iter().zip(&mut families) {
                if let Some(text) = self.attribute(&device, file)? {
                    let value =
                        parse_go_int(&text).ok_or_else(|| malformed(&format!("watchdog {device}/{file}"), &text))?;
                    family.push("", vec![("name".into(), name.clone())], value as f64);
                }
            }
            let mut labels = vec![("name".into(), name.clone())];
            for file in TEXTS {
                labels.push((file.into(), self.attribute(&device, file)?.unwrap_or_default().into()));
            }
            labels.sort_by(|a: &(Text, Text), b| a.0.as_ref().cmp(b.0.as_ref()));
            info.push("", labels, 1.0);
        }
        families.push(info);
        out.extend(families.into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, label_pairs, scrape, sysfs_at, update_error, TempTree};

    #[test]
    fn collects_the_fixture_watchdog() {
        let out = scrape(build, &fixture_config()).unwrap();
        let values: Vec<(&str, f64)> = out.iter().map(|f| (f.name.as_ref(), f.samples[0].value)).collect();
        assert_eq!(values[3], ("node_watchdog_timeleft_seconds", 283.0));
        assert_eq!(values.len(), 8);
        let labels = label_pairs(&out[7].samples[0]);
        assert_eq!(
            labels,
            [
                ("identity", "iTCO_wdt"),
                ("name", "watchdog0"),
                ("options", "0x8380"),
                ("pretimeout_governor", "noop"),
                ("state", "active"),
                ("status", "0x8000")
            ]
        );
    }

    #[test]
    fn garbled_numbers_fail_and_a_missing_class_is_no_data() {
        assert!(update_error(build, &sysfs_at("/nonexistent")).to_string().contains("class/watchdog"));
        let tree = TempTree::new("watchdog");
        tree.write("class/watchdog/watchdog1/timeout", "soon\n");
        let err = update_error(build, &sysfs_at(tree.root())).to_string();
        assert!(err.contains("watchdog1/timeout"), "{err}");
    }
}
