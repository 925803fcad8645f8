//! tapestats: the SCSI tape drives' I/O counters of `<sysfs>/class/scsi_tape/st<N>/stats/*`
//! (kernel Documentation/scsi/st.rst, "Statistics"): `node_tape_*{device}`, times in seconds
//! from the kernel's nanoseconds. Devices other than `st<N>` (the `nst<N>`, `st<N>a` ... aliases
//! of the same drive) are left out, as node_exporter (procfs) does. A stats file that isn't a
//! number fails the collector; no scsi_tape class (no tape drive) is "no data".

use super::{absent_is_no_data, attribute, entries, malformed, netdev::compile, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use regex::Regex;
use std::path::PathBuf;

/// `(stats file, family, type, help, scale)`, in node_exporter's order of families.
const COUNTERS: &[(&str, &str, MetricType, &str, f64)] = &[
    ("in_flight", "node_tape_io_now", MetricType::Gauge, "The number of I/Os currently outstanding to this device.", 1.0),
    ("io_ns", "node_tape_io_time_seconds", MetricType::Counter, "The amount of time spent waiting for all I/O to complete (including read and write). This includes tape movement commands such as seeking between file or set marks and implicit tape movement such as when rewind on close tape devices are used.", 1e-9),
    ("other_cnt", "node_tape_io_others", MetricType::Counter, "The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-write_time_seconds_total", 1.0),
    ("read_byte_cnt", "node_tape_read_bytes", MetricType::Counter, "The number of bytes read from the tape drive.", 1.0),
    ("read_cnt", "node_tape_reads_completed", MetricType::Counter, "The number of read requests issued to the tape drive.", 1.0),
    ("read_ns", "node_tape_read_time_seconds", MetricType::Counter, "The amount of time spent waiting for read requests to complete.", 1e-9),
    ("resid_cnt", "node_tape_residual", MetricType::Counter, "The number of times during a read or write we found the residual amount to be non-zero. This should mean that a program is issuing a read larger thean the block size on tape. For write not all data made it to tape.", 1.0),
    ("write_byte_cnt", "node_tape_written_bytes", MetricType::Counter, "The number of bytes written to the tape drive.", 1.0),
    ("write_cnt", "node_tape_writes_completed", MetricType::Counter, "The number of write requests issued to the tape drive.", 1.0),
    ("write_ns", "node_tape_write_time_seconds", MetricType::Counter, "The amount of time spent waiting for write requests to complete.", 1e-9),
];

struct Tapestats {
    dir: PathBuf,
    tape: Regex,
    ignored: Option<Regex>,
}

/// Builds the collector; `--collector.tapestats.ignored-devices` must be a regex.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    let ignored = compile("--collector.tapestats.ignored-devices", config.tapestats_ignored_devices.as_deref())?;
    let tape = Regex::new(r"^st\d+$").expect("a valid regex");
    Ok(Box::new(Tapestats { dir: config.paths.sys("class/scsi_tape"), tape, ignored }))
}

impl NodeCollector for Tapestats {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let mut families: Vec<MetricFamily> =
            COUNTERS.iter().map(|(_, name, kind, help, _)| MetricFamily::new(*name, *help, *kind, "")).collect();
        for (device, dir) in absent_is_no_data(entries(&self.dir))? {
            if !self.tape.is_match(&device) || self.ignored.as_ref().is_some_and(|r| r.is_match(&device)) {
                continue;
            }
            let mut values = [0.0; COUNTERS.len()];
            // As procfs: the files present are read, one that is absent counts 0.
            for (file, path) in entries(&dir.join("stats"))? {
                let Some(at) = COUNTERS.iter().position(|c| c.0 == file) else { continue };
                let text = attribute(&path)?;
                let value: u64 = text.parse().map_err(|_| malformed(&path.display().to_string(), &text))?;
                values[at] = value as f64 * COUNTERS[at].4;
            }
            let device: Text = device.into();
            for (family, value) in families.iter_mut().zip(values) {
                let suffix = if family.kind == MetricType::Counter { "_total" } else { "" };
                family.push(suffix, vec![("device".into(), device.clone())], value);
            }
        }
        out.extend(families.into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::is_no_data;
    use crate::collect::testing::{fixture_config, fixture_paths, scrape, sysfs_at, TempTree};

    #[test]
    fn reads_the_fixture_drive_in_seconds() {
        let out = scrape(build, &fixture_config()).unwrap();
        assert_eq!(out.len(), COUNTERS.len());
        let io_time = out.iter().find(|f| f.name == "node_tape_io_time_seconds").unwrap();
        let devices: Vec<&str> = io_time.samples.iter().map(|s| s.labels[0].1.as_ref()).collect();
        assert_eq!(devices, ["st0"], "nst0 and st0a are the same drive");
        let ns: f64 = std::fs::read_to_string(fixture_paths().sys("class/scsi_tape/st0/stats/io_ns"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(io_time.samples[0].value, ns * 1e-9);
        assert_eq!(io_time.samples[0].name, "node_tape_io_time_seconds_total");
        let ignored = Config { tapestats_ignored_devices: Some("^st0$".into()), ..fixture_config() };
        assert!(scrape(build, &ignored).unwrap().is_empty());
    }

    #[test]
    fn a_garbled_counter_fails_and_no_class_is_no_data() {
        let tree = TempTree::new("tapestats");
        let stats = "class/scsi_tape/st1/stats";
        tree.write(format!("{stats}/read_cnt"), "many\n");
        let config = sysfs_at(tree.root());
        let err = scrape(build, &config).unwrap_err().to_string();
        assert!(err.contains("st1/stats/read_cnt"), "{err}");
        drop(tree);
        assert!(is_no_data(&scrape(build, &config).unwrap_err()));
    }
}
