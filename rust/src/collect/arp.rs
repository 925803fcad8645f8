//! arp: `node_arp_entries{device}`, the IPv4 neighbour entries per device, counted from
//! `<procfs>/net/arp`. node_exporter 1.9 asks rtnetlink by default and counts the entries not
//! in state NOARP; the kernel writes /proc/net/arp from the same table, leaving out the NOARP
//! ones, so the counts agree (save entries in state NONE, which only live for the instant of
//! their creation) and a fixture tree can stand in for the host, as `--path.procfs` expects.
//! `--collector.arp.device-include` / `device-exclude` filter devices (one or the other).

use super::netdev::compile;
use super::{malformed, read, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use regex::Regex;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Whether `text` is a hardware address as Go's `net.ParseMAC` takes it (6, 8 or 20 octets).
fn is_mac(text: &str) -> bool {
    let octets: Vec<&str> = text.split([':', '-']).collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if octets.len() > 1 {
        return matches!(octets.len(), 6 | 8 | 20) && octets.iter().all(|o| hex(o, 2));
    }
    let groups: Vec<&str> = text.split('.').collect();
    matches!(groups.len(), 3 | 4 | 10) && groups.iter().all(|g| hex(g, 4))
}

/// Entries per device; the header (9 fields) and blank lines are skipped, a line of any other
/// width or with a bad address or flags is an error.
pub fn parse(text: &str) -> Result<BTreeMap<&str, u32>> {
    let mut devices = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        match fields.len() {
            0 | 9 => continue,
            6 => {}
            _ => return Err(malformed("/proc/net/arp line", line)),
        }
        let flags = fields[2].strip_prefix("0x").map(|f| u8::from_str_radix(f, 16).is_ok());
        if fields[0].parse::<std::net::IpAddr>().is_err() || !is_mac(fields[3]) || flags != Some(true) {
            return Err(malformed("/proc/net/arp line", line));
        }
        *devices.entry(fields[5]).or_insert(0) += 1;
    }
    Ok(devices)
}

struct Arp {
    path: PathBuf,
    include: Option<Regex>,
    exclude: Option<Regex>,
}

/// Builds the collector; bad or both filter regexes are an error naming the flags.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    let include = compile("--collector.arp.device-include", config.arp_device_include.as_deref())?;
    let exclude = compile("--collector.arp.device-exclude", config.arp_device_exclude.as_deref())?;
    if include.is_some() && exclude.is_some() {
        return Err(Error::InvalidValue(
            "--collector.arp.device-include and --collector.arp.device-exclude are mutually exclusive".into(),
        ));
    }
    Ok(Box::new(Arp { path: config.paths.proc("net/arp"), include, exclude }))
}

impl NodeCollector for Arp {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let text = read(&self.path)?;
        let mut family = MetricFamily::new("node_arp_entries", "ARP entries by device", MetricType::Gauge, "");
        for (device, count) in parse(&text)? {
            let ignored = self.exclude.as_ref().is_some_and(|r| r.is_match(device))
                || self.include.as_ref().is_some_and(|r| !r.is_match(device));
            if !ignored {
                family.push("", vec![("device".into(), device.to_owned().into())], f64::from(count));
            }
        }
        out.push(family);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, procfs_at, scrape, update_error};

    const HEADER: &str = "IP address       HW type     Flags       HW address            Mask     Device\n";

    #[test]
    fn counts_the_fixture_and_filters() {
        let config = fixture_config();
        let out = scrape(build, &config).unwrap();
        assert_eq!(out[0].samples.len(), 1);
        assert_eq!((out[0].samples[0].labels[0].1.as_ref(), out[0].samples[0].value), ("eth0", 2.0));
        let text =
            format!("{HEADER}10.0.0.1 0x1 0x2 02:00:00:00:00:01 * eth0\n10.0.0.2 0x1 0x2 02:00:00:00:00:02 * br0\n");
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.into_iter().collect::<Vec<_>>(), [("br0", 1), ("eth0", 1)]);
        let exclude = Config { arp_device_exclude: Some("^eth".into()), ..config.clone() };
        let out = scrape(build, &exclude).unwrap();
        assert!(out[0].samples.is_empty());
        let both = Config { arp_device_include: Some("a".into()), ..exclude };
        assert!(build(&both).err().unwrap().to_string().contains("mutually exclusive"));
    }

    #[test]
    fn garbled_or_truncated_lines_are_an_error() {
        assert!(parse(&format!("{HEADER}10.0.0.1 0x1 0x2 02:00:00:00:00:01 *\n")).is_err(), "truncated");
        assert!(parse(&format!("{HEADER}10.0.0.1 0x1 0x2 not-a-mac * eth0\n")).is_err());
        assert!(parse(&format!("{HEADER}10.0.0.x 0x1 0x2 02:00:00:00:00:01 * eth0\n")).is_err());
        assert!(update_error(build, &procfs_at("/nonexistent")).to_string().contains("net/arp"));
    }
}
