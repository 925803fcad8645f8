//! rapl: the energy counters of Intel/AMD RAPL power zones in `<sysfs>/class/powercap`
//! (kernel Documentation/power/powercap/powercap.rst), as node_exporter names them:
//! `node_rapl_<zone>_joules_total{index,path}`, the zone's name (`package-0`) split into a
//! name and an index (`package`, `0`), or indexed by how often the name was seen (`dram`);
//! `path` is the zone's directory. Entries without a `name` (the control type) are skipped; a
//! zone without `max_energy_range_uj` or `energy_uj` fails the collector, and so does a
//! missing powercap class, with node_exporter's "no data", as does an `energy_uj` only root may
//! read (kernels since 5.10).

use super::{absent_is_no_data, malformed, no_data, read, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use regex::Regex;
use std::collections::HashMap;
use std::path::PathBuf;

struct Rapl {
    dir: PathBuf,
    invalid: Regex,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    let invalid = Regex::new(r"_*[^0-9A-Za-z_]+_*").expect("a valid regex");
    Ok(Box::new(Rapl { dir: config.paths.sys("class/powercap"), invalid }))
}

/// `(index, name)` of a zone name, node_exporter's (procfs') way.
pub fn index_and_name(seen: &HashMap<String, usize>, name: &str) -> (usize, String) {
    let parts: Vec<&str> = name.split('-').collect();
    if let [base, index] = parts[..] {
        if let Ok(index) = index.parse::<usize>() {
            return (index, base.to_owned());
        }
    }
    (seen.get(name).copied().unwrap_or(0), name.to_owned())
}

fn uint(path: &std::path::Path) -> Result<u64> {
    let text = read(path)?;
    text.trim().parse().map_err(|_| malformed(&path.display().to_string(), &text))
}

impl Rapl {
    fn families(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let io =
            |err: std::io::Error| Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", self.dir.display())));
        let mut entries: Vec<String> = std::fs::read_dir(&self.dir)
            .map_err(io)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        entries.sort();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut zones = Vec::new();
        for entry in entries {
            let dir = self.dir.join(&entry);
            let Ok(raw) = std::fs::read_to_string(dir.join("name")) else { continue };
            let (index, name) = index_and_name(&seen, raw.trim());
            uint(&dir.join("max_energy_range_uj"))?;
            seen.insert(name.clone(), index + 1);
            zones.push((index, name, dir));
        }
        for (index, name, dir) in zones {
            let microjoules = match uint(&dir.join("energy_uj")) {
                Err(Error::Io(err)) if err.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(no_data(format!("{}: {err}", dir.join("energy_uj").display())))
                }
                other => other?,
            };
            let metric = format!("node_rapl_{}_joules", self.invalid.replace_all(&name, "_"));
            let mut family =
                MetricFamily::new(metric, format!("Current RAPL {name} value in joules"), MetricType::Counter, "");
            let labels =
                vec![("index".into(), index.to_string().into()), ("path".into(), dir.display().to_string().into())];
            family.push("_total", labels, microjoules as f64 / 1e6);
            out.push(family);
        }
        Ok(())
    }
}

impl NodeCollector for Rapl {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let before = out.len();
        absent_is_no_data(self.families(out))?;
        // Zones of one name are one family (dram of two packages, say).
        let mut merged: Vec<MetricFamily> = Vec::new();
        for family in out.drain(before..) {
            match merged.iter_mut().find(|f| f.name == family.name) {
                Some(known) => known.samples.extend(family.samples),
                None => merged.push(family),
            }
        }
        out.extend(merged);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, scrape, sysfs_at, update_error, TempTree};

    #[test]
    fn collects_the_fixture_zones() {
        let out = scrape(build, &fixture_config()).unwrap();
        let got: Vec<(&str, &str, f64)> = out
            .iter()
            .flat_map(|f| f.samples.iter().map(|s| (s.name.as_ref(), s.labels[0].1.as_ref(), s.value)))
            .collect();
        assert_eq!(
            got,
            [
                ("node_rapl_package_joules_total", "0", 240422.366267),
                ("node_rapl_package_joules_total", "1", 231406.89922),
                ("node_rapl_core_joules_total", "0", 118821.284256),
                ("node_rapl_dram_joules_total", "0", 24364.830625),
            ]
        );
        assert!(out[0].samples[0].labels[1].1.ends_with("class/powercap/intel-rapl:0"));
        assert_eq!(out[1].help, "Current RAPL core value in joules");
    }

    #[test]
    fn names_indexes_and_bad_input() {
        let mut seen = HashMap::new();
        assert_eq!(index_and_name(&seen, "package-1"), (1, "package".to_owned()));
        seen.insert("dram".to_owned(), 1);
        assert_eq!(index_and_name(&seen, "dram"), (1, "dram".to_owned()));
        assert_eq!(index_and_name(&seen, "psys-x"), (0, "psys-x".to_owned()));
        let err = update_error(build, &sysfs_at("/nonexistent"));
        assert!(crate::collect::is_no_data(&err), "{err}");
        let tree = TempTree::new("rapl");
        tree.write("class/powercap/intel-rapl:0/name", "package-0\n");
        tree.write("class/powercap/intel-rapl:0/max_energy_range_uj", "many\n");
        let err = update_error(build, &sysfs_at(tree.root())).to_string();
        assert!(err.contains("max_energy_range_uj"), "{err}");
    }
}
