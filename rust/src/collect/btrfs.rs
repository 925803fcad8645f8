//! btrfs: each Btrfs file system of `<sysfs>/fs/btrfs/<uuid>` (kernel
//! Documentation/ABI/testing/sysfs-fs-btrfs): `node_btrfs_info{uuid,label}`, its global
//! reserve, commit statistics, and per block group type (data, metadata, system) the bytes
//! reserved and, per profile (`single`, `dup`, `raid1`...), used, allocated and the allocation
//! ratio; and each device's size from `devices/<dev>/size` (512-byte sectors).
//!
//! As node_exporter (procfs): a number that doesn't parse counts 0, a `commit_stats` line that
//! doesn't parse fails the collector, as does a block group type's missing directory. No btrfs
//! mounted is no error and no series. node_exporter (since 1.4) also asks mounted file systems for
//! per-device error counters over the `BTRFS_IOC_GET_DEV_STATS` ioctl; obsagent doesn't (the
//! README's "What differs"), so it reports sizes the sysfs way node_exporter falls back to.

use super::{attribute, entries, malformed, read_if_exists, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::path::{Path, PathBuf};

/// The sector size of the `size` attributes (the kernel's `SECTOR_SIZE`).
const SECTOR_BYTES: f64 = 512.0;

struct Btrfs {
    dir: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Btrfs { dir: config.paths.sys("fs/btrfs") }))
}

/// An attribute, empty when absent.
fn text(path: &Path) -> Result<String> {
    match attribute(path) {
        Err(Error::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        other => other,
    }
}

/// An attribute's number, 0 when absent or not a number (procfs ignores the parse error).
fn number(path: &Path) -> Result<f64> {
    Ok(text(path)?.parse::<u64>().map_or(0.0, |v| v as f64))
}

/// The allocation ratio of a profile on `devices` devices.
fn ratio(profile: &str, devices: usize) -> f64 {
    let n = devices as f64;
    match profile {
        "single" | "raid0" => 1.0,
        "dup" | "raid1" | "raid10" => 2.0,
        "raid5" => n / (n - 1.0),
        "raid6" => n / (n - 2.0),
        _ => 0.0,
    }
}

/// The families, made at their first sample.
#[derive(Default)]
struct Families(Vec<MetricFamily>);

impl Families {
    fn add(&mut self, name: &str, help: &str, kind: MetricType, labels: Vec<(Text, Text)>, value: f64) {
        let full = format!("node_btrfs_{name}");
        let base = if kind == MetricType::Counter { full.trim_end_matches("_total").to_owned() } else { full.clone() };
        let at = match self.0.iter().position(|f| f.name == base.as_str()) {
            Some(at) => at,
            None => {
                self.0.push(MetricFamily::new(base, help.to_owned(), kind, ""));
                self.0.len() - 1
            }
        };
        self.0[at].push_named(full, labels, value);
    }
}

impl Btrfs {
    fn file_system(&self, dir: &Path, dir_name: &str, out: &mut Families) -> Result<()> {
        use MetricType::{Counter, Gauge};
        let devices = entries(&dir.join("devices")).unwrap_or_default();
        let mut uuid = text(&dir.join("metadata_uuid"))?;
        if uuid.is_empty() {
            uuid = dir_name.to_owned();
        }
        let uuid: Text = uuid.into();
        let labels = |extra: &[(&str, &str)]| {
            let mut labels: Vec<(Text, Text)> = vec![("uuid".into(), uuid.clone())];
            labels.extend(extra.iter().map(|(k, v)| (k.to_string().into(), v.to_string().into())));
            labels
        };
        let (mut commits, mut last, mut max, mut total) = (0.0, 0.0, 0.0, 0.0);
        let stats_path = dir.join("commit_stats");
        if let Some(stats) = read_if_exists(&stats_path)? {
            for line in stats.lines() {
                let bad = || malformed(&stats_path.display().to_string(), line);
                let [key, value] = line.split_whitespace().collect::<Vec<_>>()[..] else { return Err(bad()) };
                let value = value.parse::<u64>().map_err(|_| bad())? as f64;
                match key {
                    "commits" => commits = value,
                    "last_commit_ms" => last = value,
                    "max_commit_ms" => max = value,
                    "total_commit_ms" => total = value,
                    _ => {}
                }
            }
        }
        out.add("info", "Filesystem information", Gauge, labels(&[("label", &text(&dir.join("label"))?)]), 1.0);
        let reserve = number(&dir.join("allocation/global_rsv_size"))?;
        out.add("global_rsv_size_bytes", "Size of global reserve.", Gauge, labels(&[]), reserve);
        out.add("commits_total", "The total number of commits that have occurred.", Counter, labels(&[]), commits);
        out.add(
            "last_commit_seconds",
            "Duration of the most recent commit, in seconds.",
            Gauge,
            labels(&[]),
            last / 1000.0,
        );
        out.add("max_commit_seconds", "Duration of the slowest commit, in seconds.", Gauge, labels(&[]), max / 1000.0);
        out.add(
            "commit_seconds_total",
            "Sum of the duration of all commits, in seconds.",
            Counter,
            labels(&[]),
            total / 1000.0,
        );
        for group in ["data", "metadata", "system"] {
            let group_dir = dir.join("allocation").join(group);
            let reserved = number(&group_dir.join("bytes_reserved"))?;
            let profiles = entries(&group_dir)?;
            out.add(
                "reserved_bytes",
                "Amount of space reserved for a data type",
                Gauge,
                labels(&[("block_group_type", group)]),
                reserved,
            );
            for (profile, profile_dir) in profiles.into_iter().filter(|(_, p)| p.is_dir()) {
                let mode = labels(&[("block_group_type", group), ("mode", &profile)]);
                let used = number(&profile_dir.join("used_bytes"))?;
                let size = number(&profile_dir.join("total_bytes"))?;
                out.add("used_bytes", "Amount of used space by a layout/data type", Gauge, mode.clone(), used);
                out.add("size_bytes", "Amount of space allocated for a layout/data type", Gauge, mode.clone(), size);
                out.add(
                    "allocation_ratio",
                    "Data allocation ratio for a layout/data type",
                    Gauge,
                    mode,
                    ratio(&profile, devices.len()),
                );
            }
        }
        for (device, device_dir) in &devices {
            let size = SECTOR_BYTES * number(&device_dir.join("size"))?;
            out.add(
                "device_size_bytes",
                "Size of a device that is part of the filesystem.",
                Gauge,
                labels(&[("device", device)]),
                size,
            );
        }
        Ok(())
    }
}

impl NodeCollector for Btrfs {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let file_systems = match entries(&self.dir) {
            Ok(found) => found,
            Err(Error::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        let mut families = Families::default();
        for (name, dir) in file_systems.iter().filter(|(name, _)| name.contains('-')) {
            self.file_system(dir, name, &mut families)?;
        }
        out.extend(families.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{fixture_paths, Paths};

    fn scrape(config: &Config) -> Result<Vec<MetricFamily>> {
        let mut out = Vec::new();
        build(config)?.update(&mut out).map(|()| out)
    }

    #[test]
    fn reads_the_fixture_file_systems() {
        let out = scrape(&Config { paths: fixture_paths(), ..Config::default() }).unwrap();
        let family = |name: &str| out.iter().find(|f| f.name == name).unwrap();
        let labels: Vec<&str> = family("node_btrfs_info").samples.iter().map(|s| s.labels[1].1.as_ref()).collect();
        assert_eq!(labels, ["fixture", ""]);
        let ratios: Vec<(&str, f64)> =
            family("node_btrfs_allocation_ratio").samples.iter().map(|s| (s.labels[2].1.as_ref(), s.value)).collect();
        assert!(ratios.contains(&("raid5", 4.0 / 3.0)) && ratios.contains(&("raid1", 2.0)), "{ratios:?}");
        let sizes = &family("node_btrfs_device_size_bytes").samples;
        assert_eq!(sizes[0].value, 20_971_520.0 * 512.0);
        assert_eq!(family("node_btrfs_commit_seconds").samples[0].value, 0.1);
    }

    #[test]
    fn a_garbled_commit_line_fails_and_no_btrfs_is_empty() {
        let dir = std::env::temp_dir().join(format!("obsagent-btrfs-{}", std::process::id()));
        let fs = dir.join("fs/btrfs/00000000-1111-2222-3333-444444444444");
        for group in ["data", "metadata", "system"] {
            std::fs::create_dir_all(fs.join("allocation").join(group)).unwrap();
        }
        std::fs::write(fs.join("commit_stats"), "commits 2\nlast_commit_ms\n").unwrap();
        let config = Config { paths: Paths { sysfs: dir.clone(), ..fixture_paths() }, ..Config::default() };
        let err = scrape(&config).unwrap_err().to_string();
        assert!(err.contains("commit_stats"), "{err}");
        std::fs::remove_dir_all(fs.join("allocation/system")).unwrap();
        std::fs::write(fs.join("commit_stats"), "commits 2\n").unwrap();
        let err = scrape(&config).unwrap_err().to_string();
        assert!(err.contains("allocation/system"), "a vanished directory: {err}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(scrape(&config).unwrap().is_empty());
    }
}
