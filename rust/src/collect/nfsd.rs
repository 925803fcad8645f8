//! nfsd: the NFS server's statistics of `<procfs>/net/rpc/nfsd` (lines `rc`, `fh`, `io`, `th`,
//! `ra`, `net`, `rpc`, `proc2`, `proc3`, `proc4`, `proc4ops`, `wdeleg_getattr`; the format of
//! fs/nfsd/stats.c) as node_exporter exports them: `node_nfsd_*` totals and
//! `node_nfsd_requests_total{proto,method}` with procfs' method names. A line that is absent
//! (newer kernels dropped `ra`) counts 0; one that doesn't parse, or an unknown one, fails the
//! collector; no file (no NFS server module) is "no data".

use super::nfs::{exactly, parse_lines, procedures, V2, V3};
use super::{absent_is_no_data, malformed, read, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::path::PathBuf;

/// The `proc4ops` operations node_exporter exports, each with its position on the line.
const V4_OPS: &[(&str, usize)] = &[
    ("Access", 4),
    ("Close", 5),
    ("Commit", 6),
    ("Create", 7),
    ("DelegPurge", 8),
    ("DelegReturn", 9),
    ("GetAttr", 10),
    ("GetFH", 11),
    ("Link", 12),
    ("Lock", 13),
    ("Lockt", 14),
    ("Locku", 15),
    ("Lookup", 16),
    ("LookupRoot", 17),
    ("Nverify", 18),
    ("Open", 19),
    ("OpenAttr", 20),
    ("OpenConfirm", 21),
    ("OpenDgrd", 22),
    ("PutFH", 23),
    ("Read", 26),
    ("ReadDir", 27),
    ("ReadLink", 28),
    ("Remove", 29),
    ("Rename", 30),
    ("Renew", 31),
    ("RestoreFH", 32),
    ("SaveFH", 33),
    ("SecInfo", 34),
    ("SetAttr", 35),
    ("SetClientID", 36),
    ("SetClientIDConfirm", 37),
    ("Verify", 38),
    ("Write", 39),
    ("RelLockOwner", 40),
];

/// Everything node_exporter reads of the file.
#[derive(Default)]
struct Stats {
    reply_cache: [u64; 3],
    stale: u64,
    io: [u64; 2],
    threads: u64,
    read_ahead: (u64, u64),
    net: [u64; 4],
    rpc: [u64; 5],
    v2: Vec<u64>,
    v3: Vec<u64>,
    v4_ops: Vec<u64>,
    wdeleg_getattr: u64,
}

fn parse(text: &str) -> Result<Stats> {
    let mut stats = Stats { v2: vec![0; V2.len()], v3: vec![0; V3.len()], v4_ops: vec![0; 41], ..Stats::default() };
    for (name, values) in parse_lines("net/rpc/nfsd", text)? {
        let what = format!("net/rpc/nfsd {name} line");
        match name {
            "rc" => stats.reply_cache.copy_from_slice(exactly(&what, &values, 3)?),
            "fh" => stats.stale = exactly(&what, &values, 5)?[0],
            "io" => stats.io.copy_from_slice(exactly(&what, &values, 2)?),
            "th" => stats.threads = exactly(&what, &values, 2)?[0],
            "ra" => {
                let values = exactly(&what, &values, 12)?;
                stats.read_ahead = (values[0], values[11]);
            }
            "net" => stats.net.copy_from_slice(exactly(&what, &values, 4)?),
            "rpc" => stats.rpc.copy_from_slice(exactly(&what, &values, 5)?),
            "proc2" => stats.v2.copy_from_slice(&procedures(&what, &values, V2.len())?[..V2.len()]),
            "proc3" => stats.v3.copy_from_slice(&procedures(&what, &values, V3.len())?[..V3.len()]),
            "proc4" => {
                procedures(&what, &values, 2)?;
                exactly(&what, &values, 3)?;
            }
            "proc4ops" => {
                let ops = procedures(&what, &values, 39)?;
                let known = ops.len().min(40);
                stats.v4_ops[1..=known].copy_from_slice(&ops[..known]);
            }
            "wdeleg_getattr" => stats.wdeleg_getattr = values[0],
            _ => return Err(malformed("net/rpc/nfsd: unknown line", name)),
        }
    }
    Ok(stats)
}

struct Nfsd {
    path: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Nfsd { path: config.paths.proc("net/rpc/nfsd") }))
}

/// A family of one sample, named `name` (`_total` for a counter), with `labels`.
fn family(name: &str, help: &str, kind: MetricType, samples: &[(&[(&str, &str)], u64)]) -> MetricFamily {
    let base = if kind == MetricType::Counter { name.trim_end_matches("_total") } else { name };
    let mut family = MetricFamily::new(base.to_owned(), help.to_owned(), kind, "");
    for (labels, value) in samples {
        let labels: Vec<(Text, Text)> =
            labels.iter().map(|(k, v)| (k.to_string().into(), v.to_string().into())).collect();
        family.push_named(name.to_owned(), labels, *value as f64);
    }
    family
}

impl NodeCollector for Nfsd {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let s = parse(&absent_is_no_data(read(&self.path))?)?;
        use MetricType::{Counter, Gauge};
        let none: &[(&str, &str)] = &[];
        out.extend([
            family(
                "node_nfsd_reply_cache_hits_total",
                "Total number of NFSd Reply Cache hits (client lost server response).",
                Counter,
                &[(none, s.reply_cache[0])],
            ),
            family(
                "node_nfsd_reply_cache_misses_total",
                "Total number of NFSd Reply Cache an operation that requires caching (idempotent).",
                Counter,
                &[(none, s.reply_cache[1])],
            ),
            family(
                "node_nfsd_reply_cache_nocache_total",
                "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).",
                Counter,
                &[(none, s.reply_cache[2])],
            ),
            family(
                "node_nfsd_file_handles_stale_total",
                "Total number of NFSd stale file handles",
                Counter,
                &[(none, s.stale)],
            ),
            family("node_nfsd_disk_bytes_read_total", "Total NFSd bytes read.", Counter, &[(none, s.io[0])]),
            family("node_nfsd_disk_bytes_written_total", "Total NFSd bytes written.", Counter, &[(none, s.io[1])]),
            family(
                "node_nfsd_server_threads",
                "Total number of NFSd kernel threads that are running.",
                Gauge,
                &[(none, s.threads)],
            ),
            family(
                "node_nfsd_read_ahead_cache_size_blocks",
                "How large the read ahead cache is in blocks.",
                Gauge,
                &[(none, s.read_ahead.0)],
            ),
            family(
                "node_nfsd_read_ahead_cache_not_found_total",
                "Total number of NFSd read ahead cache not found.",
                Counter,
                &[(none, s.read_ahead.1)],
            ),
            family(
                "node_nfsd_packets_total",
                "Total NFSd network packets (sent+received) by protocol type.",
                Counter,
                &[(&[("proto", "udp")], s.net[1]), (&[("proto", "tcp")], s.net[2])],
            ),
            family(
                "node_nfsd_connections_total",
                "Total number of NFSd TCP connections.",
                Counter,
                &[(none, s.net[3])],
            ),
            family(
                "node_nfsd_rpc_errors_total",
                "Total number of NFSd RPC errors by error type.",
                Counter,
                &[(&[("error", "fmt")], s.rpc[2]), (&[("error", "auth")], s.rpc[3]), (&[("error", "cInt")], s.rpc[4])],
            ),
            family("node_nfsd_server_rpcs_total", "Total number of NFSd RPCs.", Counter, &[(none, s.rpc[0])]),
        ]);
        let mut requests = MetricFamily::new(
            "node_nfsd_requests",
            "Total number NFSd Requests by method and protocol.",
            MetricType::Counter,
            "",
        );
        let mut push = |proto: &'static str, method: &'static str, value: u64| {
            requests.push(
                "_total",
                vec![("proto".into(), proto.into()), ("method".into(), method.into())],
                value as f64,
            )
        };
        // node_exporter leaves out each version's Null procedure (and v4's unused ops).
        V2.iter().zip(&s.v2).skip(1).for_each(|(method, value)| push("2", method, *value));
        V3.iter().zip(&s.v3).skip(1).for_each(|(method, value)| push("3", method, *value));
        V4_OPS.iter().for_each(|(method, at)| push("4", method, s.v4_ops[*at]));
        push("4", "WdelegGetattr", s.wdeleg_getattr);
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
    fn reads_the_fixture_server_statistics() {
        let out = scrape(build, &fixture_config()).unwrap();
        assert_eq!(value(&out, "node_nfsd_reply_cache_nocache_total", &[]), 18622.0);
        assert_eq!(value(&out, "node_nfsd_server_threads", &[]), 8.0);
        assert_eq!(value(&out, "node_nfsd_rpc_errors_total", &["auth"]), 2.0);
        assert_eq!(value(&out, "node_nfsd_requests_total", &["2", "Lookup"]), 4410.0);
        assert_eq!(value(&out, "node_nfsd_requests_total", &["4", "GetAttr"]), 8179.0);
        assert_eq!(value(&out, "node_nfsd_requests_total", &["4", "WdelegGetattr"]), 0.0, "no line before Linux 6.7");
        let requests = out.last().unwrap();
        assert_eq!(requests.samples.len(), 17 + 21 + V4_OPS.len() + 1);
    }

    #[test]
    fn a_garbled_line_fails_and_no_file_is_no_data() {
        let tree = TempTree::new("nfsd");
        let config = procfs_at(tree.root());
        tree.write("net/rpc/nfsd", "th 4 0\nwdeleg_getattr 15\n");
        let out = scrape(build, &config).unwrap();
        let requests = &out.last().unwrap().samples;
        assert_eq!(requests.last().unwrap().value, 15.0, "{requests:?}");
        let garbled = [("th 8 0 0.000\n", "malformed"), ("rc 1 2\n", "rc line"), ("proc4ops 3 1 2 3\n", "proc4ops")];
        assert_each_fails(build, &config, &tree, "net/rpc/nfsd", &garbled);
        drop(tree);
        assert!(is_no_data(&scrape(build, &config).unwrap_err()));
    }
}
