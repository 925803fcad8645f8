//! nvme: `node_nvme_info{device,firmware_revision,model,serial,state}` = 1 for each controller
//! of `<sysfs>/class/nvme` (its `firmware_rev`, `model`, `serial` and `state` attributes,
//! trimmed: the kernel pads model and serial with spaces). As node_exporter (procfs): all four
//! are required, and a controller missing one fails the collector; no nvme class is "no data".

use super::{absent_is_no_data, read, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::path::PathBuf;

struct Nvme {
    dir: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Nvme { dir: config.paths.sys("class/nvme") }))
}

impl NodeCollector for Nvme {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        absent_is_no_data(self.families(out))
    }
}

impl Nvme {
    fn families(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let io =
            |err: std::io::Error| Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", self.dir.display())));
        let mut devices: Vec<String> = std::fs::read_dir(&self.dir)
            .map_err(io)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        devices.sort();
        let help = "Non-numeric data from /sys/class/nvme/<device>, value is always 1.";
        let mut info = MetricFamily::new("node_nvme_info", help, MetricType::Gauge, "");
        for device in devices {
            let attribute =
                |file: &str| -> Result<Text> { Ok(read(&self.dir.join(&device).join(file))?.trim().to_owned().into()) };
            let labels = vec![
                ("device".into(), device.clone().into()),
                ("firmware_revision".into(), attribute("firmware_rev")?),
                ("model".into(), attribute("model")?),
                ("serial".into(), attribute("serial")?),
                ("state".into(), attribute("state")?),
            ];
            info.push("", labels, 1.0);
        }
        out.push(info);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, label_pairs, scrape, sysfs_at, update_error, TempTree};

    #[test]
    fn collects_the_fixture_controller() {
        let out = scrape(build, &fixture_config()).unwrap();
        let labels = label_pairs(&out[0].samples[0]);
        assert_eq!(
            labels,
            [
                ("device", "nvme0"),
                ("firmware_revision", "4B2QGXA7"),
                ("model", "Samsung SSD 980 PRO 1TB"),
                ("serial", "S5GXNF0R123456A"),
                ("state", "live")
            ]
        );
    }

    #[test]
    fn a_truncated_controller_or_a_missing_class_fails() {
        assert!(update_error(build, &sysfs_at("/nonexistent")).to_string().contains("class/nvme"));
        let tree = TempTree::new("nvme");
        tree.write("class/nvme/nvme1/model", "X\n");
        let err = update_error(build, &sysfs_at(tree.root())).to_string();
        assert!(err.contains("nvme1/firmware_rev"), "{err}");
    }
}
