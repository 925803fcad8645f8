//! xfs: each mounted XFS file system's statistics of `<sysfs>/fs/xfs/<device>/stats/stats`
//! (the format of the kernel's fs/xfs/xfs_stats.c, one line per category: its name, then
//! counters) as node_exporter's `node_xfs_*_total{device}`. As node_exporter (procfs): every
//! counter must be a 32-bit unsigned number (the extended-precision `xpc` line: 64-bit), a
//! known category must have its number of counters, and a line that breaks either fails the
//! collector. No XFS mounted is no error and no series.

use super::{malformed, read, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::path::PathBuf;

/// The number (or numbers) of counters a known category has.
const CATEGORY_LENGTHS: &[(&str, &[usize])] = &[
    ("extent_alloc", &[4]),
    ("abt", &[4]),
    ("blk_map", &[7]),
    ("bmbt", &[4]),
    ("dir", &[4]),
    ("trans", &[3]),
    ("ig", &[7]),
    ("log", &[5]),
    ("rw", &[2]),
    ("attr", &[4]),
    ("icluster", &[3]),
    ("vnodes", &[7, 8]),
    ("buf", &[9]),
    ("push_ail", &[10]),
    ("xstrat", &[2]),
    ("abtb2", &[15]),
    ("abtc2", &[15]),
    ("bmbt2", &[15]),
    ("ibt2", &[15]),
    ("qm", &[8, 9]),
    ("debug", &[1]),
    ("xpc", &[3]),
];

/// `(category, index, family without node_xfs_ and _total, help)`, in node_exporter's order.
const COUNTERS: &[(&str, usize, &str, &str)] = &[
    ("extent_alloc", 0, "extent_allocation_extents_allocated", "Number of extents allocated for a filesystem."),
    ("extent_alloc", 1, "extent_allocation_blocks_allocated", "Number of blocks allocated for a filesystem."),
    ("extent_alloc", 2, "extent_allocation_extents_freed", "Number of extents freed for a filesystem."),
    ("extent_alloc", 3, "extent_allocation_blocks_freed", "Number of blocks freed for a filesystem."),
    ("abt", 0, "allocation_btree_lookups", "Number of allocation B-tree lookups for a filesystem."),
    ("abt", 1, "allocation_btree_compares", "Number of allocation B-tree compares for a filesystem."),
    ("abt", 2, "allocation_btree_records_inserted", "Number of allocation B-tree records inserted for a filesystem."),
    ("abt", 3, "allocation_btree_records_deleted", "Number of allocation B-tree records deleted for a filesystem."),
    ("blk_map", 0, "block_mapping_reads", "Number of block map for read operations for a filesystem."),
    ("blk_map", 1, "block_mapping_writes", "Number of block map for write operations for a filesystem."),
    ("blk_map", 2, "block_mapping_unmaps", "Number of block unmaps (deletes) for a filesystem."),
    ("blk_map", 3, "block_mapping_extent_list_insertions", "Number of extent list insertions for a filesystem."),
    ("blk_map", 4, "block_mapping_extent_list_deletions", "Number of extent list deletions for a filesystem."),
    ("blk_map", 5, "block_mapping_extent_list_lookups", "Number of extent list lookups for a filesystem."),
    ("blk_map", 6, "block_mapping_extent_list_compares", "Number of extent list compares for a filesystem."),
    ("bmbt", 0, "block_map_btree_lookups", "Number of block map B-tree lookups for a filesystem."),
    ("bmbt", 1, "block_map_btree_compares", "Number of block map B-tree compares for a filesystem."),
    ("bmbt", 2, "block_map_btree_records_inserted", "Number of block map B-tree records inserted for a filesystem."),
    ("bmbt", 3, "block_map_btree_records_deleted", "Number of block map B-tree records deleted for a filesystem."),
    ("dir", 0, "directory_operation_lookup", "Number of file name directory lookups which miss the operating systems directory name lookup cache."),
    ("dir", 1, "directory_operation_create", "Number of times a new directory entry was created for a filesystem."),
    ("dir", 2, "directory_operation_remove", "Number of times an existing directory entry was created for a filesystem."),
    ("dir", 3, "directory_operation_getdents", "Number of times the directory getdents operation was performed for a filesystem."),
    ("ig", 0, "inode_operation_attempts", "Number of times the OS looked for an XFS inode in the inode cache."),
    ("ig", 1, "inode_operation_found", "Number of times the OS looked for and found an XFS inode in the inode cache."),
    ("ig", 2, "inode_operation_recycled", "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled."),
    ("ig", 3, "inode_operation_missed", "Number of times the OS looked for an XFS inode in the cache, but did not find it."),
    ("ig", 4, "inode_operation_duplicates", "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been added by another process."),
    ("ig", 5, "inode_operation_reclaims", "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose."),
    ("ig", 6, "inode_operation_attribute_changes", "Number of times the OS explicitly changed the attributes of an XFS inode."),
    ("rw", 1, "read_calls", "Number of read(2) system calls made to files in a filesystem."),
    ("rw", 0, "write_calls", "Number of write(2) system calls made to files in a filesystem."),
    ("vnodes", 0, "vnode_active", "Number of vnodes not on free lists for a filesystem."),
    ("vnodes", 1, "vnode_allocate", "Number of times vn_alloc called for a filesystem."),
    ("vnodes", 2, "vnode_get", "Number of times vn_get called for a filesystem."),
    ("vnodes", 3, "vnode_hold", "Number of times vn_hold called for a filesystem."),
    ("vnodes", 4, "vnode_release", "Number of times vn_rele called for a filesystem."),
    ("vnodes", 5, "vnode_reclaim", "Number of times vn_reclaim called for a filesystem."),
    ("vnodes", 6, "vnode_remove", "Number of times vn_remove called for a filesystem."),
];

/// The categories of a stats file, each with its counters; checked as procfs checks them.
pub fn parse<'a>(what: &str, text: &'a str) -> Result<Vec<(&'a str, Vec<u64>)>> {
    let mut categories = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, counters @ ..] = fields.as_slice() else { continue };
        if counters.is_empty() {
            continue;
        }
        let values: Option<Vec<u64>> = if *name == "xpc" {
            counters.iter().map(|c| c.parse::<u64>().ok()).collect()
        } else {
            counters.iter().map(|c| c.parse::<u32>().ok().map(u64::from)).collect()
        };
        let values = values.ok_or_else(|| malformed(what, line))?;
        if let Some((_, lengths)) = CATEGORY_LENGTHS.iter().find(|(known, _)| known == name) {
            if !lengths.contains(&values.len()) {
                return Err(malformed(what, line));
            }
        }
        categories.push((*name, values));
    }
    Ok(categories)
}

struct Xfs {
    dir: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Xfs { dir: config.paths.sys("fs/xfs") }))
}

impl NodeCollector for Xfs {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let mut families: Vec<MetricFamily> = COUNTERS
            .iter()
            .map(|(_, _, name, help)| MetricFamily::new(format!("node_xfs_{name}"), *help, MetricType::Counter, ""))
            .collect();
        let mut devices: Vec<(String, PathBuf)> = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path().join("stats/stats")))
                .filter(|(_, stats)| stats.exists())
                .collect(),
            Err(_) => Vec::new(),
        };
        devices.sort();
        for (device, path) in devices {
            let text = read(&path)?;
            let categories = parse(&path.display().to_string(), &text)?;
            let device: Text = device.into();
            for ((category, index, _, _), family) in COUNTERS.iter().zip(&mut families) {
                let value = categories.iter().rev().find(|(name, _)| name == category).map_or(0, |(_, v)| v[*index]);
                family.push("_total", vec![("device".into(), device.clone())], value as f64);
            }
        }
        out.extend(families.into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, scrape, sysfs_at, TempTree};

    #[test]
    fn reads_the_fixture_file_system() {
        let out = scrape(build, &fixture_config()).unwrap();
        assert_eq!(out.len(), COUNTERS.len());
        let value = |name: &str| out.iter().find(|f| f.name == name).unwrap().samples[0].value;
        assert_eq!(out[0].samples[0].labels[0].1, "sda1");
        assert_eq!(value("node_xfs_extent_allocation_extents_allocated"), 92447.0);
        assert_eq!(value("node_xfs_read_calls"), 28.0, "rw is writes, then reads");
        assert_eq!(value("node_xfs_write_calls"), 29.0);
        assert_eq!(value("node_xfs_vnode_remove"), 86.0);
    }

    #[test]
    fn a_garbled_line_fails_and_no_xfs_is_empty() {
        let tree = TempTree::new("xfs");
        let stats = "fs/xfs/vdb/stats";
        let config = sysfs_at(tree.root());
        for garbled in ["extent_alloc 1 2 3\n", "rw 1 x\n", "abt 1 2 3 4294967296\n"] {
            tree.write(format!("{stats}/stats"), garbled);
            let err = scrape(build, &config).unwrap_err().to_string();
            assert!(err.contains("vdb/stats/stats"), "{err}");
        }
        drop(tree);
        assert!(scrape(build, &config).unwrap().is_empty());
    }
}
