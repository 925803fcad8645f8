//! dmi: `node_dmi_info{bios_date,...,system_vendor}` = 1, the firmware's identity from the
//! files of `<sysfs>/class/dmi/id`, labelled only by the attributes present (the serials and
//! product_uuid are root's only: unreadable ones are left out), as node_exporter does. Like
//! node_exporter, it reads them once, at start (they don't change while the machine runs): a
//! machine without DMI (a VM, an ARM board) has an empty info, and the collector then fails with
//! node_exporter's "no data"; a file that can't be read for another reason stops the start.

use super::{no_data, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::io::Read;

/// `(file, label)` of each attribute reported; chassis_type is read but not a label upstream.
const ATTRIBUTES: [(&str, &str); 20] = [
    ("bios_date", "bios_date"),
    ("bios_release", "bios_release"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_family", "product_family"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_sku", "product_sku"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("sys_vendor", "system_vendor"),
];

struct Dmi {
    labels: Vec<(Text, Text)>,
}

/// Reads the DMI attributes (see the module comment).
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    let dir = config.paths.sys("class/dmi/id");
    let mut labels = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut found: Vec<(String, std::path::PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        found.sort();
        for (file, path) in found {
            let Some((_, label)) = ATTRIBUTES.iter().find(|(f, _)| *f == file) else { continue };
            let mut buf = [0u8; 128];
            match std::fs::File::open(&path).and_then(|mut f| f.read(&mut buf)) {
                Ok(n) => labels.push(((*label).into(), String::from_utf8_lossy(&buf[..n]).trim().to_owned().into())),
                Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {}
                Err(err) => {
                    return Err(Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", path.display()))))
                }
            }
        }
    }
    labels.sort_by(|a: &(Text, Text), b| a.0.as_ref().cmp(b.0.as_ref()));
    Ok(Box::new(Dmi { labels }))
}

impl NodeCollector for Dmi {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        if self.labels.is_empty() {
            return Err(no_data("no DMI information (no <sysfs>/class/dmi/id)"));
        }
        let help = "A metric with a constant '1' value labeled by bios_date, bios_release, bios_vendor, bios_version, \
                    board_asset_tag, board_name, board_serial, board_vendor, board_version, chassis_asset_tag, \
                    chassis_serial, chassis_vendor, chassis_version, product_family, product_name, product_serial, \
                    product_sku, product_uuid, product_version, system_vendor if provided by DMI.";
        let mut family = MetricFamily::new("node_dmi_info", help, MetricType::Gauge, "");
        family.push("", self.labels.clone(), 1.0);
        out.push(family);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, label_pairs, scrape, sysfs_at, update_error};

    #[test]
    fn reads_the_fixture_once() {
        let out = scrape(build, &fixture_config()).unwrap();
        let labels = label_pairs(&out[0].samples[0]);
        assert_eq!(labels.len(), 15, "16 attribute files, chassis_type not a label: {labels:?}");
        assert_eq!(labels[0], ("bios_date", "04/12/2023"));
        assert!(labels.contains(&("system_vendor", "Supermicro")), "sys_vendor is system_vendor");
        assert!(!labels.iter().any(|(k, _)| *k == "chassis_type" || *k == "modalias"));
    }

    #[test]
    fn no_dmi_is_no_data() {
        let err = update_error(build, &sysfs_at("/nonexistent")).to_string();
        assert!(err.contains("no DMI information"), "{err}");
    }
}
