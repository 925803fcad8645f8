//! mdadm: software RAID state from `<procfs>/mdstat`, as node_exporter 1.9 (procfs' parser)
//! reads it: per array `node_md_disks_required{device}`, `node_md_disks{device,state}` (active,
//! failed, spare), `node_md_state{device,state}` (1 for the array's one state of active,
//! inactive, recovering, resync, check), `node_md_blocks{device}` and
//! `node_md_blocks_synced{device}` (the recovery line's progress while one runs). Without the
//! md driver there is no mdstat: "no data", as node_exporter says.

use super::{absent_is_no_data, malformed, read, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use regex::Regex;
use std::path::PathBuf;

/// One array.
#[derive(Debug, PartialEq)]
pub struct Array {
    /// `md0`.
    pub name: String,
    /// active, inactive, recovering, resyncing or checking.
    pub state: String,
    /// Active, failed, spare and required disks.
    pub disks: [f64; 4],
    /// Blocks, and blocks synced.
    pub blocks: [f64; 2],
}

/// The regexes of procfs' mdstat parser.
pub struct Patterns {
    status: Regex,
    recovery_blocks: Regex,
    recovery_pct: Regex,
    recovery_finish: Regex,
    recovery_speed: Regex,
}

impl Default for Patterns {
    fn default() -> Self {
        let re = |p: &str| Regex::new(p).expect("a valid regex");
        Patterns {
            status: re(r"(\d+) blocks .*\[(\d+)/(\d+)\] \[([U_]+)\]"),
            recovery_blocks: re(r"\((\d+/\d+)\)"),
            recovery_pct: re(r"= (.+)%"),
            recovery_finish: re(r"finish=(.+)min"),
            recovery_speed: re(r"speed=(.+)[A-Z]"),
        }
    }
}

/// Parses mdstat; a device line without its status lines, or lines that don't parse, fail.
pub fn parse(patterns: &Patterns, text: &str) -> Result<Vec<Array>> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut arrays = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty()
            || line.starts_with(' ')
            || line.starts_with("Personalities")
            || line.starts_with("unused")
        {
            continue;
        }
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.len() < 3 || lines.len() <= i + 3 {
            return Err(malformed("mdstat device line", line));
        }
        let bad = || malformed("mdstat status line", lines[i + 1]);
        let size: f64 =
            lines[i + 1].split_ascii_whitespace().next().and_then(|s| s.parse::<i64>().ok()).ok_or_else(bad)? as f64;
        let (active, total) = if line.contains("raid0") || line.contains("linear") {
            let disks = line.matches('[').count() as f64;
            (disks, disks)
        } else if line.contains("inactive") {
            (0.0, 0.0)
        } else {
            let captures = patterns.status.captures(lines[i + 1]).ok_or_else(bad)?;
            let number = |n: usize| captures[n].parse::<i64>().map(|v| v as f64).map_err(|_| bad());
            (number(3)?, number(2)?)
        };
        let sync = if lines[i + 2].contains("bitmap") { lines[i + 3] } else { lines[i + 2] };
        let mut state = fields[2].to_owned();
        let mut synced = size;
        let (recovering, resyncing, checking) =
            (sync.contains("recovery"), sync.contains("resync"), sync.contains("check"));
        if recovering || resyncing || checking {
            state = if recovering {
                "recovering"
            } else if checking {
                "checking"
            } else {
                "resyncing"
            }
            .to_owned();
            if sync.contains("PENDING") || sync.contains("DELAYED") {
                synced = 0.0;
            } else {
                synced = recovery_progress(patterns, sync)?;
            }
        }
        let failed = line.matches("(F)").count() as f64;
        let spare = line.matches("(S)").count() as f64;
        arrays.push(Array {
            name: fields[0].to_owned(),
            state,
            disks: [active, failed, spare, total],
            blocks: [size, synced],
        });
    }
    Ok(arrays)
}

/// The blocks synced of a recovery line, checked whole as procfs checks it.
fn recovery_progress(patterns: &Patterns, line: &str) -> Result<f64> {
    let bad = || malformed("mdstat recovery line", line);
    let blocks = patterns.recovery_blocks.captures(line).ok_or_else(bad)?;
    let (synced, _) = blocks[1].split_once('/').ok_or_else(bad)?;
    let synced: i64 = synced.parse().map_err(|_| bad())?;
    for pattern in [&patterns.recovery_pct, &patterns.recovery_finish, &patterns.recovery_speed] {
        let value = pattern.captures(line).ok_or_else(bad)?;
        value[1].trim().parse::<f64>().map_err(|_| bad())?;
    }
    Ok(synced as f64)
}

struct Mdadm {
    path: PathBuf,
    patterns: Patterns,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Mdadm { path: config.paths.proc("mdstat"), patterns: Patterns::default() }))
}

impl NodeCollector for Mdadm {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let arrays = parse(&self.patterns, &absent_is_no_data(read(&self.path))?)?;
        let family =
            |name: &str, help: &str| MetricFamily::new(name.to_owned(), help.to_owned(), MetricType::Gauge, "");
        let mut required = family("node_md_disks_required", "Total number of disks of device.");
        let mut disks = family("node_md_disks", "Number of active/failed/spare disks of device.");
        let mut states = family("node_md_state", "Indicates the state of md-device.");
        let mut blocks = family("node_md_blocks", "Total number of blocks on device.");
        let mut synced = family("node_md_blocks_synced", "Number of blocks synced on device.");
        for array in &arrays {
            let device = || ("device".into(), array.name.clone().into());
            required.push("", vec![device()], array.disks[3]);
            for (state, value) in ["active", "failed", "spare"].iter().zip(array.disks) {
                disks.push("", vec![device(), ("state".into(), (*state).into())], value);
            }
            let kinds = [
                ("active", "active"),
                ("inactive", "inactive"),
                ("recovering", "recovering"),
                ("resyncing", "resync"),
                ("checking", "check"),
            ];
            for (parsed, label) in kinds {
                let value = if array.state == parsed { 1.0 } else { 0.0 };
                states.push("", vec![device(), ("state".into(), label.into())], value);
            }
            blocks.push("", vec![device()], array.blocks[0]);
            synced.push("", vec![device()], array.blocks[1]);
        }
        out.extend([required, disks, states, blocks, synced]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, fixture_paths, procfs_at, scrape, update_error};

    #[test]
    fn parses_the_fixture_arrays() {
        let text = std::fs::read_to_string(fixture_paths().proc("mdstat")).unwrap();
        let arrays = parse(&Patterns::default(), &text).unwrap();
        let summary: Vec<(&str, &str, [f64; 4], [f64; 2])> =
            arrays.iter().map(|a| (a.name.as_str(), a.state.as_str(), a.disks, a.blocks)).collect();
        assert_eq!(
            summary,
            [
                ("md1", "active", [3.0, 0.0, 0.0, 3.0], [1953260544.0, 1953260544.0]),
                ("md0", "recovering", [1.0, 1.0, 0.0, 2.0], [976630464.0, 83624576.0]),
                ("md2", "active", [2.0, 0.0, 0.0, 2.0], [1953258496.0, 1953258496.0]),
                ("md127", "inactive", [0.0, 0.0, 1.0, 0.0], [1953382488.0, 1953382488.0]),
            ]
        );
        let out = scrape(build, &fixture_config()).unwrap();
        let recovering = out[2].samples.iter().find(|s| s.labels[0].1.as_ref() == "md0" && s.value == 1.0).unwrap();
        assert_eq!(recovering.labels[1].1.as_ref(), "recovering");
    }

    #[test]
    fn truncated_or_garbled_input_fails() {
        let patterns = Patterns::default();
        assert!(parse(&patterns, "md0 : active raid1 sda1[0]\n").is_err(), "no status lines");
        let garbled = "md0 : active raid1 sda1[0] sdb1[1]\n      lots blocks [2/2] [UU]\n\n\n";
        assert!(parse(&patterns, garbled).unwrap_err().to_string().contains("mdstat status line"));
        let recovery = "md0 : active raid1 sda1[0] sdb1[1]\n      100 blocks [2/1] [U_]\n      recovery = x% (1/100) finish=1min speed=1K/sec\n\n";
        assert!(parse(&patterns, recovery).unwrap_err().to_string().contains("recovery line"));
        let pending = "md0 : active raid1 sda1[0] sdb1[1]\n      100 blocks [2/2] [UU]\n      resync=PENDING\n\n";
        assert_eq!(parse(&patterns, pending).unwrap()[0].blocks, [100.0, 0.0]);
        let err = update_error(build, &procfs_at("/nonexistent"));
        assert!(crate::collect::is_no_data(&err) && err.to_string().contains("mdstat"), "{err}");
    }
}
