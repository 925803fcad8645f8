//! netclass: link state and properties of each network device from the attribute files of
//! `<sysfs>/class/net/<device>/`: `node_network_up`, `node_network_info{address,adminstate,
//! broadcast,device,duplex,ifalias,operstate}`, and one `node_network_<property>{device}` per
//! numeric attribute (carrier, mtu_bytes, speed_bytes, flags, ...), with node_exporter 1.9's
//! names, help and types.
//!
//! As node_exporter (procfs' sysfs package) does: the devices are the entries of class/net
//! that aren't regular files; of each device only regular files are read, at most 128 bytes,
//! trimmed; an attribute the kernel refuses (EINVAL for the speed of a link that is down,
//! EOPNOTSUPP, a permission or a vanished file) is left out; a number that doesn't parse is
//! left out; any other error fails the collector.
//!
//! Opening a sysfs attribute costs the kernel far more than reading it (a path walk, a
//! `struct file`, a seq_file): with ~22 attributes per device, the opens were half of a whole
//! scrape's CPU. So on the kernel's sysfs each device's attributes are found once and kept
//! open, and each scrape `pread`s them from offset 0, which makes sysfs show them afresh
//! (see `kernel_file`). The kept descriptors are bounded ([`MAX_KEPT`], and a quarter of
//! `RLIMIT_NOFILE`); a device past the bound is read the open-and-close way. A device that goes
//! away is forgotten at the next scrape; one recreated under the same name answers ENODEV on
//! its old descriptors and is found again. A recording (the fixtures) is read afresh each time.

use super::netdev::compile;
use super::{absent_is_no_data, parse_go_int, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use parking_lot::Mutex;
use regex::Regex;
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The most attribute descriptors kept open (about 45 devices' worth).
const MAX_KEPT: usize = 1024;

/// `(attribute file, property, type)` of each numeric family, in node_exporter's order
/// (`speed` is turned from Mbit/s into bytes/s).
const PROPERTIES: [(&str, &str, MetricType); 17] = [
    ("addr_assign_type", "address_assign_type", MetricType::Gauge),
    ("carrier", "carrier", MetricType::Gauge),
    ("carrier_changes", "carrier_changes_total", MetricType::Counter),
    ("carrier_up_count", "carrier_up_changes_total", MetricType::Counter),
    ("carrier_down_count", "carrier_down_changes_total", MetricType::Counter),
    ("dev_id", "device_id", MetricType::Gauge),
    ("dormant", "dormant", MetricType::Gauge),
    ("flags", "flags", MetricType::Gauge),
    ("ifindex", "iface_id", MetricType::Gauge),
    ("iflink", "iface_link", MetricType::Gauge),
    ("link_mode", "iface_link_mode", MetricType::Gauge),
    ("mtu", "mtu_bytes", MetricType::Gauge),
    ("name_assign_type", "name_assign_type", MetricType::Gauge),
    ("netdev_group", "net_dev_group", MetricType::Gauge),
    ("speed", "speed_bytes", MetricType::Gauge),
    ("tx_queue_len", "transmit_queue_length", MetricType::Gauge),
    ("type", "protocol_type", MetricType::Gauge),
];

/// The text attributes that go into `node_network_info`.
const TEXTS: [&str; 5] = ["address", "broadcast", "duplex", "ifalias", "operstate"];

/// One device's attributes as read.
#[derive(Debug, Default)]
pub struct Device {
    /// Its name (the directory's).
    pub name: String,
    /// Each of [`PROPERTIES`]' values where the file was there and parsed.
    pub numbers: [Option<i64>; 17],
    /// Each of [`TEXTS`]' values ("" where absent).
    pub texts: [String; 5],
}

/// An attribute's read, as sysfs allows: `None` for the errors node_exporter ignores.
fn judged(path: &Path, read: std::io::Result<(usize, [u8; 128])>) -> Result<Option<String>> {
    match read {
        Ok((n, buf)) => Ok(Some(String::from_utf8_lossy(&buf[..n]).trim().to_owned())),
        Err(err)
            if matches!(err.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied)
                || matches!(err.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP)) =>
        {
            Ok(None)
        }
        Err(err) => Err(Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", path.display())))),
    }
}

/// Reads an attribute as sysfs allows: `None` for the errors node_exporter ignores.
fn attribute(path: &Path) -> Result<Option<String>> {
    let mut buf = [0u8; 128];
    judged(path, File::open(path).and_then(|mut file| file.read(&mut buf)).map(|n| (n, buf)))
}

/// Where a kept attribute's value goes: `Ok(i)` into `numbers[i]`, `Err(i)` into `texts[i]`.
type Slot = std::result::Result<usize, usize>;

/// The slot of an attribute file node_exporter reads, if it is one.
fn slot(file: &str) -> Option<Slot> {
    match PROPERTIES.iter().position(|(f, ..)| *f == file) {
        Some(i) => Some(Ok(i)),
        None => TEXTS.iter().position(|f| *f == file).map(Err),
    }
}

/// Stores an attribute's text in its slot.
fn store(device: &mut Device, slot: Slot, text: Option<String>) {
    match slot {
        Ok(i) => device.numbers[i] = text.and_then(|v| parse_go_int(&v)),
        Err(i) => device.texts[i] = text.unwrap_or_default(),
    }
}

/// One device's attribute files, opened once: `(slot, path, file)`.
type KeptDevice = Vec<(Slot, PathBuf, File)>;

/// Reads one device's directory (regular files only).
pub fn read_device(dir: &Path, name: &str) -> Result<Device> {
    let io = |err: std::io::Error| Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", dir.display())));
    let mut device = Device { name: name.to_owned(), ..Device::default() };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if !entry.file_type().map_err(io)?.is_file() {
            continue;
        }
        if let Some(slot) = slot(&entry.file_name().to_string_lossy()) {
            store(&mut device, slot, attribute(&entry.path())?);
        }
    }
    Ok(device)
}

/// Opens one device's attribute files for keeping (those that open; the rest are absent).
fn open_device(dir: &Path) -> Result<KeptDevice> {
    let io = |err: std::io::Error| Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", dir.display())));
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Some(slot) = slot(&entry.file_name().to_string_lossy()) else { continue };
        if !entry.file_type().map_err(io)?.is_file() {
            continue;
        }
        let path = entry.path();
        match File::open(&path) {
            Ok(file) => files.push((slot, path, file)),
            Err(err) => {
                judged(&path, Err(err))?;
            }
        }
    }
    Ok(files)
}

/// Reads a kept device; `None` when its descriptors are stale (the device was recreated).
fn read_kept(name: &str, files: &KeptDevice) -> Result<Option<Device>> {
    let mut device = Device { name: name.to_owned(), ..Device::default() };
    for (slot, path, file) in files {
        let mut buf = [0u8; 128];
        let read = file.read_at(&mut buf, 0);
        if matches!(&read, Err(err) if err.raw_os_error() == Some(libc::ENODEV)) {
            return Ok(None);
        }
        store(&mut device, *slot, judged(path, read.map(|n| (n, buf)))?);
    }
    Ok(Some(device))
}

struct Netclass {
    dir: PathBuf,
    ignored: Option<Regex>,
    ignore_invalid_speed: bool,
    /// Whether `dir` is on the kernel's sysfs, looked up once.
    on_sysfs: OnceLock<bool>,
    /// The kept attribute files per device.
    kept: Mutex<HashMap<String, KeptDevice>>,
}

/// Builds the collector; a bad `--collector.netclass.ignored-devices` is an error naming it.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    let ignored = compile("--collector.netclass.ignored-devices", config.netclass_ignored_devices.as_deref())?;
    Ok(Box::new(Netclass {
        dir: config.paths.sys("class/net"),
        ignored,
        ignore_invalid_speed: config.netclass_ignore_invalid_speed,
        on_sysfs: OnceLock::new(),
        kept: Mutex::new(HashMap::new()),
    }))
}

impl Netclass {
    /// The devices, sorted by name, less the ignored ones.
    fn devices(&self) -> Result<Vec<Device>> {
        let io =
            |err: std::io::Error| Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", self.dir.display())));
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            if !entry.file_type().map_err(io)?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        // node_exporter's default `^$` ignores nothing, and neither does no regex.
        names.retain(|name| !self.ignored.as_ref().is_some_and(|r| r.is_match(name)));
        if !*self.on_sysfs.get_or_init(|| super::kernel_file::path_generated_by_kernel(&self.dir)) {
            return names.iter().map(|name| read_device(&self.dir.join(name), name)).collect();
        }
        let mut kept = self.kept.lock();
        kept.retain(|name, _| names.binary_search(name).is_ok());
        let limit = MAX_KEPT.min(open_files_limit() / 4);
        let mut devices = Vec::with_capacity(names.len());
        for name in &names {
            if let Some(device) = kept.get(name).map(|files| read_kept(name, files)).transpose()?.flatten() {
                devices.push(device);
                continue;
            }
            kept.remove(name);
            let dir = self.dir.join(name);
            let files = open_device(&dir)?;
            let held: usize = kept.values().map(Vec::len).sum();
            match read_kept(name, &files)? {
                Some(device) if held + files.len() <= limit => {
                    kept.insert(name.clone(), files);
                    devices.push(device);
                }
                Some(device) => devices.push(device),
                None => devices.push(read_device(&dir, name)?),
            }
        }
        Ok(devices)
    }
}

/// This process's soft limit on open files.
fn open_files_limit() -> usize {
    // SAFETY: getrlimit fills the struct we own.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
        } else {
            1024
        }
    }
}

impl NodeCollector for Netclass {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let devices = absent_is_no_data(self.devices())?;
        let help = "Value is 1 if operstate is 'up', 0 otherwise.";
        let mut up = MetricFamily::new("node_network_up", help, MetricType::Gauge, "");
        let help = "Non-numeric data from /sys/class/net/<iface>, value is always 1.";
        let mut info = MetricFamily::new("node_network_info", help, MetricType::Gauge, "");
        let mut properties: Vec<MetricFamily> = PROPERTIES
            .iter()
            .map(|(_, property, kind)| {
                let help = format!("Network device property: {property}");
                let name = format!("node_network_{}", property.strip_suffix("_total").unwrap_or(property));
                MetricFamily::new(name, help, *kind, "")
            })
            .collect();
        for device in &devices {
            let label = Text::from(device.name.clone());
            let [address, broadcast, duplex, ifalias, operstate] = &device.texts;
            up.push("", vec![("device".into(), label.clone())], if operstate == "up" { 1.0 } else { 0.0 });
            let flags = device.numbers[7];
            let adminstate = match flags {
                None => "unknown",
                Some(flags) if flags & 1 == 1 => "up",
                Some(_) => "down",
            };
            let labels = [
                ("address", address.as_str()),
                ("adminstate", adminstate),
                ("broadcast", broadcast),
                ("device", &device.name),
                ("duplex", duplex),
                ("ifalias", ifalias),
                ("operstate", operstate),
            ];
            info.push("", labels.iter().map(|(k, v)| ((*k).into(), (*v).to_owned().into())).collect(), 1.0);
            for (i, ((file, property, _), family)) in PROPERTIES.iter().zip(&mut properties).enumerate() {
                let Some(mut value) = device.numbers[i] else { continue };
                if *file == "speed" {
                    if value < 0 && self.ignore_invalid_speed {
                        continue;
                    }
                    // node_exporter's integer arithmetic: -1 (unknown) is -125000.
                    value = value.saturating_mul(1_000_000) / 8;
                }
                let name = format!("node_network_{property}");
                family.push_named(name, vec![("device".into(), label.clone())], value as f64);
            }
        }
        out.push(up);
        out.push(info);
        out.extend(properties.into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, label_pairs, sysfs_at, TempTree};

    fn collect(config: &Config) -> Result<Vec<MetricFamily>> {
        let mut out = Vec::new();
        build(config)?.update(&mut out)?;
        Ok(out)
    }

    fn values(out: &[MetricFamily], name: &str) -> Vec<(String, f64)> {
        let family = out.iter().find(|f| f.name == name).unwrap();
        family.samples.iter().map(|s| (s.labels.last().unwrap().1.to_string(), s.value)).collect()
    }

    #[test]
    fn collects_from_the_fixture() {
        let config = fixture_config();
        let out = collect(&config).unwrap();
        let up = [("bond0".into(), 1.0), ("eth0".into(), 1.0), ("ifb0".into(), 0.0), ("lo".into(), 0.0)];
        assert_eq!(values(&out, "node_network_up"), up);
        assert_eq!(values(&out, "node_network_speed_bytes"), [("eth0".to_owned(), -125000.0)]);
        assert_eq!(values(&out, "node_network_mtu_bytes")[3], ("lo".into(), 65536.0));
        assert_eq!(values(&out, "node_network_flags")[0], ("eth0".into(), 0x1003 as f64));
        let carrier = values(&out, "node_network_carrier");
        assert_eq!(carrier.len(), 2, "ifb0, down, has no carrier file: {carrier:?}");
        let info = &out.iter().find(|f| f.name == "node_network_info").unwrap().samples[1];
        let labels = label_pairs(info);
        assert_eq!(
            labels,
            [
                ("address", "02:fc:00:00:00:01"),
                ("adminstate", "up"),
                ("broadcast", "ff:ff:ff:ff:ff:ff"),
                ("device", "eth0"),
                ("duplex", "unknown"),
                ("ifalias", ""),
                ("operstate", "up")
            ]
        );
        let changes = out.iter().find(|f| f.name == "node_network_carrier_changes").unwrap();
        assert_eq!(
            (changes.kind, changes.samples[0].name.as_ref()),
            (MetricType::Counter, "node_network_carrier_changes_total")
        );
        assert_eq!(changes.help, "Network device property: carrier_changes_total");
        let ignoring =
            Config { netclass_ignored_devices: Some("^ifb".into()), netclass_ignore_invalid_speed: true, ..config };
        let out = collect(&ignoring).unwrap();
        assert_eq!(values(&out, "node_network_up").len(), 3);
        assert!(out.iter().all(|f| f.name != "node_network_speed_bytes"), "-1 is left out when told so");
    }

    #[test]
    fn a_missing_directory_or_garbled_value_fails_or_is_left_out() {
        let err = collect(&sysfs_at("/nonexistent")).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/class/net"), "{err}");
        let tree = TempTree::new("netclass");
        tree.write("class/net/eth9/mtu", "lots\n");
        tree.write("class/net/eth9/flags", "0x1002\n");
        tree.write("class/net/bonding_masters", "bond0\n");
        let out = collect(&sysfs_at(tree.root())).unwrap();
        assert!(out.iter().all(|f| f.name != "node_network_mtu_bytes"), "an unparsable value is left out");
        assert_eq!(values(&out, "node_network_up"), [("eth9".into(), 0.0)], "a regular file is not a device");
        let info = &out.iter().find(|f| f.name == "node_network_info").unwrap().samples[0];
        assert_eq!(info.labels[1].1.as_ref(), "down");
        assert_eq!(parse_go_int("0x1003"), Some(4099));
        assert_eq!(parse_go_int("-1"), Some(-1));
        assert_eq!(parse_go_int("010"), Some(8));
        assert_eq!(parse_go_int("1x"), None);
    }

    #[test]
    fn on_the_kernels_sysfs_attributes_are_kept_open_and_read_afresh() {
        let netclass = Netclass {
            dir: "/sys/class/net".into(),
            ignored: None,
            ignore_invalid_speed: false,
            on_sysfs: OnceLock::new(),
            kept: Mutex::new(HashMap::new()),
        };
        let first = netclass.devices().unwrap();
        let lo = first.iter().find(|d| d.name == "lo").expect("every Linux host has lo");
        let kept = netclass.kept.lock().get("lo").map(Vec::len).unwrap_or_default();
        assert!(kept > 10, "lo's attributes are kept: {kept}");
        let again = netclass.devices().unwrap();
        let lo_again = again.iter().find(|d| d.name == "lo").unwrap();
        let fresh = read_device(Path::new("/sys/class/net/lo"), "lo").unwrap();
        assert_eq!(
            (&lo.texts, lo.numbers[11]),
            (&fresh.texts, fresh.numbers[11]),
            "the mtu and texts as opened afresh"
        );
        assert_eq!((&lo_again.texts, lo_again.numbers), (&fresh.texts, fresh.numbers));
        netclass.kept.lock().insert("gone".into(), Vec::new());
        netclass.devices().unwrap();
        assert!(!netclass.kept.lock().contains_key("gone"), "a device that went away is forgotten");
    }
}
