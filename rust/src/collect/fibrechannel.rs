//! fibrechannel: each Fibre Channel host of `<sysfs>/class/fc_host/<host>` (kernel
//! Documentation/ABI/testing/sysfs-class-fc_host and scsi_transport_fc): its attributes as
//! `node_fibrechannel_info{fc_host,...}` = 1 and the counters of its `statistics/` directory as
//! `node_fibrechannel_<counter>_total{fc_host}`. The kernel writes the counters in hex
//! (`0x...`); one of all ones is a counter the HBA's firmware doesn't implement, left out, as
//! node_exporter does. An attribute that is absent is an empty label; a counter that isn't a
//! number fails the collector; no fc_host class is "no data".

use super::{absent_is_no_data, entries, malformed, parse_go_uint, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// `(statistics file, family, help)`.
const COUNTERS: &[(&str, &str, &str)] = &[
    ("dumped_frames", "dumped_frames", "Number of dumped frames"),
    ("error_frames", "error_frames", "Number of errors in frames"),
    ("invalid_crc_count", "invalid_crc", "Invalid Cyclic Redundancy Check count"),
    ("rx_frames", "rx_frames", "Number of frames received"),
    ("rx_words", "rx_words", "Number of words received by host port"),
    ("tx_frames", "tx_frames", "Number of frames transmitted by host port"),
    ("tx_words", "tx_words", "Number of words transmitted by host port"),
    ("seconds_since_last_reset", "seconds_since_last_reset", "Number of seconds since last host port reset"),
    ("invalid_tx_word_count", "invalid_tx_words", "Number of invalid words transmitted by host port"),
    ("link_failure_count", "link_failure", "Number of times the host port link has failed"),
    ("loss_of_sync_count", "loss_of_sync", "Number of failures on either bit or transmission word boundaries"),
    ("loss_of_signal_count", "loss_of_signal", "Number of times signal has been lost"),
    ("nos_count", "nos", "Number Not_Operational Primitive Sequence received by host port"),
    ("fcp_packet_aborts", "fcp_packet_aborts", "Number of aborted packets"),
];

/// The info labels after `fc_host`: `(label, attribute file, whether a `0x` prefix is cut)`.
const INFO: &[(&str, &str, bool)] = &[
    ("speed", "speed", false),
    ("port_state", "port_state", false),
    ("port_type", "port_type", false),
    ("port_id", "port_id", true),
    ("port_name", "port_name", true),
    ("fabric_name", "fabric_name", true),
    ("symbolic_name", "symbolic_name", false),
    ("supported_classes", "supported_classes", false),
    ("supported_speeds", "supported_speeds", false),
    ("dev_loss_tmo", "dev_loss_tmo", false),
];

struct Fibrechannel {
    dir: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Fibrechannel { dir: config.paths.sys("class/fc_host") }))
}

fn io_error(path: &Path, err: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(err.kind(), format!("{}: {err}", path.display())))
}

/// An attribute, trimmed; `None` when absent (or, for a statistic, not supported by the driver).
fn optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) if err.raw_os_error() == Some(libc::EOPNOTSUPP) || err.raw_os_error() == Some(libc::EINVAL) => {
            Ok(None)
        }
        Err(err) => Err(io_error(path, err)),
    }
}

impl NodeCollector for Fibrechannel {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let help = "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.";
        let mut info = MetricFamily::new("node_fibrechannel_info", help, MetricType::Gauge, "");
        let mut counters: Vec<MetricFamily> = COUNTERS
            .iter()
            .map(|(_, name, help)| {
                MetricFamily::new(format!("node_fibrechannel_{name}"), *help, MetricType::Counter, "")
            })
            .collect();
        for (host, dir) in absent_is_no_data(entries(&self.dir))? {
            let name: Text = host.into();
            let mut labels = vec![("fc_host".into(), name.clone())];
            for (label, file, cut_0x) in INFO {
                let mut value = optional(&dir.join(file))?.unwrap_or_default();
                if *cut_0x && value.len() > 2 {
                    value.drain(..2);
                }
                labels.push(((*label).into(), value.into()));
            }
            info.push("", labels, 1.0);
            for ((file, _, _), family) in COUNTERS.iter().zip(&mut counters) {
                let path = dir.join("statistics").join(file);
                let Some(text) = optional(&path)? else { continue };
                let value = parse_go_uint(&text).ok_or_else(|| malformed(&path.display().to_string(), &text))?;
                if value != u64::MAX {
                    family.push("_total", vec![("fc_host".into(), name.clone())], value as f64);
                }
            }
        }
        out.push(info);
        out.extend(counters.into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::is_no_data;
    use crate::collect::testing::{fixture_config, label_pairs, scrape, sysfs_at, TempTree};

    #[test]
    fn reads_the_fixture_host() {
        let out = scrape(build, &fixture_config()).unwrap();
        let labels = label_pairs(&out[0].samples[0]);
        assert_eq!(labels[0], ("fc_host", "host0"));
        assert!(labels.contains(&("port_id", "000002")), "0x cut: {labels:?}");
        let family = |name: &str| out.iter().find(|f| f.name == name);
        assert_eq!(family("node_fibrechannel_invalid_crc").unwrap().samples[0].value, f64::from(0x20));
        assert!(family("node_fibrechannel_nos").is_none(), "all ones: not implemented by the firmware");
    }

    #[test]
    fn a_garbled_counter_fails_and_no_class_is_no_data() {
        let tree = TempTree::new("fibrechannel");
        let stats = "class/fc_host/host7/statistics";
        tree.write(format!("{stats}/rx_frames"), "0x10\n");
        let config = sysfs_at(tree.root());
        let out = scrape(build, &config).unwrap();
        assert!(out[0].samples[0].labels[1..].iter().all(|(_, v)| v.is_empty()), "absent attributes are empty");
        assert_eq!(out[1].samples[0].value, 16.0);
        tree.write(format!("{stats}/rx_frames"), "0xzz\n");
        let err = scrape(build, &config).unwrap_err().to_string();
        assert!(err.contains("host7/statistics/rx_frames"), "{err}");
        drop(tree);
        assert!(is_no_data(&scrape(build, &config).unwrap_err()));
    }
}
