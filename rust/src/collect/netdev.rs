//! netdev: `node_network_{receive,transmit}_<stat>_total{device}` from `<procfs>/net/dev`
//! (whose columns already fold errors the way node_exporter's netlink mode does), plus
//! `receive_nohandler` from `<sysfs>/class/net/<device>/statistics/rx_nohandler` where the
//! kernel has it.
//! No device is excluded by default (upstream node_exporter; Debian's build drops `lo`);
//! `--collector.netdev.device-exclude` takes a regex.

use super::{malformed, read, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use regex::Regex;
use std::path::PathBuf;

/// `(family name, sample name, help)` for a column of /proc/net/dev, written out whole so that
/// a scrape allocates none of them.
macro_rules! column {
    ($column:literal) => {
        (
            concat!("node_network_", $column),
            concat!("node_network_", $column, "_total"),
            concat!("Network device statistic ", $column, "."),
        )
    };
}

/// The 16 columns of /proc/net/dev, in order.
const COLUMNS: [(&str, &str, &str); 16] = [
    column!("receive_bytes"),
    column!("receive_packets"),
    column!("receive_errs"),
    column!("receive_drop"),
    column!("receive_fifo"),
    column!("receive_frame"),
    column!("receive_compressed"),
    column!("receive_multicast"),
    column!("transmit_bytes"),
    column!("transmit_packets"),
    column!("transmit_errs"),
    column!("transmit_drop"),
    column!("transmit_fifo"),
    column!("transmit_colls"),
    column!("transmit_carrier"),
    column!("transmit_compressed"),
];

/// `(device, the 16 counters)` per interface line (the two header lines are skipped).
pub fn parse(text: &str) -> Result<Vec<(&str, [f64; 16])>> {
    let mut devices = Vec::new();
    for line in text.lines().skip(2).filter(|l| !l.trim().is_empty()) {
        let (device, counters) = line.split_once(':').ok_or_else(|| malformed("/proc/net/dev line", line))?;
        let mut values = [0.0; 16];
        let mut count = 0;
        for (slot, field) in values.iter_mut().zip(counters.split_ascii_whitespace()) {
            *slot = field.parse().map_err(|_| malformed("/proc/net/dev line", line))?;
            count += 1;
        }
        if count != 16 {
            return Err(malformed("/proc/net/dev line (not 16 counters)", line));
        }
        devices.push((device.trim(), values));
    }
    Ok(devices)
}

struct Netdev {
    path: PathBuf,
    class_net: PathBuf,
    exclude: Option<Regex>,
    include: Option<Regex>,
}

/// Builds the collector; a bad exclude regex is an error naming the flag.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    let exclude = compile("--collector.netdev.device-exclude", config.netdev_device_exclude.as_deref())?;
    let include = compile("--collector.netdev.device-include", config.netdev_device_include.as_deref())?;
    if exclude.is_some() && include.is_some() {
        return Err(Error::InvalidValue(
            "--collector.netdev.device-exclude & --collector.netdev.device-include are mutually exclusive".into(),
        ));
    }
    let (path, class_net) = (config.paths.proc("net/dev"), config.paths.sys("class/net"));
    Ok(Box::new(Netdev { path, class_net, exclude, include }))
}

/// Compiles a flag's regex, anchored as Go's `regexp.MatchString` is not: node_exporter's
/// defaults carry their own `^...$`, so the pattern is used as given.
pub fn compile(flag: &str, pattern: Option<&str>) -> Result<Option<Regex>> {
    pattern
        .filter(|p| !p.is_empty())
        .map(|p| Regex::new(p).map_err(|err| Error::InvalidValue(format!("{flag}: invalid regex {p:?}: {err}"))))
        .transpose()
}

impl NodeCollector for Netdev {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let text = read(&self.path)?;
        let devices: Vec<_> = parse(&text)?
            .into_iter()
            .filter(|(device, _)| !self.exclude.as_ref().is_some_and(|r| r.is_match(device)))
            .filter(|(device, _)| self.include.as_ref().is_none_or(|r| r.is_match(device)))
            .map(|(device, values)| (device, Text::from(device.to_owned()), values))
            .collect();
        for (i, (name, sample, help)) in COLUMNS.into_iter().enumerate() {
            let mut family = MetricFamily::new(name, help, MetricType::Counter, "");
            for (_, label, values) in &devices {
                family.push_named(sample, vec![("device".into(), label.clone())], values[i]);
            }
            out.push(family);
        }
        let help = "Network device statistic receive_nohandler.";
        let mut nohandler = MetricFamily::new("node_network_receive_nohandler", help, MetricType::Counter, "");
        for (device, label, _) in &devices {
            let path = self.class_net.join(device).join("statistics/rx_nohandler");
            if let Some(value) = read(&path).ok().and_then(|v| v.trim().parse().ok()) {
                let labels = vec![("device".into(), label.clone())];
                nohandler.push_named("node_network_receive_nohandler_total", labels, value);
            }
        }
        if !nohandler.samples.is_empty() {
            out.push(nohandler);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_paths, scrape};

    const HEADER: &str = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes packets\n";

    #[test]
    fn parses_interface_lines() {
        let text = format!("{HEADER}    lo:  283351 2681 0 0 0 0 0 0 283351 2681 0 0 0 0 0 0\n");
        let devices = parse(&text).unwrap();
        assert_eq!(devices[0].0, "lo");
        assert_eq!(devices[0].1[0], 283351.0);
        assert_eq!(devices[0].1[9], 2681.0);
        assert!(parse(&format!("{HEADER} eth0: 1 2 3\n")).unwrap_err().to_string().contains("not 16"));
        assert!(parse(&format!("{HEADER} eth0 1 2\n")).is_err());
    }

    #[test]
    fn collects_from_the_fixture_with_an_exclude() {
        let config = Config { paths: fixture_paths(), netdev_device_exclude: Some("^ifb".into()), ..Config::default() };
        let out = scrape(build, &config).unwrap();
        assert_eq!(out.len(), 17);
        assert_eq!(out[16].samples[0].value, 3.0, "eth0's rx_nohandler in the fixture");
        assert_eq!(out[16].samples.len(), 1, "lo has no statistics file in the fixture");
        assert_eq!(out[0].help, "Network device statistic receive_bytes.");
        let devices: Vec<&str> = out[0].samples.iter().map(|s| s.labels[0].1.as_ref()).collect();
        assert_eq!(devices, ["lo", "eth0"]);
        assert_eq!(out[0].samples[1].name, "node_network_receive_bytes_total");
        assert_eq!(out[0].samples[1].value, 217173502.0);
        let bad = Config { netdev_device_exclude: Some("(".into()), ..config.clone() };
        assert!(build(&bad).err().unwrap().to_string().contains("--collector.netdev.device-exclude"));
        let both = Config { netdev_device_include: Some("^eth".into()), ..config.clone() };
        assert!(build(&both).err().unwrap().to_string().contains("mutually exclusive"));
        let include = Config { netdev_device_include: Some("^eth".into()), netdev_device_exclude: None, ..config };
        let out = scrape(build, &include).unwrap();
        let devices: Vec<&str> = out[0].samples.iter().map(|s| s.labels[0].1.as_ref()).collect();
        assert_eq!(devices, ["eth0"]);
    }
}
