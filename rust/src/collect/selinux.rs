//! selinux: `node_selinux_enabled`, and where SELinux is on, `node_selinux_config_mode` (the
//! SELINUX= of `<rootfs>/etc/selinux/config`: 1 enforcing, 0 permissive, -1 disabled) and
//! `node_selinux_current_mode` (`<sysfs>/fs/selinux/enforce`). node_exporter asks the go-selinux
//! library, which finds selinuxfs in this process' mount table; obsagent looks where selinuxfs
//! is mounted, under `--path.sysfs`, so that a container given the host's /sys reports the
//! host, and a fixture tree stands in for both. SELinux counts as enabled when selinuxfs is
//! there and this process' context (`<procfs>/self/attr/current`) isn't the kernel's.

use super::{read, single, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::PathBuf;

struct Selinux {
    enforce: PathBuf,
    current: PathBuf,
    config: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Selinux {
        enforce: config.paths.sys("fs/selinux/enforce"),
        current: config.paths.proc("self/attr/current"),
        config: config.paths.rootfs.join("etc/selinux/config"),
    }))
}

/// The SELINUX= mode of the config file: 1 enforcing, 0 permissive, -1 otherwise or unreadable.
pub fn config_mode(text: Option<&str>) -> f64 {
    let mode = text.and_then(|t| t.lines().find_map(|l| l.trim().strip_prefix("SELINUX=")));
    match mode.map(|m| m.trim().trim_matches('"')) {
        Some("enforcing") => 1.0,
        Some("permissive") => 0.0,
        _ => -1.0,
    }
}

impl NodeCollector for Selinux {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let enforce = read(&self.enforce).ok();
        let context = read(&self.current).unwrap_or_default();
        let enabled = enforce.is_some() && context.trim_end_matches(['\0', '\n']) != "kernel";
        let help = "SELinux is enabled, 1 is true, 0 is false";
        out.push(single("node_selinux_enabled", help, MetricType::Gauge, if enabled { 1.0 } else { 0.0 }));
        if !enabled {
            return Ok(());
        }
        let configured = config_mode(read(&self.config).ok().as_deref());
        out.push(single(
            "node_selinux_config_mode",
            "Configured SELinux enforcement mode",
            MetricType::Gauge,
            configured,
        ));
        let current = match enforce.as_deref().map(str::trim) {
            Some("1") => 1.0,
            Some("0") => 0.0,
            _ => -1.0,
        };
        out.push(single("node_selinux_current_mode", "Current SELinux enforcement mode", MetricType::Gauge, current));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, scrape, TempTree};
    use crate::collect::Paths;

    #[test]
    fn disabled_on_the_fixture_tree() {
        let out = scrape(build, &fixture_config()).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].name.as_ref(), out[0].samples[0].value), ("node_selinux_enabled", 0.0));
    }

    #[test]
    fn enabled_with_modes_and_a_garbled_config() {
        let tree = TempTree::new("selinux");
        tree.write("sys/fs/selinux/enforce", "0");
        tree.write("proc/self/attr/current", "system_u:system_r:unconfined_t:s0\0");
        tree.write("etc/selinux/config", "# comment\nSELINUX=enforcing\nSELINUXTYPE=targeted\n");
        let paths = Paths { procfs: tree.path("proc"), sysfs: tree.path("sys"), rootfs: tree.root().to_owned() };
        let out = scrape(build, &Config { paths, ..Config::default() }).unwrap();
        let values: Vec<(&str, f64)> = out.iter().map(|f| (f.name.as_ref(), f.samples[0].value)).collect();
        assert_eq!(
            values,
            [("node_selinux_enabled", 1.0), ("node_selinux_config_mode", 1.0), ("node_selinux_current_mode", 0.0)]
        );
        assert_eq!(config_mode(Some("SELINUX=garbage\n")), -1.0);
        assert_eq!(config_mode(None), -1.0);
    }
}
