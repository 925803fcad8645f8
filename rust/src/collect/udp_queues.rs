//! udp_queues: `node_udp_queues{ip,queue}`, the bytes queued in UDP sockets' send and receive
//! buffers, summed over the sockets of `<procfs>/net/udp` (`ip="v4"`) and `net/udp6`
//! (`ip="v6"`). Every line is checked as node_exporter (procfs) checks it, so a garbled
//! table fails the collector; a missing file (that IP version off) is skipped.

use super::{malformed, read_if_exists, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::PathBuf;

/// Whether `text` is `<hex address>:<hex port>`.
fn address(text: &str) -> bool {
    let Some((ip, port)) = text.split_once(':') else { return false };
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    hex(ip) && ip.len() % 2 == 0 && hex(port)
}

/// `(tx, rx)` bytes summed over the sockets; the header line is skipped.
pub fn parse(text: &str) -> Result<(f64, f64)> {
    let (mut tx, mut rx) = (0.0, 0.0);
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let bad = || malformed("udp socket line", line);
        if fields.len() < 13 {
            return Err(bad());
        }
        let sl_ok = fields[0].strip_suffix(':').is_some_and(|s| s.parse::<u64>().is_ok());
        let (queued_tx, queued_rx) = fields[4].split_once(':').ok_or_else(bad)?;
        let unsigned = |s: &str| super::parse_go_int(s).is_some_and(|v| v >= 0);
        if !sl_ok
            || !address(fields[1])
            || !address(fields[2])
            || u64::from_str_radix(fields[3], 16).is_err()
            || !unsigned(fields[7])
            || !unsigned(fields[9])
            || !unsigned(fields[12])
        {
            return Err(bad());
        }
        tx += u64::from_str_radix(queued_tx, 16).map_err(|_| bad())? as f64;
        rx += u64::from_str_radix(queued_rx, 16).map_err(|_| bad())? as f64;
    }
    Ok((tx, rx))
}

struct UdpQueues {
    files: [(PathBuf, &'static str); 2],
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(UdpQueues { files: [(config.paths.proc("net/udp"), "v4"), (config.paths.proc("net/udp6"), "v6")] }))
}

impl NodeCollector for UdpQueues {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let help = "Number of allocated memory in the kernel for UDP datagrams in bytes.";
        let mut family = MetricFamily::new("node_udp_queues", help, MetricType::Gauge, "");
        for (path, ip) in &self.files {
            let Some(text) = read_if_exists(path)? else { continue };
            let (tx, rx) = parse(&text)?;
            family.push("", vec![("ip".into(), (*ip).into()), ("queue".into(), "tx".into())], tx);
            family.push("", vec![("ip".into(), (*ip).into()), ("queue".into(), "rx".into())], rx);
        }
        out.push(family);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, scrape};

    #[test]
    fn sums_the_fixture_queues() {
        let out = scrape(build, &fixture_config()).unwrap();
        let got: Vec<(&str, &str, f64)> =
            out[0].samples.iter().map(|s| (s.labels[0].1.as_ref(), s.labels[1].1.as_ref(), s.value)).collect();
        assert_eq!(
            got,
            [("v4", "tx", 0x440 as f64), ("v4", "rx", 0xa80 as f64), ("v6", "tx", 0.0), ("v6", "rx", 0x1200 as f64)]
        );
    }

    #[test]
    fn garbled_or_truncated_lines_are_an_error() {
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";
        let good = "  1: 3500007F:0035 00000000:0000 07 00000010:00000020 00:00000000 00000000   101        0 19234 2 0000000000000000 0\n";
        assert_eq!(parse(&format!("{header}{good}")).unwrap(), (16.0, 32.0));
        assert!(parse(&format!("{header}  1: 3500007F:0035 00000000:0000 07 00000010:00000020\n")).is_err());
        let garbled = good.replace("00000010:00000020", "00000010-00000020");
        assert!(parse(&format!("{header}{garbled}")).unwrap_err().to_string().contains("malformed udp"));
        assert!(parse(&format!("{header}{}", good.replace("3500007F", "zz00007F"))).is_err());
    }
}
