//! conntrack: `node_nf_conntrack_entries` and `_entries_limit` from
//! `<procfs>/sys/net/netfilter/nf_conntrack_{count,max}`, and the `node_nf_conntrack_stat_*`
//! gauges: the per-CPU hex columns of `<procfs>/net/stat/nf_conntrack` summed over CPUs.
//! Without the nf_conntrack module the files are missing: "no data", as node_exporter says.

use super::{absent_is_no_data, malformed, read, read_uint, single, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::PathBuf;

/// `(column in the stat file, family, help)` of each summed statistic.
const STATS: [(usize, &str, &str); 8] = [
    (2, "node_nf_conntrack_stat_found", "Number of searched entries which were successful."),
    (4, "node_nf_conntrack_stat_invalid", "Number of packets seen which can not be tracked."),
    (5, "node_nf_conntrack_stat_ignore", "Number of packets seen which are already connected to a conntrack entry."),
    (8, "node_nf_conntrack_stat_insert", "Number of entries inserted into the list."),
    (9, "node_nf_conntrack_stat_insert_failed", "Number of entries for which list insertion was attempted but failed."),
    (10, "node_nf_conntrack_stat_drop", "Number of packets dropped due to conntrack failure."),
    (
        11,
        "node_nf_conntrack_stat_early_drop",
        "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
    ),
    (
        16,
        "node_nf_conntrack_stat_search_restart",
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
    ),
];

/// The summed statistics, in [`STATS`]' order. Each CPU's line has 16 hex columns (17 since
/// Linux 2.6.35, with search_restart last); the header line is skipped.
pub fn parse_stat(text: &str) -> Result<[f64; 8]> {
    let mut sums = [0.0; 8];
    for line in text.lines().skip(1) {
        let columns: Vec<u64> = line
            .split_ascii_whitespace()
            .map(|c| u64::from_str_radix(c, 16))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| malformed("nf_conntrack stat line", line))?;
        if columns.len() != 16 && columns.len() != 17 {
            return Err(malformed("nf_conntrack stat line (not 16 or 17 columns)", line));
        }
        for (sum, (column, ..)) in sums.iter_mut().zip(STATS) {
            *sum += columns.get(column).copied().unwrap_or(0) as f64;
        }
    }
    Ok(sums)
}

struct Conntrack {
    count: PathBuf,
    max: PathBuf,
    stat: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Conntrack {
        count: config.paths.proc("sys/net/netfilter/nf_conntrack_count"),
        max: config.paths.proc("sys/net/netfilter/nf_conntrack_max"),
        stat: config.paths.proc("net/stat/nf_conntrack"),
    }))
}

impl NodeCollector for Conntrack {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        absent_is_no_data(self.families(out))
    }
}

impl Conntrack {
    fn families(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let help = "Number of currently allocated flow entries for connection tracking.";
        out.push(single("node_nf_conntrack_entries", help, MetricType::Gauge, read_uint(&self.count)?));
        let help = "Maximum size of connection tracking table.";
        out.push(single("node_nf_conntrack_entries_limit", help, MetricType::Gauge, read_uint(&self.max)?));
        let sums = parse_stat(&read(&self.stat)?)?;
        for ((_, name, help), value) in STATS.into_iter().zip(sums) {
            out.push(single(name, help, MetricType::Gauge, value));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, procfs_at, scrape, update_error};

    #[test]
    fn sums_the_cpus_of_the_stat_file() {
        let header = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n";
        let cpu0 = "00000001 0 0000000a 0 2 3 0 0 10 1 4 5 0 0 0 0 7\n";
        let cpu1 = "00000001 0 00000001 0 0 0 0 0 00 0 0 0 0 0 0 0 1\n";
        assert_eq!(parse_stat(&format!("{header}{cpu0}{cpu1}")).unwrap(), [11.0, 2.0, 3.0, 16.0, 1.0, 4.0, 5.0, 8.0]);
        let old = "1 0 2 0 0 0 0 0 0 0 0 0 0 0 0 0\n"; // 16 columns: no search_restart
        assert_eq!(parse_stat(&format!("{header}{old}")).unwrap()[7], 0.0);
    }

    #[test]
    fn collects_from_the_fixture() {
        let out = scrape(build, &fixture_config()).unwrap();
        assert_eq!(out.len(), 10);
        assert_eq!((out[0].name.as_ref(), out[0].samples[0].value), ("node_nf_conntrack_entries", 0.0));
        assert_eq!((out[1].name.as_ref(), out[1].samples[0].value), ("node_nf_conntrack_entries_limit", 262144.0));
        assert_eq!(out[9].name, "node_nf_conntrack_stat_search_restart");
    }

    #[test]
    fn garbled_truncated_or_missing_input_is_an_error() {
        let header = "entries found\n";
        assert!(parse_stat(&format!("{header}0 1 2 zz 4 5 6 7 8 9 a b c d e f 10\n")).is_err());
        let err = parse_stat(&format!("{header}0 1 2 3\n")).unwrap_err().to_string();
        assert!(err.contains("not 16 or 17"), "{err}");
        let err = update_error(build, &procfs_at("/nonexistent")).to_string();
        assert!(err.contains("nf_conntrack_count"), "{err}");
    }
}
