//! diskstats: `node_disk_*{device}` from `<procfs>/diskstats`, with node_exporter's names and
//! units (sectors × 512 as bytes, milliseconds as seconds), the discard and flush fields when
//! the kernel has them, and `node_disk_info`. Partitions and virtual devices are left out by
//! upstream's default regex (`--collector.diskstats.device-exclude` replaces it).

use super::netdev::compile;
use super::{malformed, read, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use regex::Regex;
use std::path::PathBuf;

/// Upstream node_exporter's default device exclude (1.8+: zram too).
pub const DEFAULT_EXCLUDE: &str = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

/// `(column index, name, help, type, scale)`; columns count from the first stat after the name.
/// `(column, family name, sample name, help, type, scale)`, names written out whole so that a
/// scrape allocates none of them.
macro_rules! stat {
    ($column:literal, $name:literal, $help:literal, counter, $scale:literal) => {
        (
            $column,
            concat!("node_disk_", $name),
            concat!("node_disk_", $name, "_total"),
            $help,
            MetricType::Counter,
            $scale,
        )
    };
    ($column:literal, $name:literal, $help:literal, gauge, $scale:literal) => {
        ($column, concat!("node_disk_", $name), concat!("node_disk_", $name), $help, MetricType::Gauge, $scale)
    };
}

type Stat = (usize, &'static str, &'static str, &'static str, MetricType, f64);

const STATS: [Stat; 17] = [
    stat!(0, "reads_completed", "The total number of reads completed successfully.", counter, 1.0),
    stat!(1, "reads_merged", "The total number of reads merged.", counter, 1.0),
    stat!(2, "read_bytes", "The total number of bytes read successfully.", counter, 512.0),
    stat!(3, "read_time_seconds", "The total number of seconds spent by all reads.", counter, 0.001),
    stat!(4, "writes_completed", "The total number of writes completed successfully.", counter, 1.0),
    stat!(5, "writes_merged", "The number of writes merged.", counter, 1.0),
    stat!(6, "written_bytes", "The total number of bytes written successfully.", counter, 512.0),
    stat!(7, "write_time_seconds", "This is the total number of seconds spent by all writes.", counter, 0.001),
    stat!(8, "io_now", "The number of I/Os currently in progress.", gauge, 1.0),
    stat!(9, "io_time_seconds", "Total seconds spent doing I/Os.", counter, 0.001),
    stat!(10, "io_time_weighted_seconds", "The weighted # of seconds spent doing I/Os.", counter, 0.001),
    stat!(11, "discards_completed", "The total number of discards completed successfully.", counter, 1.0),
    stat!(12, "discards_merged", "The total number of discards merged.", counter, 1.0),
    stat!(13, "discarded_sectors", "The total number of sectors discarded successfully.", counter, 1.0),
    stat!(14, "discard_time_seconds", "This is the total number of seconds spent by all discards.", counter, 0.001),
    stat!(15, "flush_requests", "The total number of flush requests completed successfully", counter, 1.0),
    stat!(
        16,
        "flush_requests_time_seconds",
        "This is the total number of seconds spent by all flush requests.",
        counter,
        0.001
    ),
];

/// One line: major, minor, device name and its counters (11, 15 or 17 of them).
#[derive(Debug, PartialEq)]
pub struct Disk<'a> {
    /// Major device number.
    pub major: &'a str,
    /// Minor device number.
    pub minor: &'a str,
    /// Device name.
    pub device: &'a str,
    /// The counters in file order.
    pub stats: Vec<f64>,
}

/// Parses every line.
pub fn parse(text: &str) -> Result<Vec<Disk<'_>>> {
    let mut disks = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split_ascii_whitespace();
        let (Some(major), Some(minor), Some(device)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(malformed("/proc/diskstats line", line));
        };
        let stats = fields.map(str::parse::<f64>).collect::<Result<Vec<_>, _>>();
        let stats = stats.map_err(|_| malformed("/proc/diskstats line", line))?;
        if stats.len() < 11 {
            return Err(malformed("/proc/diskstats line (fewer than 11 counters)", line));
        }
        disks.push(Disk { major, minor, device, stats });
    }
    Ok(disks)
}

struct Diskstats {
    path: PathBuf,
    exclude: Option<Regex>,
    include: Option<Regex>,
}

/// Builds the collector; a bad regex, or an include beside an exclude (the default one too,
/// as node_exporter has it: clear it with `--collector.diskstats.device-exclude=`), is an error
/// naming the flags.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    let pattern = config.diskstats_device_exclude.as_deref().unwrap_or(DEFAULT_EXCLUDE);
    let exclude = compile("--collector.diskstats.device-exclude", Some(pattern))?;
    let include = compile("--collector.diskstats.device-include", config.diskstats_device_include.as_deref())?;
    if exclude.is_some() && include.is_some() {
        return Err(crate::error::Error::InvalidValue(
            "--collector.diskstats.device-exclude & --collector.diskstats.device-include are mutually exclusive".into(),
        ));
    }
    Ok(Box::new(Diskstats { path: config.paths.proc("diskstats"), exclude, include }))
}

impl NodeCollector for Diskstats {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let text = read(&self.path)?;
        let disks: Vec<Disk<'_>> = parse(&text)?
            .into_iter()
            .filter(|d| !self.exclude.as_ref().is_some_and(|r| r.is_match(d.device)))
            .filter(|d| self.include.as_ref().is_none_or(|r| r.is_match(d.device)))
            .collect();
        let labels: Vec<Text> = disks.iter().map(|d| Text::from(d.device.to_owned())).collect();
        let mut info = MetricFamily::new("node_disk_info", "Info of /sys/block/<block_device>.", MetricType::Gauge, "");
        for disk in &disks {
            // udev's model/serial/... are not read (they need /run/udev); empty as in a VM.
            let labels = [("device", disk.device), ("major", disk.major), ("minor", disk.minor)]
                .into_iter()
                .chain(["model", "path", "revision", "serial", "wwn"].map(|k| (k, "")))
                .map(|(k, v)| (k.into(), v.to_owned().into()))
                .collect();
            info.push("", labels, 1.0);
        }
        for (column, name, sample, help, kind, scale) in STATS {
            if !disks.iter().any(|d| d.stats.len() > column) {
                continue;
            }
            let mut family = MetricFamily::new(name, help, kind, "");
            for (disk, label) in disks.iter().zip(&labels).filter(|(d, _)| d.stats.len() > column) {
                family.push_named(sample, vec![("device".into(), label.clone())], disk.stats[column] * scale);
            }
            out.push(family);
        }
        out.push(info);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, fixture_paths, scrape};

    #[test]
    fn parses_lines_of_every_kernel_length() {
        let text = " 254 0 vda 71479 11797 11785842 39240 9630 34054 8041504 29695 0 11008 70751 2977 1 1683760 1240 542 574\n\
                      8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n";
        let disks = parse(text).unwrap();
        assert_eq!((disks[0].major, disks[0].minor, disks[0].device), ("254", "0", "vda"));
        assert_eq!(disks[0].stats.len(), 17);
        assert_eq!(disks[1].stats.len(), 11);
        assert!(parse("8 0 sda 1 2 3\n").unwrap_err().to_string().contains("fewer than 11"));
        assert!(parse("8 0 sda 1 2 x 4 5 6 7 8 9 10 11\n").is_err());
    }

    #[test]
    fn collects_from_the_fixture() {
        let out = scrape(build, &fixture_config()).unwrap();
        let read_bytes = out.iter().find(|f| f.name == "node_disk_read_bytes").unwrap();
        // loop* and zram0 are excluded by default; vda read 11785842 sectors.
        assert_eq!(read_bytes.samples.len(), 1);
        assert_eq!(read_bytes.samples[0].labels, vec![("device".into(), "vda".into())]);
        assert_eq!(read_bytes.samples[0].value, 11785842.0 * 512.0);
        let io_now = out.iter().find(|f| f.name == "node_disk_io_now").unwrap();
        assert_eq!(io_now.samples[0].name, "node_disk_io_now");
        assert!(out.iter().any(|f| f.name == "node_disk_flush_requests_time_seconds"));
        assert_eq!(out.last().unwrap().samples[0].labels[1], ("major".into(), "254".into()));
        let include =
            Config { diskstats_device_include: Some("^zram".into()), paths: fixture_paths(), ..Config::default() };
        assert!(
            build(&include).err().unwrap().to_string().contains("mutually exclusive"),
            "beside the default exclude"
        );
        let include = Config { diskstats_device_exclude: Some(String::new()), ..include };
        let out = scrape(build, &include).unwrap();
        let read_bytes = out.iter().find(|f| f.name == "node_disk_read_bytes").unwrap();
        assert_eq!(read_bytes.samples[0].labels, vec![("device".into(), "zram0".into())]);
    }
}
