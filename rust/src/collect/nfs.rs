//! nfs: the NFS client's RPC statistics of `<procfs>/net/rpc/nfs` (lines `net`, `rpc`, `proc2`,
//! `proc3`, `proc4`, each a name then unsigned numbers; `procN` starts with its count), as
//! node_exporter exports them: `node_nfs_{packets,connections,rpcs,rpc_retransmissions,
//! rpc_authentication_refreshes}_total` and `node_nfs_requests_total{proto,method}`, the method
//! names being procfs' field names. A version whose line is absent counts 0 for each of its
//! procedures, as in node_exporter. A line that doesn't parse (or an unknown one) fails the
//! collector; no file (no NFS client module) is "no data".

use super::{absent_is_no_data, malformed, read, single, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::PathBuf;

/// NFSv2's procedures, in the order of their counters (RFC 1094).
pub const V2: &[&str] = &[
    "Null", "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write", "Create", "Remove",
    "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];

/// NFSv3's procedures, in the order of their counters (RFC 1813).
pub const V3: &[&str] = &[
    "Null",
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
];

/// The NFSv4 client's operations as node_exporter names and orders them, each with the
/// position of its counter on the `proc4` line.
const V4_CLIENT: &[(&str, usize)] = &[
    ("Null", 1),
    ("Read", 2),
    ("Write", 3),
    ("Commit", 4),
    ("Open", 5),
    ("OpenConfirm", 6),
    ("OpenNoattr", 7),
    ("OpenDowngrade", 8),
    ("Close", 9),
    ("Setattr", 10),
    ("FsInfo", 11),
    ("Renew", 12),
    ("SetClientID", 13),
    ("SetClientIDConfirm", 14),
    ("Lock", 15),
    ("Lockt", 16),
    ("Locku", 17),
    ("Access", 18),
    ("Getattr", 19),
    ("Lookup", 20),
    ("LookupRoot", 21),
    ("Remove", 22),
    ("Rename", 23),
    ("Link", 24),
    ("Symlink", 25),
    ("Create", 26),
    ("Pathconf", 27),
    ("StatFs", 28),
    ("ReadLink", 29),
    ("ReadDir", 30),
    ("ServerCaps", 31),
    ("DelegReturn", 32),
    ("GetACL", 33),
    ("SetACL", 34),
    ("FsLocations", 35),
    ("ReleaseLockowner", 36),
    ("Secinfo", 37),
    ("FsidPresent", 38),
    ("ExchangeID", 39),
    ("CreateSession", 40),
    ("DestroySession", 41),
    ("Sequence", 42),
    ("GetLeaseTime", 43),
    ("ReclaimComplete", 44),
    ("LayoutGet", 45),
    ("GetDeviceInfo", 46),
    ("LayoutCommit", 47),
    ("LayoutReturn", 48),
    ("SecinfoNoName", 49),
    ("TestStateID", 50),
    ("FreeStateID", 51),
    ("GetDeviceList", 52),
    ("BindConnToSession", 53),
    ("DestroyClientID", 54),
    ("Seek", 55),
    ("Allocate", 56),
    ("DeAllocate", 57),
    ("LayoutStats", 58),
    ("Clone", 59),
];

/// Each line of an RPC statistics file: its name and its numbers (at least one).
pub fn parse_lines<'a>(what: &str, text: &'a str) -> Result<Vec<(&'a str, Vec<u64>)>> {
    let mut lines = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let name = fields.next().unwrap_or_default();
        let values: Option<Vec<u64>> = fields.map(|f| f.parse().ok()).collect();
        match values {
            Some(values) if !values.is_empty() => lines.push((name, values)),
            _ => return Err(malformed(what, line)),
        }
    }
    Ok(lines)
}

/// A `procN` line's counters after its count, checked against the count and the fewest known.
pub fn procedures<'a>(what: &str, values: &'a [u64], fewest: usize) -> Result<&'a [u64]> {
    let counters = &values[1..];
    if counters.len() as u64 != values[0] || counters.len() < fewest {
        return Err(malformed(what, &format!("{values:?}")));
    }
    Ok(counters)
}

/// `values` checked to be `count` numbers.
pub fn exactly<'a>(what: &str, values: &'a [u64], count: usize) -> Result<&'a [u64]> {
    if values.len() != count {
        return Err(malformed(what, &format!("{values:?}")));
    }
    Ok(values)
}

struct Nfs {
    path: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Nfs { path: config.paths.proc("net/rpc/nfs") }))
}

impl NodeCollector for Nfs {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let text = absent_is_no_data(read(&self.path))?;
        let (mut net, mut rpc) = ([0u64; 4], [0u64; 3]);
        let (mut v2, mut v3, mut v4) = (vec![0; V2.len()], vec![0; V3.len()], vec![0u64; 60]);
        for (name, values) in parse_lines("net/rpc/nfs", &text)? {
            let what = format!("net/rpc/nfs {name} line");
            match name {
                "net" => net.copy_from_slice(exactly(&what, &values, 4)?),
                "rpc" => rpc.copy_from_slice(exactly(&what, &values, 3)?),
                "proc2" => v2.copy_from_slice(&procedures(&what, &values, V2.len())?[..V2.len()]),
                "proc3" => v3.copy_from_slice(&procedures(&what, &values, V3.len())?[..V3.len()]),
                "proc4" => {
                    let counters = procedures(&what, &values, 0)?;
                    let known = counters.len().min(59);
                    v4[1..=known].copy_from_slice(&counters[..known]);
                }
                _ => return Err(malformed("net/rpc/nfs: unknown line", name)),
            }
        }
        let mut packets = MetricFamily::new(
            "node_nfs_packets",
            "Total NFSd network packets (sent+received) by protocol type.",
            MetricType::Counter,
            "",
        );
        packets.push("_total", vec![("protocol".into(), "udp".into())], net[1] as f64);
        packets.push("_total", vec![("protocol".into(), "tcp".into())], net[2] as f64);
        out.push(packets);
        let totals = [
            ("node_nfs_connections_total", "Total number of NFSd TCP connections.", net[3]),
            ("node_nfs_rpcs_total", "Total number of RPCs performed.", rpc[0]),
            ("node_nfs_rpc_retransmissions_total", "Number of RPC transmissions performed.", rpc[1]),
            (
                "node_nfs_rpc_authentication_refreshes_total",
                "Number of RPC authentication refreshes performed.",
                rpc[2],
            ),
        ];
        for (name, help, value) in totals {
            let mut family = single(name.trim_end_matches("_total"), help, MetricType::Counter, value as f64);
            family.samples[0].name = name.into();
            out.push(family);
        }
        let mut requests =
            MetricFamily::new("node_nfs_requests", "Number of NFS procedures invoked.", MetricType::Counter, "");
        let mut push = |proto: &'static str, method: &'static str, value: u64| {
            requests.push(
                "_total",
                vec![("proto".into(), proto.into()), ("method".into(), method.into())],
                value as f64,
            )
        };
        V2.iter().zip(&v2).for_each(|(method, value)| push("2", method, *value));
        V3.iter().zip(&v3).for_each(|(method, value)| push("3", method, *value));
        V4_CLIENT.iter().for_each(|(method, at)| push("4", method, v4[*at]));
        out.push(requests);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::is_no_data;
    use crate::collect::testing::{assert_each_fails, fixture_config, procfs_at, scrape, value, TempTree};

    #[test]
    fn reads_the_fixture_client_statistics() {
        let out = scrape(build, &fixture_config()).unwrap();
        assert_eq!(value(&out, "node_nfs_packets_total", &["tcp"]), 70.0);
        assert_eq!(value(&out, "node_nfs_rpcs_total", &[]), 1_218_785_755.0);
        assert_eq!(value(&out, "node_nfs_requests_total", &["3", "Read"]), 2_000_000.0);
        assert_eq!(value(&out, "node_nfs_requests_total", &["2", "Read"]), 0.0, "no proc2 line: zeros");
        let requests = out.iter().find(|f| f.name == "node_nfs_requests").unwrap();
        assert_eq!(requests.samples.len(), V2.len() + V3.len() + V4_CLIENT.len());
        assert_eq!(value(&out, "node_nfs_requests_total", &["4", "LayoutGet"]), 445.0);
    }

    #[test]
    fn a_garbled_line_fails_and_no_file_is_no_data() {
        let tree = TempTree::new("nfs");
        let config = procfs_at(tree.root());
        let garbled = [("net 1 2 x 4\n", "malformed"), ("proc3 22 1 2\n", "proc3"), ("rpc 1 2 3\nwho 1\n", "unknown")];
        assert_each_fails(build, &config, &tree, "net/rpc/nfs", &garbled);
        drop(tree);
        assert!(is_no_data(&scrape(build, &config).unwrap_err()));
    }
}
