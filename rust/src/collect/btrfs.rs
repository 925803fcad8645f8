//! btrfs: each Btrfs file system of `<sysfs>/fs/btrfs/<uuid>` (kernel
//! Documentation/ABI/testing/sysfs-fs-btrfs): `node_btrfs_info{uuid,label}`, its global
//! reserve, commit statistics, and per block group type (data, metadata, system) the bytes
//! reserved and, per profile (`single`, `dup`, `raid1`...), used, allocated and the allocation
//! ratio; and each device's size from `devices/<dev>/size` (512-byte sectors).
//!
//! As node_exporter (procfs): a number that doesn't parse counts 0, a `commit_stats` line that
//! doesn't parse fails the collector, as does a block group type's missing directory. No btrfs
//! mounted is no error and no series.
//!
//! Per device, as node_exporter (since 1.4): each btrfs mount of `<procfs>/1/mountinfo` (else
//! `self/mountinfo`) is opened under `<rootfs>` and asked over ioctls (`BTRFS_IOC_FS_INFO`,
//! `_DEV_INFO`, `_GET_DEV_STATS`, kernel include/uapi/linux/btrfs.h) for its devices' sizes,
//! unused bytes and error counters, labelled with the device's name and `btrfs_dev_uuid`.
//! A file system that can't be asked (not mounted here, no permission) is reported the sysfs
//! way node_exporter falls back to, `device_size_bytes{device}` alone, logged at debug level.

use super::filesystem::parse_mountinfo;
use super::{attribute, entries, malformed, read_if_exists, Config, NodeCollector, Paths};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::collections::HashMap;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// The sector size of the `size` attributes (the kernel's `SECTOR_SIZE`).
const SECTOR_BYTES: f64 = 512.0;

struct Btrfs {
    dir: PathBuf,
    paths: Paths,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Btrfs { dir: config.paths.sys("fs/btrfs"), paths: config.paths.clone() }))
}

/// The kernel's `struct btrfs_ioctl_fs_info_args` (1024 bytes; the rest unread).
#[repr(C)]
struct FsInfoArgs {
    max_id: u64,
    num_devices: u64,
    fsid: [u8; 16],
    rest: [u8; 1024 - 32],
}

/// The kernel's `struct btrfs_ioctl_dev_info_args` (4096 bytes).
#[repr(C)]
struct DevInfoArgs {
    devid: u64,
    uuid: [u8; 16],
    bytes_used: u64,
    total_bytes: u64,
    fsid: [u8; 16],
    unused: [u64; 377],
    path: [u8; 1024],
}

/// The kernel's `struct btrfs_ioctl_get_dev_stats` (1032 bytes).
#[repr(C)]
struct DevStatsArgs {
    devid: u64,
    nr_items: u64,
    flags: u64,
    /// Write, read, flush, corruption and generation errors.
    values: [u64; 5],
    unused: [u64; 121],
}

/// `_IOC(direction, 0x94, number, size)`: a btrfs ioctl's request number.
const fn btrfs_ioctl(direction: u64, number: u64, size: usize) -> u64 {
    (direction << 30) | ((size as u64) << 16) | (0x94 << 8) | number
}
const FS_INFO: u64 = btrfs_ioctl(2, 31, std::mem::size_of::<FsInfoArgs>());
const DEV_INFO: u64 = btrfs_ioctl(3, 30, std::mem::size_of::<DevInfoArgs>());
const GET_DEV_STATS: u64 = btrfs_ioctl(3, 52, std::mem::size_of::<DevStatsArgs>());

/// One device of a mounted file system, as the ioctls report it.
struct IoctlDevice {
    name: String,
    uuid: String,
    total_bytes: u64,
    bytes_used: u64,
    errors: [u64; 5],
}

/// The devices of each file system asked, by file system id (hex without dashes).
type Asked = HashMap<String, Vec<IoctlDevice>>;

/// A UUID's canonical text (8-4-4-4-12 lower-case hex).
fn uuid_text(bytes: &[u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// Issues one ioctl on `file` with `args`.
fn ioctl<T>(file: &std::fs::File, request: u64, args: &mut T) -> std::io::Result<()> {
    // SAFETY: `args` is the `repr(C)` struct of the kernel's size for `request`, owned by us.
    let result = unsafe { libc::ioctl(file.as_raw_fd(), request as _, args as *mut T) };
    if result < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The file system id and devices of the btrfs mounted at `mount_point`.
fn ioctl_devices(mount_point: &Path) -> std::io::Result<(String, Vec<IoctlDevice>)> {
    let file = std::fs::File::open(mount_point)?;
    // SAFETY: all-zero is a valid value of these plain-integer structs.
    let mut info: FsInfoArgs = unsafe { std::mem::zeroed() };
    ioctl(&file, FS_INFO, &mut info)?;
    let fsid: String = info.fsid.iter().map(|b| format!("{b:02x}")).collect();
    let mut devices = Vec::new();
    for devid in 0..=info.max_id {
        // SAFETY: as above.
        let mut dev: DevInfoArgs = unsafe { std::mem::zeroed() };
        dev.devid = devid;
        match ioctl(&file, DEV_INFO, &mut dev) {
            Err(err) if err.raw_os_error() == Some(libc::ENODEV) => continue,
            other => other?,
        }
        // SAFETY: as above.
        let mut stats: DevStatsArgs = unsafe { std::mem::zeroed() };
        (stats.devid, stats.nr_items) = (devid, 5);
        ioctl(&file, GET_DEV_STATS, &mut stats)?;
        let path = &dev.path[..dev.path.iter().position(|b| *b == 0).unwrap_or(dev.path.len())];
        let name = String::from_utf8_lossy(path).rsplit('/').next().unwrap_or_default().to_owned();
        let (total_bytes, bytes_used, uuid) = (dev.total_bytes, dev.bytes_used, uuid_text(&dev.uuid));
        devices.push(IoctlDevice { name, uuid, total_bytes, bytes_used, errors: stats.values });
        if devices.len() as u64 == info.num_devices {
            break;
        }
    }
    Ok((fsid, devices))
}

impl Btrfs {
    /// The devices of each mounted btrfs; those that can't be asked are left out, logged at
    /// debug level.
    fn ioctl_stats(&self) -> Asked {
        let mut found = HashMap::new();
        let text = std::fs::read_to_string(self.paths.proc("1/mountinfo"))
            .or_else(|_| std::fs::read_to_string(self.paths.proc("self/mountinfo")));
        let mounts = match text.map_err(Error::from).and_then(|text| parse_mountinfo(&text)) {
            Ok(mounts) => mounts,
            Err(err) => {
                crate::log::debug("btrfs: no mount table", &[("collector", "btrfs"), ("error", &err.to_string())]);
                return found;
            }
        };
        let mut devices_done = std::collections::HashSet::new();
        for mount in mounts.iter().filter(|m| m.fs_type == "btrfs") {
            if devices_done.contains(&mount.device) {
                continue;
            }
            let path = self.paths.rootfs.join(mount.mount_point.trim_start_matches('/'));
            match ioctl_devices(&path) {
                Ok((fsid, devices)) => {
                    devices_done.insert(mount.device.clone());
                    found.entry(fsid).or_insert(devices);
                }
                Err(err) => {
                    let at = path.display().to_string();
                    let fields = [("collector", "btrfs"), ("mount_point", at.as_str()), ("error", &err.to_string())];
                    crate::log::debug("btrfs: cannot query the file system", &fields);
                }
            }
        }
        found
    }
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
    fn file_system(&self, dir: &Path, name: &str, ioctl: &Asked, out: &mut Families) -> Result<()> {
        use MetricType::{Counter, Gauge};
        let devices = entries(&dir.join("devices")).unwrap_or_default();
        let mut uuid = text(&dir.join("metadata_uuid"))?;
        if uuid.is_empty() {
            uuid = name.to_owned();
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
        let size_help = "Size of a device that is part of the filesystem.";
        let Some(asked) = ioctl.get(&uuid.replace('-', "")) else {
            for (device, device_dir) in &devices {
                let size = SECTOR_BYTES * number(&device_dir.join("size"))?;
                out.add("device_size_bytes", size_help, Gauge, labels(&[("device", device)]), size);
            }
            return Ok(());
        };
        for device in asked {
            let ids = [("device", device.name.as_str()), ("btrfs_dev_uuid", device.uuid.as_str())];
            out.add("device_size_bytes", size_help, Gauge, labels(&ids), device.total_bytes as f64);
            let unused = device.total_bytes.wrapping_sub(device.bytes_used) as f64;
            let help = "Unused bytes unused on a device that is part of the filesystem.";
            out.add("device_unused_bytes", help, Gauge, labels(&ids), unused);
            for (kind, count) in ["write", "read", "flush", "corruption", "generation"].iter().zip(device.errors) {
                let labels = labels(&[("type", kind), ids[0], ids[1]]);
                out.add("device_errors_total", "Errors reported for the device", Counter, labels, count as f64);
            }
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
        let file_systems: Vec<_> = file_systems.into_iter().filter(|(name, _)| name.contains('-')).collect();
        let ioctl = if file_systems.is_empty() { HashMap::new() } else { self.ioctl_stats() };
        let mut families = Families::default();
        for (name, dir) in &file_systems {
            self.file_system(dir, name, &ioctl, &mut families)?;
        }
        out.extend(families.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{family, fixture_config, scrape, sysfs_at, TempTree};

    #[test]
    fn reads_the_fixture_file_systems() {
        let out = scrape(build, &fixture_config()).unwrap();
        let labels: Vec<&str> =
            family(&out, "node_btrfs_info").samples.iter().map(|s| s.labels[1].1.as_ref()).collect();
        assert_eq!(labels, ["fixture", ""]);
        let ratios: Vec<(&str, f64)> = family(&out, "node_btrfs_allocation_ratio")
            .samples
            .iter()
            .map(|s| (s.labels[2].1.as_ref(), s.value))
            .collect();
        assert!(ratios.contains(&("raid5", 4.0 / 3.0)) && ratios.contains(&("raid1", 2.0)), "{ratios:?}");
        let sizes = &family(&out, "node_btrfs_device_size_bytes").samples;
        assert_eq!(sizes[0].value, 20_971_520.0 * 512.0);
        assert_eq!(family(&out, "node_btrfs_commit_seconds").samples[0].value, 0.1);
    }

    #[test]
    fn the_ioctl_structs_have_the_kernels_sizes() {
        assert_eq!(std::mem::size_of::<FsInfoArgs>(), 1024);
        assert_eq!(std::mem::size_of::<DevInfoArgs>(), 4096);
        assert_eq!(std::mem::size_of::<DevStatsArgs>(), 1032);
        assert_eq!(GET_DEV_STATS, 0xc408_9434, "BTRFS_IOC_GET_DEV_STATS as btrfs-progs has it");
        assert_eq!(FS_INFO, 0x8400_941f);
        assert_eq!(DEV_INFO, 0xd000_941e);
        let uuid = [0x91, 0xa2, 0xec, 0x14, 0x7c, 0x2f, 0x4c, 0xed, 0xb1, 0x02, 0xe0, 0xce, 0x62, 0x26, 0x4e, 0x23];
        assert_eq!(uuid_text(&uuid), "91a2ec14-7c2f-4ced-b102-e0ce62264e23");
        assert!(ioctl_devices(Path::new("/proc")).is_err(), "not a btrfs: no devices, an error");
    }

    #[test]
    fn a_garbled_commit_line_fails_and_no_btrfs_is_empty() {
        let tree = TempTree::new("btrfs");
        let fs = "fs/btrfs/00000000-1111-2222-3333-444444444444";
        for group in ["data", "metadata", "system"] {
            tree.create_dir(format!("{fs}/allocation/{group}"));
        }
        tree.write(format!("{fs}/commit_stats"), "commits 2\nlast_commit_ms\n");
        let config = sysfs_at(tree.root());
        let err = scrape(build, &config).unwrap_err().to_string();
        assert!(err.contains("commit_stats"), "{err}");
        tree.remove(format!("{fs}/allocation/system"));
        tree.write(format!("{fs}/commit_stats"), "commits 2\n");
        let err = scrape(build, &config).unwrap_err().to_string();
        assert!(err.contains("allocation/system"), "a vanished directory: {err}");
        drop(tree);
        assert!(scrape(build, &config).unwrap().is_empty());
    }
}
