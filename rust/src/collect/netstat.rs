//! netstat: the protocol counters of `<procfs>/net/netstat` and `net/snmp` (pairs of lines, a
//! header of field names and a line of values, both led by `Proto:`) and `net/snmp6` (one
//! `Proto6Field value` per line), as untyped `node_netstat_<Proto>_<Field>` families, those
//! whose `<Proto>_<Field>` matches `--collector.netstat.fields` (node_exporter 1.9's default
//! regex). As in node_exporter, a protocol in snmp replaces the same protocol of netstat, a
//! missing snmp6 (IPv6 off) is no error, and any value that isn't a number fails the collector.

use super::netdev::compile;
use super::{malformed, read, read_if_exists, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use regex::Regex;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// node_exporter 1.9's `--collector.netstat.fields`.
pub const DEFAULT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

/// protocol -> field -> value text.
pub type Stats<'a> = BTreeMap<&'a str, BTreeMap<&'a str, &'a str>>;

/// Parses netstat or snmp into `stats`: header and value lines in pairs, split on single spaces.
pub fn parse_pairs<'a>(text: &'a str, stats: &mut Stats<'a>) -> Result<()> {
    let mut lines = text.lines();
    while let Some(header) = lines.next() {
        let values = lines.next().unwrap_or("");
        let names: Vec<&str> = header.split(' ').collect();
        let numbers: Vec<&str> = values.split(' ').collect();
        let protocol = names[0].strip_suffix(':').ok_or_else(|| malformed("netstat header", header))?;
        if names.len() != numbers.len() {
            return Err(malformed(&format!("netstat line of {protocol} (field count mismatch)"), values));
        }
        stats.insert(protocol, names[1..].iter().copied().zip(numbers[1..].iter().copied()).collect());
    }
    Ok(())
}

/// Parses snmp6 into `stats`: the protocol is the name up to its first `6`.
pub fn parse_snmp6<'a>(text: &'a str, stats: &mut Stats<'a>) {
    let mut six = Stats::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (fields.next(), fields.next()) else { continue };
        if let Some(at) = key.find('6') {
            six.entry(&key[..=at]).or_default().insert(&key[at + 1..], value);
        }
    }
    stats.extend(six);
}

struct Netstat {
    netstat: PathBuf,
    snmp: PathBuf,
    snmp6: PathBuf,
    fields: Regex,
    /// Per `<protocol>_<field>` seen: its family's name and help if the regex selects it (the
    /// same ~300 keys at every scrape: one lookup instead of a regex match and two formats).
    chosen: parking_lot::Mutex<hashbrown::HashMap<String, Option<(Text, Text)>>>,
}

/// Builds the collector; a bad `--collector.netstat.fields` is an error naming the flag.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    let pattern = config.netstat_fields.as_deref().unwrap_or(DEFAULT_FIELDS);
    let fields = compile("--collector.netstat.fields", Some(pattern))?.unwrap_or_else(|| Regex::new("").unwrap());
    Ok(Box::new(Netstat {
        netstat: config.paths.proc("net/netstat"),
        snmp: config.paths.proc("net/snmp"),
        snmp6: config.paths.proc("net/snmp6"),
        fields,
        chosen: Default::default(),
    }))
}

impl NodeCollector for Netstat {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let (netstat, snmp) = (read(&self.netstat)?, read(&self.snmp)?);
        let snmp6 = read_if_exists(&self.snmp6)?;
        let mut stats = Stats::new();
        parse_pairs(&netstat, &mut stats)?;
        let mut from_snmp = Stats::new();
        parse_pairs(&snmp, &mut from_snmp)?;
        stats.extend(from_snmp);
        if let Some(text) = &snmp6 {
            parse_snmp6(text, &mut stats);
        }
        let mut key = String::new();
        let mut chosen = self.chosen.lock();
        for (protocol, fields) in &stats {
            for (field, text) in fields {
                let value: f64 =
                    text.parse().map_err(|_| malformed(&format!("netstat value of {protocol} {field}"), text))?;
                key.clear();
                key.push_str(protocol);
                key.push('_');
                key.push_str(field);
                if !chosen.contains_key(key.as_str()) {
                    let made = self.fields.is_match(&key).then(|| {
                        (Text::from(format!("node_netstat_{key}")), Text::from(format!("Statistic {protocol}{field}.")))
                    });
                    chosen.insert(key.clone(), made);
                }
                let Some((name, help)) = &chosen[key.as_str()] else { continue };
                let mut family = MetricFamily::new(name.clone(), help.clone(), MetricType::Unknown, "");
                family.push("", Vec::new(), value);
                out.push(family);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, procfs_at, scrape, update_error, TempTree};

    #[test]
    fn collects_the_default_fields_from_the_fixture() {
        let config = fixture_config();
        let out = scrape(build, &config).unwrap();
        let get = |name: &str| out.iter().find(|f| f.name == name).map(|f| (f.samples[0].value, f.help.as_ref()));
        assert_eq!(get("node_netstat_Ip_Forwarding"), Some((2.0, "Statistic IpForwarding.")));
        assert!(get("node_netstat_Ip_DefaultTTL").is_none(), "not in the default fields");
        assert!(get("node_netstat_TcpExt_TCPOFOQueue").is_some());
        assert!(get("node_netstat_Ip6_InOctets").is_some(), "from snmp6");
        assert!(get("node_netstat_Udp6_InDatagrams").is_some(), "from snmp6");
        assert!(out.iter().all(|f| f.kind == MetricType::Unknown));
        let all = Config { netstat_fields: Some(".*".into()), ..config.clone() };
        let mut everything = Vec::new();
        build(&all).unwrap().update(&mut everything).unwrap();
        assert!(everything.len() > 200, "{}", everything.len());
        let bad = Config { netstat_fields: Some("(".into()), ..config };
        assert!(build(&bad).err().unwrap().to_string().contains("--collector.netstat.fields"));
    }

    #[test]
    fn garbled_or_truncated_input_is_an_error() {
        let mut stats = Stats::new();
        let err = parse_pairs("Tcp: A B C\nTcp: 1 2\n", &mut stats).unwrap_err().to_string();
        assert!(err.contains("field count mismatch"), "{err}");
        assert!(parse_pairs("Tcp: A B\n", &mut Stats::new()).is_err(), "a header with no values");
        assert!(parse_pairs("garbage\n1\n", &mut Stats::new()).is_err());
        let tree = TempTree::new("netstat");
        tree.write("net/netstat", "TcpExt: ListenDrops\nTcpExt: many\n");
        tree.write("net/snmp", "");
        let config = procfs_at(tree.root());
        let err = update_error(build, &config).to_string();
        assert!(err.contains("TcpExt ListenDrops"), "{err}");
        tree.remove("net/snmp");
        let err = update_error(build, &config).to_string();
        assert!(err.contains("net/snmp"), "{err}");
    }
}
