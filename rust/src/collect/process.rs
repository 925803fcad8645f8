//! The process collector: prometheus_client's `process_*` metrics (same names, help and
//! types) for one process, read from `<procfs>/<pid>/{stat,limits,fd}` and `<procfs>/stat`.

use super::{read, Paths};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::Options;
use crate::registry::{Collector, MetricFamily};

/// What `/proc/<pid>/stat` tells us, in raw units.
#[derive(Debug, PartialEq)]
pub struct ProcStat {
    /// User plus system time, clock ticks.
    pub cpu_ticks: u64,
    /// Start time after boot, clock ticks.
    pub start_ticks: u64,
    /// Virtual memory size, bytes.
    pub vsize: u64,
    /// Resident set, pages.
    pub rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`; the command name may hold spaces and parentheses, so fields are
/// counted from the last `)`.
pub fn parse_stat(text: &str) -> Result<ProcStat> {
    let bad =
        || Error::InvalidValue(format!("malformed /proc/<pid>/stat: {:?}", text.chars().take(80).collect::<String>()));
    let rest = &text[text.rfind(')').ok_or_else(bad)? + 1..];
    // After the name: state is field 3, so field N is index N - 3 here.
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).ok_or_else(bad);
    Ok(ProcStat {
        cpu_ticks: field(14)? + field(15)?,
        start_ticks: field(22)?,
        vsize: field(23)?,
        rss_pages: field(24)?,
    })
}

/// The soft "Max open files" limit from `/proc/<pid>/limits` (`None` when unlimited or absent).
pub fn parse_max_open_files(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_ascii_whitespace().next()?.parse().ok()
}

/// Boot time in seconds since the epoch, from `/proc/stat`'s `btime` line.
pub fn parse_boot_time(text: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

/// Which process to describe.
#[derive(Debug, Clone, Copy)]
pub enum Pid {
    /// The calling process (`/proc/self`).
    SelfProcess,
    /// Another one.
    Fixed(u32),
}

/// `process_virtual_memory_max_bytes`: this process's soft address-space limit (`RLIMIT_AS`,
/// the "Max address space" of `/proc/self/limits`), all ones when unlimited, as client_golang
/// reports it.
pub fn virtual_memory_max() -> MetricFamily {
    // SAFETY: getrlimit fills the struct we own.
    let limit = unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_AS, &mut limit) == 0 {
            limit.rlim_cur as f64
        } else {
            f64::NAN
        }
    };
    gauge("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", limit)
}

/// Collects `process_*` for one process.
pub struct ProcessCollector {
    paths: Paths,
    pid: Pid,
    ticks_per_second: f64,
    page_size: f64,
    /// Boot time never changes: read once (it is in the large `/proc/stat`).
    boot_time: std::sync::OnceLock<Option<f64>>,
    /// Whether `paths.procfs` is the kernel's procfs (not a recording), looked up once.
    real_procfs: std::sync::OnceLock<bool>,
}

impl ProcessCollector {
    /// A collector reading through `paths`.
    pub fn new(paths: Paths, pid: Pid) -> ProcessCollector {
        // SAFETY: sysconf only reads configuration values.
        let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
        let (ticks_per_second, page_size) = (ticks.max(1) as f64, page.max(1) as f64);
        let (boot_time, real_procfs) = (std::sync::OnceLock::new(), std::sync::OnceLock::new());
        ProcessCollector { paths, pid, ticks_per_second, page_size, boot_time, real_procfs }
    }

    fn pid_dir(&self) -> std::path::PathBuf {
        match self.pid {
            Pid::SelfProcess => self.paths.proc("self"),
            Pid::Fixed(pid) => self.paths.proc(pid.to_string()),
        }
    }
}

fn gauge(name: &'static str, help: &'static str, value: f64) -> MetricFamily {
    let mut family = MetricFamily::new(name, help, MetricType::Gauge, "");
    family.push("", Vec::new(), value);
    family
}

/// The number of entries of `<procfs>/<pid>/fd`. Linux 6.2+ gives it as the directory's size
/// on procfs, one stat; listing the directory instead makes the kernel build an inode for every
/// descriptor. Elsewhere (a recording, older kernels: size 0) the entries are counted.
fn open_fds(fd_dir: &std::path::Path, on_procfs: bool) -> Option<usize> {
    match std::fs::metadata(fd_dir) {
        Ok(meta) if on_procfs && meta.len() > 0 => Some(meta.len() as usize),
        _ => std::fs::read_dir(fd_dir).ok().map(|entries| entries.count()),
    }
}

impl Collector for ProcessCollector {
    fn names(&self) -> Vec<String> {
        let names = [
            "virtual_memory_bytes",
            "resident_memory_bytes",
            "start_time_seconds",
            "cpu_seconds_total",
            "open_fds",
            "max_fds",
        ];
        names.iter().map(|n| format!("process_{n}")).collect()
    }

    fn collect(&self, _: &Options, out: &mut Vec<MetricFamily>) -> Result<()> {
        let dir = self.pid_dir();
        let stat = parse_stat(&read(&dir.join("stat"))?)?;
        let boot = *self
            .boot_time
            .get_or_init(|| std::fs::read_to_string(self.paths.proc("stat")).ok().as_deref().and_then(parse_boot_time));
        out.push(gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", stat.vsize as f64));
        out.push(gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            stat.rss_pages as f64 * self.page_size,
        ));
        if let Some(boot) = boot {
            out.push(gauge(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                boot + stat.start_ticks as f64 / self.ticks_per_second,
            ));
        }
        let mut cpu = MetricFamily::new(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            MetricType::Counter,
            "",
        );
        cpu.push("_total", Vec::new(), stat.cpu_ticks as f64 / self.ticks_per_second);
        out.push(cpu);
        let on_procfs =
            *self.real_procfs.get_or_init(|| super::kernel_file::path_generated_by_kernel(&self.paths.procfs));
        if let Some(count) = open_fds(&dir.join("fd"), on_procfs) {
            out.push(gauge("process_open_fds", "Number of open file descriptors.", count as f64));
        }
        if let Some(max) = read(&dir.join("limits")).ok().as_deref().and_then(parse_max_open_files) {
            out.push(gauge("process_max_fds", "Maximum number of open file descriptors.", max));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::TempTree;

    #[test]
    fn stat_with_parentheses_in_the_name() {
        let line = "26231 (a (weird) name) R 1 26231 26231 0 -1 4194560 1 0 0 0 1720 1 0 0 20 0 1 0 \
                    5000 56274944 8173 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat, ProcStat { cpu_ticks: 1721, start_ticks: 5000, vsize: 56274944, rss_pages: 8173 });
        assert!(parse_stat("garbage").is_err());
    }

    #[test]
    fn open_fds_by_size_or_by_listing() {
        let tree = TempTree::new("fd");
        for name in ["0", "1", "2"] {
            tree.write(name, "");
        }
        assert!(!super::super::kernel_file::path_generated_by_kernel(tree.root()));
        assert_eq!(open_fds(tree.root(), false), Some(3), "a directory elsewhere is counted, not sized");
        let fd = std::path::Path::new("/proc/self/fd");
        assert!(super::super::kernel_file::path_generated_by_kernel(fd));
        let held = std::fs::File::open("/proc/self/stat").unwrap();
        let with_one_more = open_fds(fd, true).unwrap();
        drop(held);
        assert_eq!(open_fds(fd, true).unwrap(), with_one_more - 1);
    }

    #[test]
    fn virtual_memory_max_is_the_address_space_limit() {
        let family = virtual_memory_max();
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let line = limits.lines().find(|l| l.starts_with("Max address space")).unwrap();
        let soft = line["Max address space".len()..].split_whitespace().next().unwrap();
        let expected = if soft == "unlimited" { u64::MAX as f64 } else { soft.parse().unwrap() };
        assert_eq!(family.samples[0].value, expected);
    }

    #[test]
    fn limits_and_boot_time() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            2048                 4096                 files\n";
        assert_eq!(parse_max_open_files(limits), Some(2048.0));
        assert_eq!(parse_max_open_files("Max open files unlimited unlimited files"), None);
        assert_eq!(parse_boot_time("cpu 1 2\nbtime 1700000000\n"), Some(1_700_000_000.0));
    }
}
