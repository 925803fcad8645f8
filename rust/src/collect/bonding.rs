//! bonding: `node_bonding_slaves{master}` and `node_bonding_active{master}` (slaves whose MII
//! status is up) for each bond in `<sysfs>/class/net/bonding_masters`, from
//! `<master>/bonding/slaves` and each slave's `lower_<slave>/bonding_slave/mii_status` (or
//! `slave_<slave>/...` on kernels before 4.13). Without the bonding module there is no
//! `bonding_masters`: "no data", as node_exporter says (so is any file of a bond missing).

use super::{absent_is_no_data, read, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::PathBuf;

struct Bonding {
    dir: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Bonding { dir: config.paths.sys("class/net") }))
}

impl Bonding {
    /// `(master, slaves, active)` of each bond.
    fn bonds(&self) -> Result<Vec<(String, f64, f64)>> {
        let masters = read(&self.dir.join("bonding_masters"))?;
        let mut bonds = Vec::new();
        for master in masters.split_ascii_whitespace() {
            let slaves = read(&self.dir.join(master).join("bonding/slaves"))?;
            let (mut configured, mut active) = (0.0, 0.0);
            for slave in slaves.split_ascii_whitespace() {
                let status = |prefix: &str| {
                    read(&self.dir.join(master).join(format!("{prefix}_{slave}/bonding_slave/mii_status")))
                };
                let state = match status("lower") {
                    Err(Error::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => status("slave")?,
                    other => other?,
                };
                configured += 1.0;
                if state.trim() == "up" {
                    active += 1.0;
                }
            }
            bonds.push((master.to_owned(), configured, active));
        }
        Ok(bonds)
    }
}

impl NodeCollector for Bonding {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let bonds = absent_is_no_data(self.bonds())?;
        let help = "Number of configured slaves per bonding interface.";
        let mut slaves = MetricFamily::new("node_bonding_slaves", help, MetricType::Gauge, "");
        let help = "Number of active slaves per bonding interface.";
        let mut active = MetricFamily::new("node_bonding_active", help, MetricType::Gauge, "");
        for (master, configured, up) in bonds {
            slaves.push("", vec![("master".into(), master.clone().into())], configured);
            active.push("", vec![("master".into(), master.into())], up);
        }
        out.push(slaves);
        out.push(active);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, scrape, sysfs_at, update_error, TempTree};

    #[test]
    fn counts_the_fixture_bond() {
        let out = scrape(build, &fixture_config()).unwrap();
        let got: Vec<(&str, &str, f64)> =
            out.iter().map(|f| (f.name.as_ref(), f.samples[0].labels[0].1.as_ref(), f.samples[0].value)).collect();
        assert_eq!(got, [("node_bonding_slaves", "bond0", 2.0), ("node_bonding_active", "bond0", 1.0)]);
    }

    #[test]
    fn a_missing_module_or_slave_fails() {
        assert!(update_error(build, &sysfs_at("/nonexistent")).to_string().contains("bonding_masters"));
        let tree = TempTree::new("bonding");
        tree.write("class/net/bonding_masters", "bond1\n");
        tree.write("class/net/bond1/bonding/slaves", "eth7\n");
        let err = update_error(build, &sysfs_at(tree.root())).to_string();
        assert!(err.contains("slave_eth7/bonding_slave/mii_status"), "{err}");
    }
}
