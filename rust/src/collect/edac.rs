//! edac: memory error counters of each memory controller in
//! `<sysfs>/devices/system/edac/mc/mc<N>` (kernel Documentation/admin-guide/ras.rst):
//! `node_edac_{correctable,uncorrectable}_errors_total{controller}` and, per chip-select row,
//! `node_edac_csrow_{correctable,uncorrectable}_errors_total{controller,csrow}` (the
//! controller's errors with no row information counted under `csrow="unknown"`). As
//! node_exporter: no controllers (most VMs) is no error; a counter file that is missing or not
//! a number fails the collector.

use super::thermal_zone::numbered;
use super::{read_uint, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::path::PathBuf;

struct Edac {
    dir: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Edac { dir: config.paths.sys("devices/system/edac/mc") }))
}

/// The leading digits of a numbered entry's suffix (`0` of `mc0`).
fn number(suffix: &str) -> String {
    suffix.chars().take_while(char::is_ascii_digit).collect()
}

impl NodeCollector for Edac {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let family =
            |name: &str, help: &str| MetricFamily::new(name.to_owned(), help.to_owned(), MetricType::Counter, "");
        let mut ce = family("node_edac_correctable_errors", "Total correctable memory errors.");
        let mut ue = family("node_edac_uncorrectable_errors", "Total uncorrectable memory errors.");
        let mut row_ce =
            family("node_edac_csrow_correctable_errors", "Total correctable memory errors for this csrow.");
        let mut row_ue =
            family("node_edac_csrow_uncorrectable_errors", "Total uncorrectable memory errors for this csrow.");
        for (suffix, dir) in numbered(&self.dir, "mc")? {
            let controller: Text = number(&suffix).into();
            let one = || vec![("controller".into(), controller.clone())];
            let row = |csrow: Text| vec![("controller".into(), controller.clone()), ("csrow".into(), csrow)];
            ce.push("_total", one(), read_uint(&dir.join("ce_count"))?);
            row_ce.push("_total", row("unknown".into()), read_uint(&dir.join("ce_noinfo_count"))?);
            ue.push("_total", one(), read_uint(&dir.join("ue_count"))?);
            row_ue.push("_total", row("unknown".into()), read_uint(&dir.join("ue_noinfo_count"))?);
            for (suffix, csrow) in numbered(&dir, "csrow")? {
                let name: Text = number(&suffix).into();
                row_ce.push("_total", row(name.clone()), read_uint(&csrow.join("ce_count"))?);
                row_ue.push("_total", row(name), read_uint(&csrow.join("ue_count"))?);
            }
        }
        out.extend([ce, ue, row_ce, row_ue].into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, scrape, sysfs_at, update_error, TempTree};

    #[test]
    fn counts_the_fixture_controller() {
        let out = scrape(build, &fixture_config()).unwrap();
        let got: Vec<(&str, Vec<&str>, f64)> = out
            .iter()
            .flat_map(|f| {
                f.samples.iter().map(|s| (s.name.as_ref(), s.labels.iter().map(|(_, v)| v.as_ref()).collect(), s.value))
            })
            .collect();
        assert_eq!(got[0], ("node_edac_correctable_errors_total", vec!["0"], 3.0));
        assert!(got.contains(&("node_edac_csrow_correctable_errors_total", vec!["0", "unknown"], 1.0)));
        assert!(got.contains(&("node_edac_csrow_correctable_errors_total", vec!["0", "0"], 2.0)));
        assert_eq!(got.len(), 2 + 2 * 3, "two totals, and unknown plus two csrows of each kind");
    }

    #[test]
    fn a_missing_counter_fails_and_no_controller_is_empty() {
        let tree = TempTree::new("edac");
        tree.write("devices/system/edac/mc/mc1/ce_count", "lots\n");
        let err = update_error(build, &sysfs_at(tree.root())).to_string();
        assert!(err.contains("mc1/ce_count"), "{err}");
        let out = scrape(build, &sysfs_at("/nonexistent")).unwrap();
        assert!(out.is_empty());
    }
}
