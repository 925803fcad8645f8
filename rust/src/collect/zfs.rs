//! zfs: OpenZFS's kstats under `<procfs>/spl/kstat/zfs` as node_exporter exports them: each
//! numeric row (`name type data`, type 3 signed or 4 unsigned) of `arcstats`, `abdstats`,
//! `dbufstats`, `dmu_tx`, `dnodestats`, `fm`, `vdev_cache_stats`, `vdev_mirror_stats`,
//! `xuio_stats`, `zfetchstats` and `zil` as an untyped `node_zfs_<group>_<row>` whose HELP is
//! the kstat's name; per pool its `io` row (`node_zfs_zpool_*{zpool}`), each dataset's
//! `objset-*` rows (`node_zfs_zpool_dataset_*{zpool,dataset}`) and its `state`
//! (`node_zfs_zpool_state{zpool,state}`, one per state ZFS knows). As node_exporter: no
//! `spl/kstat/zfs` (no zfs module) is "no data"; a kstat file that is absent is skipped; one
//! without its `name type data` header, or whose value doesn't parse, fails the collector.

use super::{absent_is_no_data, entries, malformed, read, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::path::{Path, PathBuf};

/// `(subsystem, kstat file)` of the groups read.
const GROUPS: &[(&str, &str)] = &[
    ("zfs_abd", "abdstats"),
    ("zfs_arc", "arcstats"),
    ("zfs_dbuf", "dbufstats"),
    ("zfs_dmu_tx", "dmu_tx"),
    ("zfs_dnode", "dnodestats"),
    ("zfs_fm", "fm"),
    ("zfs_vdev_cache", "vdev_cache_stats"),
    ("zfs_vdev_mirror", "vdev_mirror_stats"),
    ("zfs_xuio", "xuio_stats"),
    ("zfs_zfetch", "zfetchstats"),
    ("zfs_zil", "zil"),
];

/// The pool states node_exporter reports, each 1 when it is the pool's.
const POOL_STATES: [&str; 7] = ["online", "degraded", "faulted", "offline", "removed", "unavail", "suspended"];

/// The numeric rows of a named kstat (`name type data` table), `(name, value)`; the rest of
/// each row, as the text after its type, for the string rows callers want.
pub fn parse_kstat<'a>(what: &str, text: &'a str) -> Result<Vec<(&'a str, &'a str, f64)>> {
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !in_table {
            in_table = fields == ["name", "type", "data"];
            continue;
        }
        let [name, kind, data, ..] = fields.as_slice() else { continue };
        let value = match *kind {
            "4" => data.parse::<u64>().ok().map(|v| v as f64),
            "3" => data.parse::<i64>().ok().map(|v| v as f64),
            _ => {
                let start = line.find(data).unwrap_or_default();
                rows.push((*name, &line[start..], f64::NAN));
                continue;
            }
        };
        let value = value.ok_or_else(|| malformed(&format!("{what} {name}"), line))?;
        rows.push((*name, *kind, value));
    }
    if !in_table {
        return Err(malformed(&format!("{what}: no \"name type data\" header"), text));
    }
    Ok(rows)
}

/// The family named `node_<subsystem>_<row>` in `out`, made (untyped) at its first sample.
fn family(out: &mut Vec<MetricFamily>, name: String, help: String, kind: MetricType) -> &mut MetricFamily {
    let at = match out.iter().position(|f| f.name == name.as_str()) {
        Some(at) => at,
        None => {
            out.push(MetricFamily::new(name, help, kind, ""));
            out.len() - 1
        }
    };
    &mut out[at]
}

struct Zfs {
    dir: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Zfs { dir: config.paths.proc("spl/kstat/zfs") }))
}

impl Zfs {
    fn groups(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        for (subsystem, file) in GROUPS {
            let path = self.dir.join(file);
            let Ok(text) = read(&path) else { continue };
            for (row, kind, value) in parse_kstat(&path.display().to_string(), &text)? {
                if kind != "3" && kind != "4" {
                    continue;
                }
                let name = format!("node_{subsystem}_{}", row.replace('-', "_"));
                let help = format!("kstat.zfs.misc.{file}.{row}");
                family(out, name, help, MetricType::Unknown).push("", Vec::new(), value);
            }
        }
        Ok(())
    }

    fn pool(&self, pool: &str, dir: &Path, out: &mut Vec<MetricFamily>) -> Result<()> {
        let zpool: Text = pool.to_owned().into();
        let io = dir.join("io");
        if io.exists() {
            let text = read(&io)?;
            let mut lines = text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>());
            let header = lines.by_ref().find(|f| f.len() >= 12 && f[0] == "nread");
            if let Some(header) = header {
                for values in lines {
                    for (field, value) in header.iter().zip(&values) {
                        let value: u64 =
                            value.parse().map_err(|_| malformed(&format!("{} {field}", io.display()), value))?;
                        let name = format!("node_zfs_zpool_{}", field.replace('-', "_"));
                        let help = format!("kstat.zfs.misc.io.{field}");
                        family(out, name, help, MetricType::Unknown).push(
                            "",
                            vec![("zpool".into(), zpool.clone())],
                            value as f64,
                        );
                    }
                }
            }
        }
        for (file, path) in entries(dir)?.into_iter().filter(|(name, _)| name.starts_with("objset-")) {
            let text = read(&path)?;
            let mut dataset: Text = "".into();
            for (row, kind, value) in parse_kstat(&format!("{pool}/{file}"), &text)? {
                if row == "dataset_name" {
                    dataset = kind.to_owned().into();
                } else if kind == "4" {
                    let name = format!("node_zfs_zpool_dataset_{}", row.replace('-', "_"));
                    let help = format!("kstat.zfs.misc.objset.{row}");
                    let labels = vec![("zpool".into(), zpool.clone()), ("dataset".into(), dataset.clone())];
                    family(out, name, help, MetricType::Unknown).push("", labels, value);
                }
            }
        }
        Ok(())
    }
}

impl NodeCollector for Zfs {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let pools = absent_is_no_data(entries(&self.dir))?;
        let mut families = Vec::new();
        self.groups(&mut families)?;
        let pools: Vec<(String, PathBuf)> = pools.into_iter().filter(|(_, dir)| dir.is_dir()).collect();
        for (pool, dir) in &pools {
            self.pool(pool, dir, &mut families)?;
        }
        for (pool, dir) in &pools {
            let Ok(text) = read(&dir.join("state")) else { continue };
            let state = text.lines().next().unwrap_or_default().to_lowercase();
            let states =
                family(&mut families, "node_zfs_zpool_state".into(), "kstat.zfs.misc.state".into(), MetricType::Gauge);
            for name in POOL_STATES {
                let labels = vec![("zpool".into(), pool.clone().into()), ("state".into(), name.into())];
                states.push("", labels, if state == name { 1.0 } else { 0.0 });
            }
        }
        out.extend(families);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::is_no_data;
    use crate::collect::testing::{fixture_config, procfs_at, scrape, TempTree};

    #[test]
    fn reads_the_fixture_kstats_and_pool() {
        let out = scrape(build, &fixture_config()).unwrap();
        let family = |name: &str| out.iter().find(|f| f.name == name).unwrap();
        let hits = family("node_zfs_arc_hits");
        assert_eq!(
            (hits.help.as_ref(), hits.kind, hits.samples[0].value),
            ("kstat.zfs.misc.arcstats.hits", MetricType::Unknown, 8_772_612.0)
        );
        assert_eq!(family("node_zfs_arc_arc_meta_min").samples[0].value, 16_777_216.0);
        assert_eq!(family("node_zfs_zpool_nread").samples[0].labels[0].1, "pool1");
        let writes = &family("node_zfs_zpool_dataset_writes").samples[1];
        assert_eq!((writes.labels[1].1.as_ref(), writes.value), ("pool1/dataset1", 4.0));
        let spaced = "name type data\ndataset_name 7 pool1/my dataset\n";
        assert_eq!(parse_kstat("objset", spaced).unwrap()[0].1, "pool1/my dataset", "names may hold spaces");
        let state: Vec<(&str, f64)> =
            family("node_zfs_zpool_state").samples.iter().map(|s| (s.labels[1].1.as_ref(), s.value)).collect();
        assert_eq!(state.iter().filter(|(_, v)| *v == 1.0).collect::<Vec<_>>(), [&("online", 1.0)]);
        assert!(out.iter().all(|f| !f.name.contains("dataset_name")), "strings are not samples");
    }

    #[test]
    fn a_garbled_kstat_fails_and_no_module_is_no_data() {
        let tree = TempTree::new("zfs");
        let kstat = "spl/kstat/zfs";
        let config = procfs_at(tree.root());
        tree.write(format!("{kstat}/arcstats"), "6 1 0x01 1 0 0 0\nname type data\nhits 4 lots\n");
        let err = scrape(build, &config).unwrap_err().to_string();
        assert!(err.contains("arcstats hits"), "{err}");
        tree.write(format!("{kstat}/arcstats"), "6 1 0x01 1 0 0 0\n");
        let err = scrape(build, &config).unwrap_err().to_string();
        assert!(err.contains("header"), "truncated: {err}");
        drop(tree);
        assert!(is_no_data(&scrape(build, &config).unwrap_err()));
    }
}
