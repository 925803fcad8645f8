//! sockstat: socket counts per protocol from `<procfs>/net/sockstat` and `sockstat6`:
//! `node_sockstat_sockets_used` and `node_sockstat_<PROTO>_<field>` for each field a line has
//! (inuse, orphan, tw, alloc, mem, memory), plus `_mem_bytes` (mem is in pages). A missing
//! file (IPv4 or IPv6 off) is skipped, as node_exporter does; a garbled one fails the collector.

use super::{malformed, read_if_exists, single, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::PathBuf;

/// A line's protocol and its `key value` pairs, in file order.
pub type Line<'a> = (&'a str, Vec<(&'a str, i64)>);

/// Parses each `PROTO: key value ...` line (fields split on single spaces, as node_exporter).
pub fn parse(text: &str) -> Result<Vec<Line<'_>>> {
    let mut lines = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 3 || fields.len() % 2 == 0 {
            return Err(malformed("sockstat line", line));
        }
        let mut pairs = Vec::new();
        for pair in fields[1..].chunks(2) {
            pairs.push((pair[0], pair[1].parse::<i64>().map_err(|_| malformed("sockstat line", line))?));
        }
        lines.push((fields[0].strip_suffix(':').unwrap_or(fields[0]), pairs));
    }
    Ok(lines)
}

/// The families of one file's lines; `ipv4` for the file with the `sockets: used` line.
fn families(lines: &[Line<'_>], ipv4: bool, page_size: f64, out: &mut Vec<MetricFamily>) {
    for (protocol, pairs) in lines {
        let get = |key: &str| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v as f64);
        if *protocol == "sockets" {
            if ipv4 {
                let used = get("used").unwrap_or(0.0);
                out.push(single(
                    "node_sockstat_sockets_used",
                    "Number of IPv4 sockets in use.",
                    MetricType::Gauge,
                    used,
                ));
            }
            continue;
        }
        let mem_bytes = get("mem").map(|pages| pages * page_size);
        let fields = [
            ("inuse", Some(get("inuse").unwrap_or(0.0))),
            ("orphan", get("orphan")),
            ("tw", get("tw")),
            ("alloc", get("alloc")),
            ("mem", get("mem")),
            ("memory", get("memory")),
            ("mem_bytes", mem_bytes),
        ];
        for (field, value) in fields {
            if let Some(value) = value {
                let name = format!("node_sockstat_{protocol}_{field}");
                let help = format!("Number of {protocol} sockets in state {field}.");
                out.push(single(name, help, MetricType::Gauge, value));
            }
        }
    }
}

struct Sockstat {
    ipv4: PathBuf,
    ipv6: PathBuf,
    page_size: f64,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    // SAFETY: sysconf only reads a constant of the C library.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
    Ok(Box::new(Sockstat {
        ipv4: config.paths.proc("net/sockstat"),
        ipv6: config.paths.proc("net/sockstat6"),
        page_size,
    }))
}

impl NodeCollector for Sockstat {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        for (path, ipv4) in [(&self.ipv4, true), (&self.ipv6, false)] {
            if let Some(text) = read_if_exists(path)? {
                families(&parse(&text)?, ipv4, self.page_size, out);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, procfs_at, scrape, TempTree};

    #[test]
    fn collects_from_the_fixture() {
        let out = scrape(build, &fixture_config()).unwrap();
        let get = |name: &str| out.iter().find(|f| f.name == name).map(|f| f.samples[0].value);
        assert_eq!(get("node_sockstat_sockets_used"), Some(16.0));
        assert_eq!(get("node_sockstat_TCP_tw"), Some(2050.0));
        assert_eq!(get("node_sockstat_TCP_mem_bytes"), Some(274.0 * 4096.0));
        assert_eq!(get("node_sockstat_FRAG6_memory"), Some(0.0));
        assert_eq!(get("node_sockstat_UDPLITE_mem"), None, "UDPLITE has no mem field");
        let tcp = out.iter().find(|f| f.name == "node_sockstat_TCP_inuse").unwrap();
        assert_eq!(tcp.help, "Number of TCP sockets in state inuse.");
        assert_eq!(out.len(), 20, "sockets_used, TCP 6, UDP 3, UDPLITE, RAW, FRAG 2, and 6 for IPv6");
    }

    #[test]
    fn garbled_input_is_an_error_and_a_missing_file_is_skipped() {
        assert!(parse("TCP: inuse\n").unwrap_err().to_string().contains("malformed sockstat"));
        assert!(parse("TCP: inuse 5 orphan\n").is_err());
        assert!(parse("TCP: inuse five\n").is_err());
        let tree = TempTree::new("sockstat");
        tree.write("net/sockstat6", "TCP6: inuse 2\n");
        let out = scrape(build, &procfs_at(tree.root())).unwrap();
        assert_eq!(out.iter().map(|f| f.name.as_ref()).collect::<Vec<_>>(), ["node_sockstat_TCP6_inuse"]);
    }
}
