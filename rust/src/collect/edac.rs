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
    use crate::collect::{fixture_paths, Paths};

    #[test]
    fn counts_the_fixture_controller() {
        let mut out = Vec::new();
        build(&Config { paths: fixture_paths(), ..Config::default() }).unwrap().update(&mut out).unwrap();
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
        let dir = std::env::temp_dir().join(format!("obsagent-edac-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("devices/system/edac/mc/mc1")).unwrap();
        std::fs::write(dir.join("devices/system/edac/mc/mc1/ce_count"), "lots\n").unwrap();
        let config = Config { paths: Paths { sysfs: dir.clone(), ..fixture_paths() }, ..Config::default() };
        let err = build(&config).unwrap().update(&mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("mc1/ce_count"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
        let config = Config { paths: Paths { sysfs: "/nonexistent".into(), ..fixture_paths() }, ..Config::default() };
        let mut out = Vec::new();
        build(&config).unwrap().update(&mut out).unwrap();
        assert!(out.is_empty());
    }
}
