//! infiniband: each InfiniBand device of `<sysfs>/class/infiniband/<device>` (kernel
//! Documentation/ABI/stable/sysfs-class-infiniband): `node_infiniband_info{device,board_id,
//! firmware_version,hca_type}` = 1, and per port (`ports/<N>`) its state, physical state and
//! rate, and the counters of `counters/` and `counters_ext/` that the driver has, as
//! node_exporter names them (data counters are in 4-byte words, exported in bytes). As
//! node_exporter (procfs): `fw_ver`, each port's `link_layer`, `state`, `phys_state` and
//! `rate` are required; a counter that isn't a number fails the collector, unless it reads
//! "N/A (no PMA)"; no infiniband class is "no data".

use super::{absent_is_no_data, attribute, entries, malformed, parse_go_uint, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// `(directory, file, family without node_infiniband_ and _total, whether in 4-byte words,
/// help)` of each counter node_exporter exports, in its order.
const COUNTERS: &[(&str, &str, &str, bool, &str)] = &[
    ("counters_ext", "port_multicast_rcv_packets", "legacy_multicast_packets_received", false, "Number of multicast packets received"),
    ("counters_ext", "port_multicast_xmit_packets", "legacy_multicast_packets_transmitted", false, "Number of multicast packets transmitted"),
    ("counters_ext", "port_rcv_data_64", "legacy_data_received_bytes", true, "Number of data octets received on all links"),
    ("counters_ext", "port_rcv_packets_64", "legacy_packets_received", false, "Number of data packets received on all links"),
    ("counters_ext", "port_unicast_rcv_packets", "legacy_unicast_packets_received", false, "Number of unicast packets received"),
    ("counters_ext", "port_unicast_xmit_packets", "legacy_unicast_packets_transmitted", false, "Number of unicast packets transmitted"),
    ("counters_ext", "port_xmit_data_64", "legacy_data_transmitted_bytes", true, "Number of data octets transmitted on all links"),
    ("counters_ext", "port_xmit_packets_64", "legacy_packets_transmitted", false, "Number of data packets received on all links"),
    ("counters", "excessive_buffer_overrun_errors", "excessive_buffer_overrun_errors", false, "Number of times that OverrunErrors consecutive flow control update periods occurred, each having at least one overrun error."),
    ("counters", "link_downed", "link_downed", false, "Number of times the link failed to recover from an error state and went down"),
    ("counters", "link_error_recovery", "link_error_recovery", false, "Number of times the link successfully recovered from an error state"),
    ("counters", "local_link_integrity_errors", "local_link_integrity_errors", false, "Number of times that the count of local physical errors exceeded the threshold specified by LocalPhyErrors."),
    ("counters", "multicast_rcv_packets", "multicast_packets_received", false, "Number of multicast packets received (including errors)"),
    ("counters", "multicast_xmit_packets", "multicast_packets_transmitted", false, "Number of multicast packets transmitted (including errors)"),
    ("counters", "port_rcv_constraint_errors", "port_constraint_errors_received", false, "Number of packets received on the switch physical port that are discarded"),
    ("counters", "port_xmit_constraint_errors", "port_constraint_errors_transmitted", false, "Number of packets not transmitted from the switch physical port"),
    ("counters", "port_rcv_data", "port_data_received_bytes", true, "Number of data octets received on all links"),
    ("counters", "port_xmit_data", "port_data_transmitted_bytes", true, "Number of data octets transmitted on all links"),
    ("counters", "port_rcv_discards", "port_discards_received", false, "Number of inbound packets discarded by the port because the port is down or congested"),
    ("counters", "port_xmit_discards", "port_discards_transmitted", false, "Number of outbound packets discarded by the port because the port is down or congested"),
    ("counters", "port_rcv_errors", "port_errors_received", false, "Number of packets containing an error that were received on this port"),
    ("counters", "port_rcv_packets", "port_packets_received", false, "Number of packets received on all VLs by this port (including errors)"),
    ("counters", "port_xmit_packets", "port_packets_transmitted", false, "Number of packets transmitted on all VLs from this port (including errors)"),
    ("counters", "port_xmit_wait", "port_transmit_wait", false, "Number of ticks during which the port had data to transmit but no data was sent during the entire tick"),
    ("counters", "unicast_rcv_packets", "unicast_packets_received", false, "Number of unicast packets received (including errors)"),
    ("counters", "unicast_xmit_packets", "unicast_packets_transmitted", false, "Number of unicast packets transmitted (including errors)"),
    ("counters", "port_rcv_remote_physical_errors", "port_receive_remote_physical_errors", false, "Number of packets marked with the EBP (End of Bad Packet) delimiter received on the port."),
    ("counters", "port_rcv_switch_relay_errors", "port_receive_switch_relay_errors", false, "Number of packets that could not be forwarded by the switch."),
    ("counters", "symbol_error", "symbol_error", false, "Number of minor link errors detected on one or more physical lanes."),
    ("counters", "VL15_dropped", "vl15_dropped", false, "Number of incoming VL15 packets dropped due to resource limitations."),
];

struct Infiniband {
    dir: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Infiniband { dir: config.paths.sys("class/infiniband") }))
}

/// An attribute that may be absent (or unreadable as the drivers make some counters).
fn optional(path: &Path) -> Result<Option<String>> {
    match attribute(path) {
        Ok(text) => Ok(Some(text)),
        Err(Error::Io(err))
            if matches!(err.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied | ErrorKind::InvalidInput)
                || err.raw_os_error() == Some(libc::EOPNOTSUPP) =>
        {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// The number of an `<id>: <NAME>` state file.
fn state(path: &Path) -> Result<f64> {
    let text = attribute(path)?;
    let id = match text.split(':').collect::<Vec<_>>().as_slice() {
        [id, _] => id.trim().parse::<u32>().ok(),
        _ => None,
    };
    id.map(f64::from).ok_or_else(|| malformed(&path.display().to_string(), &text))
}

/// A `rate` file (`100 Gb/sec (4X EDR)`) in bytes per second, as procfs computes it.
fn rate(path: &Path) -> Result<f64> {
    let text = attribute(path)?;
    let gbits = text.split_once(' ').and_then(|(gbits, _)| gbits.trim().parse::<f32>().ok());
    let gbits = gbits.ok_or_else(|| malformed(&path.display().to_string(), &text))?;
    Ok((f64::from(gbits) * 125_000_000.0) as u64 as f64)
}

impl NodeCollector for Infiniband {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let help = "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.";
        let mut info = MetricFamily::new("node_infiniband_info", help, MetricType::Gauge, "");
        let gauge = |name: &str, help: &str| {
            MetricFamily::new(format!("node_infiniband_{name}"), help.to_owned(), MetricType::Gauge, "")
        };
        let mut state_id = gauge(
            "state_id",
            "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)",
        );
        let mut physical_state_id = gauge("physical_state_id", "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, 6: link error recover, 7: phytest)");
        let mut rate_bytes = gauge("rate_bytes_per_second", "Maximum signal transfer rate");
        let mut counters: Vec<MetricFamily> = COUNTERS
            .iter()
            .map(|(_, _, name, _, help)| {
                MetricFamily::new(format!("node_infiniband_{name}"), *help, MetricType::Counter, "")
            })
            .collect();
        for (device, dir) in absent_is_no_data(entries(&self.dir))? {
            let firmware = attribute(&dir.join("fw_ver"))?;
            let board = optional(&dir.join("board_id"))?.unwrap_or_default();
            let hca = optional(&dir.join("hca_type"))?.unwrap_or_default();
            let name: Text = device.into();
            let labels = [
                ("device", name.clone()),
                ("board_id", board.into()),
                ("firmware_version", firmware.into()),
                ("hca_type", hca.into()),
            ];
            info.push("", labels.into_iter().map(|(k, v)| (k.into(), v)).collect(), 1.0);
            for (port, port_dir) in entries(&dir.join("ports"))? {
                let number: u32 = port.parse().map_err(|_| malformed(&format!("{} port", dir.display()), &port))?;
                let labels = || vec![("device".into(), name.clone()), ("port".into(), number.to_string().into())];
                attribute(&port_dir.join("link_layer"))?;
                state_id.push("", labels(), state(&port_dir.join("state"))?);
                physical_state_id.push("", labels(), state(&port_dir.join("phys_state"))?);
                rate_bytes.push("", labels(), rate(&port_dir.join("rate"))?);
                for ((subdir, file, _, in_words, _), family) in COUNTERS.iter().zip(&mut counters) {
                    let path = port_dir.join(subdir).join(file);
                    let Some(text) = optional(&path)? else { continue };
                    let Some(value) = parse_go_uint(&text) else {
                        if text.contains("N/A (no PMA)") {
                            continue;
                        }
                        return Err(malformed(&path.display().to_string(), &text));
                    };
                    let value = if *in_words { value.wrapping_mul(4) } else { value };
                    family.push("_total", labels(), value as f64);
                }
            }
        }
        out.push(info);
        out.extend([state_id, physical_state_id, rate_bytes].into_iter().filter(|f| !f.samples.is_empty()));
        out.extend(counters.into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::is_no_data;
    use crate::collect::testing::{family, fixture_config, scrape, sysfs_at, TempTree};

    #[test]
    fn reads_the_fixture_ports() {
        let out = scrape(build, &fixture_config()).unwrap();
        assert_eq!(family(&out, "node_infiniband_info").samples.len(), 1);
        let rates: Vec<f64> =
            family(&out, "node_infiniband_rate_bytes_per_second").samples.iter().map(|s| s.value).collect();
        assert_eq!(rates, [5e9, 5e9 * 0.5]);
        let data = &family(&out, "node_infiniband_port_data_received_bytes").samples;
        assert_eq!(data[0].value, 2_221_223_609.0 * 4.0, "words of 4 bytes");
        assert_eq!(data[0].labels[1].1, "1");
        assert!(out.iter().all(|f| f.name != "node_infiniband_vl15_dropped"), "N/A (no PMA) is left out");
    }

    #[test]
    fn a_garbled_file_fails_and_no_class_is_no_data() {
        let tree = TempTree::new("infiniband");
        let port = "class/infiniband/mlx9/ports/1";
        tree.write("class/infiniband/mlx9/fw_ver", "1.0\n");
        for (file, text) in
            [("link_layer", "InfiniBand"), ("state", "ACTIVE"), ("phys_state", "5: LinkUp"), ("rate", "40 Gb/sec")]
        {
            tree.write(format!("{port}/{file}"), text);
        }
        let config = sysfs_at(tree.root());
        let err = scrape(build, &config).unwrap_err().to_string();
        assert!(err.contains("ports/1/state"), "{err}");
        drop(tree);
        assert!(is_no_data(&scrape(build, &config).unwrap_err()));
    }
}
