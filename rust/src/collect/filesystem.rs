//! filesystem: size, free and available bytes, inodes and read-only state of each mount, from
//! `<procfs>/1/mountinfo` (else `<procfs>/self/mountinfo`) and statfs on `<rootfs>/<mountpoint>`,
//! with upstream node_exporter's default excludes and its 1.8+ `device_error` label.
//!
//! statfs on a dead network mount can block for minutes, so the calls for mounts that may
//! block go to a worker thread in one batch (one round trip, not one per mount) and the scrape
//! waits at most `timeout` for the batch. A mount not answered in time is reported as an error
//! and skipped until its call returns; the stuck worker is replaced so later scrapes go on.
//! Local disk and memory file systems answer statfs from counters in memory, so they are
//! called inline: the round trip to the worker cost more than all of them together.
//!
//! The mount table is parsed again only when it changes: the kernel marks a mountinfo
//! descriptor readable with `POLLPRI` after any mount, unmount or remount in its namespace (as
//! libmount's monitor uses it). A recorded file (tests, `--path.procfs` elsewhere) is read at
//! every scrape.

use super::kernel_file::{generated_by_kernel, read_from_start};
use super::netdev::compile;
use super::{malformed, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use parking_lot::Mutex;
use regex::Regex;
use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Upstream's default mount points to skip.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// Upstream's default file system types to skip.
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|\
hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$";

/// File systems whose statfs never waits on a device or a server: called inline.
const LOCAL_FS_TYPES: &[&str] = &[
    "btrfs", "exfat", "ext2", "ext3", "ext4", "f2fs", "jfs", "msdos", "ntfs", "ntfs3", "ramfs", "reiserfs", "tmpfs",
    "vfat", "xfs",
];

/// One mount as mountinfo describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// The mount source (`/dev/vda`, `tmpfs`, ...).
    pub device: String,
    /// Where it is mounted, octal escapes decoded.
    pub mount_point: String,
    /// File system type.
    pub fs_type: String,
    /// Whether the mount options say `ro`.
    pub read_only: bool,
    /// The device's major and minor numbers (`0:21`), for `node_filesystem_mount_info`.
    pub major_minor: (u32, u32),
}

/// Decodes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal =
            bytes.get(i + 1..i + 4).filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(digits) => {
                out.push(digits.iter().fold(0u8, |acc, d| acc.wrapping_mul(8).wrapping_add(d - b'0')));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo: `id parent major:minor root mountpoint options [optional...] - fstype source superoptions`.
pub fn parse_mountinfo(text: &str) -> Result<Vec<Mount>> {
    let mut mounts = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(' ').collect();
        let separator = fields.iter().position(|f| *f == "-").filter(|&i| i >= 6 && fields.len() >= i + 3);
        let separator = separator.ok_or_else(|| malformed("mountinfo line", line))?;
        let major_minor = fields[2]
            .split_once(':')
            .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)))
            .ok_or_else(|| malformed("mountinfo line", line))?;
        mounts.push(Mount {
            major_minor,
            device: unescape(fields[separator + 2]),
            mount_point: unescape(fields[4]),
            fs_type: fields[separator + 1].to_owned(),
            read_only: fields[5].split(',').any(|option| option == "ro"),
        });
    }
    Ok(mounts)
}

/// What statfs reports, in the units node_exporter multiplies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// Block size (`f_bsize`).
    pub block_size: f64,
    /// Total, free and available-to-users blocks.
    pub blocks: f64,
    /// Free blocks, including those reserved for root.
    pub blocks_free: f64,
    /// Blocks free for unprivileged users.
    pub blocks_available: f64,
    /// Inodes.
    pub files: f64,
    /// Free inodes.
    pub files_free: f64,
}

/// A function doing statfs (replaced by slow ones in tests).
pub type StatFn = fn(&Path) -> io::Result<Stat>;

/// statfs(2) on a path.
pub fn statfs(path: &Path) -> io::Result<Stat> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: statfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut buf) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Stat {
        block_size: buf.f_bsize as f64,
        blocks: buf.f_blocks as f64,
        blocks_free: buf.f_bfree as f64,
        blocks_available: buf.f_bavail as f64,
        files: buf.f_files as f64,
        files_free: buf.f_ffree as f64,
    })
}

/// A batch of paths and where to send `(index, result)` for each.
type Job = (Vec<PathBuf>, mpsc::Sender<(usize, io::Result<Stat>)>);

/// statfs on a worker thread, with a deadline.
struct StatWorker {
    stat: StatFn,
    timeout: Duration,
    jobs: Mutex<mpsc::Sender<Job>>,
    /// Paths whose call has not returned yet.
    in_flight: Arc<Mutex<HashSet<PathBuf>>>,
}

impl StatWorker {
    fn new(stat: StatFn, timeout: Duration) -> StatWorker {
        let in_flight = Arc::new(Mutex::new(HashSet::new()));
        let jobs = Mutex::new(Self::spawn(stat, in_flight.clone()));
        StatWorker { stat, timeout, jobs, in_flight }
    }

    fn spawn(stat: StatFn, in_flight: Arc<Mutex<HashSet<PathBuf>>>) -> mpsc::Sender<Job> {
        let (sender, jobs) = mpsc::channel::<Job>();
        let worker = move || {
            for (paths, reply) in jobs {
                for (index, path) in paths.iter().enumerate() {
                    let result = stat(path);
                    in_flight.lock().remove(path);
                    if reply.send((index, result)).is_err() {
                        // The scrape gave up on this worker and started another.
                        let mut in_flight = in_flight.lock();
                        paths[index + 1..].iter().for_each(|p| {
                            in_flight.remove(p);
                        });
                        return;
                    }
                }
            }
        };
        match std::thread::Builder::new().name("obsagent-statfs".into()).spawn(worker) {
            Ok(_) => sender,
            Err(_) => mpsc::channel().0, // no thread: every call reports an error
        }
    }

    /// statfs of every path, in order, inline for those on local file systems; errors as text
    /// for the `device_error` label.
    fn call_all(&self, paths: &[(PathBuf, bool)]) -> Vec<std::result::Result<Stat, String>> {
        let mut results: Vec<std::result::Result<Stat, String>> =
            vec![Err("statfs was not called: no worker thread".into()); paths.len()];
        let mut positions = Vec::new();
        {
            let mut in_flight = self.in_flight.lock();
            for (i, (path, local)) in paths.iter().enumerate() {
                if *local {
                    results[i] = (self.stat)(path).map_err(|err| err.to_string());
                } else if in_flight.insert(path.clone()) {
                    positions.push(i);
                } else {
                    results[i] = Err("mountpoint timeout: an earlier statfs has not returned".into());
                }
            }
        }
        // The worker answers in order, so on a timeout the first unanswered path is the one it
        // is stuck on; the paths queued behind it go to a fresh worker.
        let mut pending = positions;
        let mut jobs = self.jobs.lock();
        while !pending.is_empty() {
            let (reply, answers) = mpsc::channel();
            let job: Job = (pending.iter().map(|&i| paths[i].0.clone()).collect(), reply);
            if let Err(mpsc::SendError(job)) = jobs.send(job) {
                *jobs = Self::spawn(self.stat, self.in_flight.clone());
                let _ = jobs.send(job);
            }
            let deadline = std::time::Instant::now() + self.timeout;
            let mut answered = 0;
            while answered < pending.len() {
                match answers.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
                    Ok((index, stat)) => {
                        results[pending[index]] = stat.map_err(|err| err.to_string());
                        answered += 1;
                    }
                    Err(_) => break,
                }
            }
            if answered == pending.len() {
                break;
            }
            results[pending[answered]] = Err(format!("mountpoint timeout: statfs took longer than {:?}", self.timeout));
            *jobs = Self::spawn(self.stat, self.in_flight.clone());
            pending.drain(..=answered);
        }
        results
    }
}

struct Filesystem {
    mountinfo: [PathBuf; 2],
    rootfs: PathBuf,
    mount_points_exclude: Option<Regex>,
    fs_types_exclude: Option<Regex>,
    /// node_exporter 1.9's includes (exclusive with the excludes).
    mount_points_include: Option<Regex>,
    fs_types_include: Option<Regex>,
    worker: StatWorker,
    /// The mountinfo descriptor polled for changes, and the mounts it listed.
    watched: Mutex<Option<(File, Arc<Vec<Mount>>)>>,
}

/// The text of a mountinfo file and its descriptor. The kernel starts the descriptor's change
/// mark at the open, before the text is read, so no later change goes unmarked.
fn open_mountinfo(path: &Path) -> Result<(String, File)> {
    let named = |err: io::Error| io::Error::new(err.kind(), format!("{}: {err}", path.display()));
    let file = File::open(path).map_err(named)?;
    let text = read_from_start(&file).map_err(named)?;
    Ok((text, file))
}

/// Whether the kernel marked the mount table changed since this descriptor was last polled.
fn mount_table_changed(file: &File) -> bool {
    let mut poll = libc::pollfd { fd: file.as_raw_fd(), events: libc::POLLPRI, revents: 0 };
    // SAFETY: poll reads and writes the one pollfd we own; timeout 0 never blocks.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    ready != 0 && poll.revents & (libc::POLLPRI | libc::POLLERR | libc::POLLNVAL) != 0
}

/// Builds the collector; a bad exclude regex is an error naming the flag.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Filesystem::new(config, statfs, Duration::from_secs(5))?))
}

impl Filesystem {
    fn new(config: &Config, stat: StatFn, timeout: Duration) -> Result<Filesystem> {
        // An absent flag means upstream's default; an empty one, no exclusion (as in node_exporter).
        // An include with no exclude given clears the default exclude; with one given, it is an
        // error, as in node_exporter 1.9.
        let filter = |name: &str, exclude: Option<&str>, include: Option<&str>, default: &str| {
            let include_flag = format!("--collector.filesystem.{name}-include");
            let exclude_flag = format!("--collector.filesystem.{name}-exclude");
            let include = compile(&include_flag, include)?;
            let exclude = match (exclude, &include) {
                (None, Some(_)) => None,
                (pattern, _) => compile(&exclude_flag, Some(pattern.unwrap_or(default)))?,
            };
            if include.is_some() && exclude.is_some() {
                return Err(Error::InvalidValue(format!("{exclude_flag} and {include_flag} are mutually exclusive")));
            }
            Ok((exclude, include))
        };
        let (mount_points_exclude, mount_points_include) = filter(
            "mount-points",
            config.filesystem_mount_points_exclude.as_deref(),
            config.filesystem_mount_points_include.as_deref(),
            DEFAULT_MOUNT_POINTS_EXCLUDE,
        )?;
        let (fs_types_exclude, fs_types_include) = filter(
            "fs-types",
            config.filesystem_fs_types_exclude.as_deref(),
            config.filesystem_fs_types_include.as_deref(),
            DEFAULT_FS_TYPES_EXCLUDE,
        )?;
        Ok(Filesystem {
            mountinfo: [config.paths.proc("1/mountinfo"), config.paths.proc("self/mountinfo")],
            rootfs: config.paths.rootfs.clone(),
            mount_points_exclude,
            fs_types_exclude,
            mount_points_include,
            fs_types_include,
            worker: StatWorker::new(stat, timeout),
            watched: Mutex::new(None),
        })
    }

    /// The mounts to report: from the watched table while the kernel says it is unchanged.
    fn mounts(&self) -> Result<Arc<Vec<Mount>>> {
        let mut watched = self.watched.lock();
        if let Some((file, mounts)) = watched.as_ref() {
            if !mount_table_changed(file) {
                return Ok(mounts.clone());
            }
        }
        *watched = None;
        let (text, file) = match open_mountinfo(&self.mountinfo[0]) {
            Ok(read) => read,
            Err(_) => open_mountinfo(&self.mountinfo[1])?,
        };
        let mut seen = HashSet::new();
        let mounts: Arc<Vec<Mount>> = Arc::new(
            parse_mountinfo(&text)?
                .into_iter()
                .filter(|m| {
                    let excluded = |regex: &Option<Regex>, text: &str| regex.as_ref().is_some_and(|r| r.is_match(text));
                    let included = |regex: &Option<Regex>, text: &str| regex.as_ref().is_none_or(|r| r.is_match(text));
                    !excluded(&self.mount_points_exclude, &m.mount_point)
                        && !excluded(&self.fs_types_exclude, &m.fs_type)
                        && included(&self.mount_points_include, &m.mount_point)
                        && included(&self.fs_types_include, &m.fs_type)
                })
                .filter(|m| seen.insert((m.device.clone(), m.mount_point.clone(), m.fs_type.clone())))
                .collect(),
        );
        if generated_by_kernel(&file) {
            *watched = Some((file, mounts.clone()));
        }
        Ok(mounts)
    }
}

const FAMILIES: [(&str, &str); 7] = [
    ("node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes."),
    ("node_filesystem_device_error", "Whether an error occurred while getting statistics for the given device."),
    ("node_filesystem_files", "Filesystem total file nodes."),
    ("node_filesystem_files_free", "Filesystem total free file nodes."),
    ("node_filesystem_free_bytes", "Filesystem free space in bytes."),
    ("node_filesystem_readonly", "Filesystem read-only status."),
    ("node_filesystem_size_bytes", "Filesystem size in bytes."),
];

impl NodeCollector for Filesystem {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let mut families: Vec<MetricFamily> =
            FAMILIES.iter().map(|(name, help)| MetricFamily::new(*name, *help, MetricType::Gauge, "")).collect();
        // node_exporter 1.9: one per mount whose statfs succeeded.
        let help = "Filesystem mount information.";
        let mut mount_info = MetricFamily::new("node_filesystem_mount_info", help, MetricType::Gauge, "");
        let mounts = self.mounts()?;
        let paths: Vec<(PathBuf, bool)> = mounts
            .iter()
            .map(|m| {
                let path = self.rootfs.join(m.mount_point.trim_start_matches('/'));
                (path, LOCAL_FS_TYPES.contains(&m.fs_type.as_str()))
            })
            .collect();
        for (mount, stat) in mounts.iter().zip(self.worker.call_all(&paths)) {
            let error = stat.as_ref().err().cloned().unwrap_or_default();
            let labels: Vec<(Text, Text)> = vec![
                ("device".into(), mount.device.clone().into()),
                ("device_error".into(), error.into()),
                ("fstype".into(), mount.fs_type.clone().into()),
                ("mountpoint".into(), mount.mount_point.clone().into()),
            ];
            if stat.is_ok() {
                let (major, minor) = mount.major_minor;
                let labels = vec![
                    ("device".into(), mount.device.clone().into()),
                    ("major".into(), major.to_string().into()),
                    ("minor".into(), minor.to_string().into()),
                    ("mountpoint".into(), mount.mount_point.clone().into()),
                ];
                mount_info.push("", labels, 1.0);
            }
            let values = match stat {
                Ok(s) => [
                    Some(s.blocks_available * s.block_size),
                    Some(0.0),
                    Some(s.files),
                    Some(s.files_free),
                    Some(s.blocks_free * s.block_size),
                    Some(f64::from(u8::from(mount.read_only))),
                    Some(s.blocks * s.block_size),
                ],
                Err(_) => [None, Some(1.0), None, None, None, Some(f64::from(u8::from(mount.read_only))), None],
            };
            for (family, value) in families.iter_mut().zip(values) {
                if let Some(value) = value {
                    family.push("", labels.clone(), value);
                }
            }
        }
        out.extend(families);
        out.push(mount_info);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_paths, TempTree};
    use crate::collect::Paths;

    const MOUNTINFO: &str = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
        27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
        28 27 0:30 / /mnt/my\\040disk ro,nosuid master:2 - vfat /dev/sdb1 rw\n\
        29 27 254:0 / / rw,relatime - ext4 /dev/vda rw\n";

    fn fake(path: &Path) -> io::Result<Stat> {
        if path.ends_with("gone") {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        if path.ends_with("stuck") {
            std::thread::sleep(Duration::from_millis(600));
        }
        Ok(Stat {
            block_size: 4096.0,
            blocks: 100.0,
            blocks_free: 50.0,
            blocks_available: 40.0,
            files: 10.0,
            files_free: 5.0,
        })
    }

    /// procfs and sysfs in `tree`, the root file system this machine's.
    fn paths(tree: &TempTree) -> Paths {
        Paths { procfs: tree.path("proc"), sysfs: tree.path("sys"), rootfs: "/".into() }
    }

    fn collector(mountinfo: &str, timeout: Duration) -> (TempTree, Filesystem) {
        let tree = TempTree::new("fs");
        tree.write("proc/1/mountinfo", mountinfo);
        let collector = Filesystem::new(&Config { paths: paths(&tree), ..Config::default() }, fake, timeout).unwrap();
        (tree, collector)
    }

    fn series(out: &[MetricFamily], name: &str) -> Vec<(String, f64)> {
        let family = out.iter().find(|f| f.name == name).unwrap();
        family.samples.iter().map(|s| (s.labels[3].1.to_string(), s.value)).collect()
    }

    #[test]
    fn parses_mountinfo_with_escapes_and_optional_fields() {
        let mounts = parse_mountinfo(MOUNTINFO).unwrap();
        assert_eq!(mounts.len(), 4);
        let disk = &mounts[2];
        assert_eq!(disk.mount_point, "/mnt/my disk");
        assert_eq!((disk.device.as_str(), disk.fs_type.as_str(), disk.read_only), ("/dev/sdb1", "vfat", true));
        assert!(!mounts[1].read_only);
        assert!(parse_mountinfo("27 1 254:0 / /\n").unwrap_err().to_string().contains("mountinfo line"));
        assert_eq!((mounts[1].major_minor, mounts[2].major_minor), ((254, 0), (0, 30)));
        assert!(parse_mountinfo("27 1 254 / / rw - ext4 /dev/vda rw\n").is_err(), "no major:minor");
    }

    #[test]
    fn excludes_duplicates_and_values() {
        let (tree, fs) = collector(MOUNTINFO, Duration::from_secs(5));
        let mut out = Vec::new();
        fs.update(&mut out).unwrap();
        assert_eq!(
            series(&out, "node_filesystem_size_bytes"),
            [("/".to_string(), 409600.0), ("/mnt/my disk".to_string(), 409600.0)]
        );
        assert_eq!(series(&out, "node_filesystem_avail_bytes")[0].1, 40.0 * 4096.0);
        assert_eq!(series(&out, "node_filesystem_readonly")[1].1, 1.0);
        let labels = &out[0].samples[0].labels;
        let names: Vec<&str> = labels.iter().map(|(n, _)| n.as_ref()).collect();
        assert_eq!(names, ["device", "device_error", "fstype", "mountpoint"]);
        let info = out.iter().find(|f| f.name == "node_filesystem_mount_info").unwrap();
        let labels: Vec<Vec<&str>> =
            info.samples.iter().map(|s| s.labels.iter().map(|(_, v)| v.as_ref()).collect()).collect();
        assert_eq!(labels, [["/dev/vda", "254", "0", "/"], ["/dev/sdb1", "0", "30", "/mnt/my disk"]]);
        let everything = Config {
            filesystem_fs_types_exclude: Some(String::new()),
            filesystem_mount_points_exclude: Some(String::new()),
            paths: paths(&tree),
            ..Config::default()
        };
        let mut all = Vec::new();
        Filesystem::new(&everything, fake, Duration::from_secs(5)).unwrap().update(&mut all).unwrap();
        assert_eq!(series(&all, "node_filesystem_size_bytes").len(), 3, "empty excludes keep /proc too");
        let bad = Config { filesystem_fs_types_exclude: Some("[".into()), ..Config::default() };
        assert!(build(&bad).err().unwrap().to_string().contains("--collector.filesystem.fs-types-exclude"));
        let include =
            Config { filesystem_fs_types_include: Some("^vfat$".into()), paths: paths(&tree), ..Config::default() };
        let mut only = Vec::new();
        Filesystem::new(&include, fake, Duration::from_secs(5)).unwrap().update(&mut only).unwrap();
        assert_eq!(series(&only, "node_filesystem_size_bytes"), [("/mnt/my disk".to_string(), 409600.0)]);
        let both = Config { filesystem_fs_types_exclude: Some("^proc$".into()), ..include };
        let err = build(&both).err().unwrap().to_string();
        assert!(
            err.contains("fs-types-exclude and --collector.filesystem.fs-types-include are mutually exclusive"),
            "{err}"
        );
    }

    #[test]
    fn local_file_systems_are_called_inline_and_others_on_the_worker() {
        fn thread_name(_: &Path) -> io::Result<Stat> {
            Err(io::Error::other(std::thread::current().name().unwrap_or("unnamed").to_owned()))
        }
        let info = "1 1 0:1 / /disk rw - ext4 /dev/x rw\n2 1 0:2 / /share rw - nfs4 srv:/e rw\n";
        let (tree, _) = collector(info, Duration::from_secs(5));
        let fs =
            Filesystem::new(&Config { paths: paths(&tree), ..Config::default() }, thread_name, Duration::from_secs(5))
                .unwrap();
        let mut out = Vec::new();
        fs.update(&mut out).unwrap();
        let errors: Vec<&str> = out[1].samples.iter().map(|s| s.labels[1].1.as_ref()).collect();
        let this_thread = std::thread::current().name().unwrap_or("unnamed").to_owned();
        assert_eq!(errors, [this_thread.as_str(), "obsagent-statfs"]);
    }

    #[test]
    fn a_failing_or_stuck_mount_reports_device_error_only() {
        let info = "1 1 0:1 / /gone rw - ext4 /dev/x rw\n2 1 0:2 / /stuck rw - nfs srv:/e rw\n3 1 0:3 / /ok ro - ext4 /dev/y rw\n";
        let (_tree, fs) = collector(info, Duration::from_millis(200));
        let mut out = Vec::new();
        let started = std::time::Instant::now();
        fs.update(&mut out).unwrap();
        assert!(started.elapsed() < Duration::from_millis(550), "the stuck mount held the scrape");
        assert_eq!(
            series(&out, "node_filesystem_device_error"),
            [("/gone".to_string(), 1.0), ("/stuck".to_string(), 1.0), ("/ok".to_string(), 0.0)]
        );
        assert_eq!(series(&out, "node_filesystem_size_bytes"), [("/ok".to_string(), 409600.0)]);
        assert_eq!(series(&out, "node_filesystem_mount_info"), [("/ok".to_string(), 1.0)]);
        assert_eq!(series(&out, "node_filesystem_readonly").len(), 3);
        let errors: Vec<&str> = out[1].samples.iter().map(|s| s.labels[1].1.as_ref()).collect();
        assert!(errors[0].contains("No such file"), "{errors:?}");
        assert!(errors[1].contains("mountpoint timeout"), "{errors:?}");
        assert_eq!(errors[2], "");
        // Still stuck on the next scrape: skipped at once; once it returns, it is read again.
        let mut again = Vec::new();
        fs.update(&mut again).unwrap();
        assert!(again[1].samples[1].labels[1].1.contains("has not returned"));
        std::thread::sleep(Duration::from_millis(700));
        let mut later = Vec::new();
        fs.update(&mut later).unwrap();
        assert_eq!(series(&later, "node_filesystem_device_error")[1], ("/stuck".to_string(), 1.0));
    }

    #[test]
    fn collects_from_the_fixture_on_this_machine() {
        let paths = Paths { rootfs: "/".into(), ..fixture_paths() };
        let mut out = Vec::new();
        build(&Config { paths, ..Config::default() }).unwrap().update(&mut out).unwrap();
        let sizes = series(&out, "node_filesystem_size_bytes");
        assert!(sizes.iter().any(|(mount, size)| mount == "/" && *size > 0.0), "{sizes:?}");
        let fs_types: Vec<&str> = out[0].samples.iter().map(|s| s.labels[2].1.as_ref()).collect();
        assert!(!fs_types.iter().any(|t| ["proc", "sysfs", "devtmpfs", "cgroup2"].contains(t)), "{fs_types:?}");
    }
}
