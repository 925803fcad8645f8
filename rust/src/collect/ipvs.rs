//! ipvs: the IP Virtual Server's totals of `<procfs>/net/ip_vs_stats` (hex counters on its
//! third line) as `node_ipvs_*_total`, and per backend of `<procfs>/net/ip_vs` (a service line
//! `TCP|UDP <hex addr>:<hex port>` or `FWM <mark>`, then its `-> <addr>:<port> <fwd> <weight>
//! <active> <inactive>` lines) `node_ipvs_backend_{connections_active,connections_inactive,
//! weight}`, summed over backends with the same labels. `--collector.ipvs.backend-labels`
//! chooses the labels (a subset of local_address, local_port, remote_address, remote_port,
//! proto, local_mark). As node_exporter: no `ip_vs_stats` (no ip_vs module) is "no data"; a
//! file that doesn't parse fails the collector.

use super::{absent_is_no_data, malformed, read, single, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// The backend labels in node_exporter's order (the default set).
const BACKEND_LABELS: [&str; 6] =
    ["local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark"];

struct Ipvs {
    stats: PathBuf,
    backends: PathBuf,
    /// Indexes into [`BACKEND_LABELS`] of the labels used, in that order.
    labels: Vec<usize>,
}

/// Builds the collector; an unknown name in `--collector.ipvs.backend-labels` is an error.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    let labels = match &config.ipvs_backend_labels {
        None => (0..BACKEND_LABELS.len()).collect(),
        Some(list) => backend_labels(list)?,
    };
    Ok(Box::new(Ipvs { stats: config.paths.proc("net/ip_vs_stats"), backends: config.paths.proc("net/ip_vs"), labels }))
}

/// The labels named in a comma-separated list, in node_exporter's order.
pub fn backend_labels(list: &str) -> Result<Vec<usize>> {
    let named: Vec<&str> = list.split(',').filter(|l| !l.is_empty()).collect();
    let mut unknown: Vec<&str> = named.iter().copied().filter(|l| !BACKEND_LABELS.contains(l)).collect();
    if !unknown.is_empty() {
        unknown.sort();
        unknown.dedup();
        return Err(Error::InvalidValue(format!("unknown IPVS backend labels: {:?}", unknown.join(", "))));
    }
    Ok((0..BACKEND_LABELS.len()).filter(|i| named.contains(&BACKEND_LABELS[*i])).collect())
}

/// The five totals of `ip_vs_stats`: connections, packets in and out, bytes in and out.
pub fn parse_stats(text: &str) -> Result<[f64; 5]> {
    let lines: Vec<&str> = text.splitn(4, '\n').collect();
    let fields: Vec<&str> =
        lines.get(2).filter(|_| lines.len() == 4).map(|l| l.split_whitespace().collect()).unwrap_or_default();
    let mut totals = [0.0; 5];
    if fields.len() != 5 {
        return Err(malformed("ip_vs_stats", text));
    }
    for (total, field) in totals.iter_mut().zip(fields) {
        *total = u64::from_str_radix(field, 16).map_err(|_| malformed("ip_vs_stats", text))? as f64;
    }
    Ok(totals)
}

/// `<hex IPv4>:<hex port>` or `[<IPv6>]:<hex port>`, as the address and port label values.
fn address_and_port(field: &str) -> Option<(String, String)> {
    let address = match field.len() {
        13 => Ipv4Addr::from(u32::from_str_radix(field.get(..8)?, 16).ok()?).to_string(),
        46 => field.get(1..40)?.parse::<Ipv6Addr>().ok()?.to_string(),
        _ => return None,
    };
    let port = u16::from_str_radix(field.get(field.len() - 4..)?, 16).ok()?;
    Some((address, port.to_string()))
}

/// `(label values in BACKEND_LABELS order, [active, inactive, weight])` of each backend.
pub fn parse_backends(text: &str) -> Result<Vec<([String; 6], [f64; 3])>> {
    let bad = || malformed("ip_vs", text);
    let mut backends = Vec::new();
    let (mut proto, mut mark, mut local) = (String::new(), String::new(), (String::new(), "0".to_owned()));
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [] => {}
            ["IP" | "Prot", ..] | [_, "RemoteAddress:Port", ..] => {}
            [kind @ ("TCP" | "UDP"), address, ..] => {
                (proto, mark) = ((*kind).to_owned(), String::new());
                local = address_and_port(address).ok_or_else(bad)?;
            }
            ["FWM", fwmark, ..] => {
                (proto, mark, local) = ("FWM".to_owned(), (*fwmark).to_owned(), (String::new(), "0".to_owned()));
            }
            ["->", remote, _, weight, active, inactive, ..] => {
                let (address, port) = address_and_port(remote).ok_or_else(bad)?;
                let number = |f: &str| f.parse::<u64>().map(|v| v as f64).map_err(|_| bad());
                let values = [number(active)?, number(inactive)?, number(weight)?];
                let labels = [local.0.clone(), local.1.clone(), address, port, proto.clone(), mark.clone()];
                backends.push((labels, values));
            }
            _ => {}
        }
    }
    Ok(backends)
}

impl NodeCollector for Ipvs {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let totals = parse_stats(&absent_is_no_data(read(&self.stats))?)?;
        let names = [
            ("node_ipvs_connections", "The total number of connections made."),
            ("node_ipvs_incoming_packets", "The total number of incoming packets."),
            ("node_ipvs_outgoing_packets", "The total number of outgoing packets."),
            ("node_ipvs_incoming_bytes", "The total amount of incoming data."),
            ("node_ipvs_outgoing_bytes", "The total amount of outgoing data."),
        ];
        let mut families = Vec::new();
        for ((name, help), total) in names.into_iter().zip(totals) {
            let mut family = single(name, help, MetricType::Counter, total);
            family.samples[0].name = format!("{name}_total").into();
            families.push(family);
        }
        let mut sums: BTreeMap<Vec<String>, [f64; 3]> = BTreeMap::new();
        for (labels, values) in parse_backends(&read(&self.backends)?)? {
            let key: Vec<String> = self.labels.iter().map(|i| labels[*i].clone()).collect();
            let sum = sums.entry(key).or_default();
            for (s, v) in sum.iter_mut().zip(values) {
                *s += v;
            }
        }
        let mut backend = [
            ("node_ipvs_backend_connections_active", "The current active connections by local and remote address."),
            ("node_ipvs_backend_connections_inactive", "The current inactive connections by local and remote address."),
            ("node_ipvs_backend_weight", "The current backend weight by local and remote address."),
        ]
        .map(|(name, help)| MetricFamily::new(name, help, MetricType::Gauge, ""));
        for (key, values) in sums {
            let labels: Vec<(Text, Text)> =
                self.labels.iter().zip(key).map(|(i, value)| (BACKEND_LABELS[*i].into(), value.into())).collect();
            for (family, value) in backend.iter_mut().zip(values) {
                family.push("", labels.clone(), value);
            }
        }
        out.extend(families);
        out.extend(backend.into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::is_no_data;
    use crate::collect::testing::{fixture_config, fixture_paths, procfs_at, scrape, TempTree};

    #[test]
    fn reads_the_fixture_totals_and_sums_backends() {
        let out = scrape(build, &fixture_config()).unwrap();
        assert_eq!(out[0].samples[0].name, "node_ipvs_connections_total");
        assert_eq!(out[0].samples[0].value, f64::from(0x23c3));
        let active = out.iter().find(|f| f.name == "node_ipvs_backend_connections_active").unwrap();
        let fwm = active.samples.iter().find(|s| s.labels[5].1 == "10001000").unwrap();
        assert_eq!(fwm.labels[0].1, "", "a firewall mark service has no local address");
        assert!(active.samples.iter().any(|s| s.labels[2].1 == "2620::1"), "IPv6 in Go's short form");
        let config = Config { ipvs_backend_labels: Some("proto".into()), paths: fixture_paths(), ..Config::default() };
        let out = scrape(build, &config).unwrap();
        let weight = out.iter().find(|f| f.name == "node_ipvs_backend_weight").unwrap();
        let total: f64 = weight.samples.iter().map(|s| s.value).sum();
        assert!(weight.samples.len() == 3 && total > 0.0, "summed per protocol: {:?}", weight.samples);
        assert!(build(&Config { ipvs_backend_labels: Some("proto,color".into()), ..Config::default() }).is_err());
    }

    #[test]
    fn a_garbled_file_fails_and_no_module_is_no_data() {
        let tree = TempTree::new("ipvs");
        tree.write("net/ip_vs_stats", "   Total Incoming\n  Conns\n   23C3 0 0\n");
        tree.write("net/ip_vs", "");
        let config = procfs_at(tree.root());
        let err = scrape(build, &config).unwrap_err().to_string();
        assert!(err.contains("malformed ip_vs_stats"), "{err}");
        drop(tree);
        assert!(is_no_data(&scrape(build, &config).unwrap_err()));
    }
}
