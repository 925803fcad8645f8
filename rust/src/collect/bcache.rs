//! bcache: each bcache cache set of `<sysfs>/fs/bcache/<uuid>` (kernel
//! Documentation/admin-guide/bcache.rst, "Sysfs"): the set's btree and cache figures, each
//! backing device's (`bdev<N>`) dirty data, writeback controller and `stats_total` counters,
//! and each cache device's (`cache<N>`) errors and bytes written, as node_exporter's
//! `node_bcache_*{uuid[,backing_device|cache_device]}`. The kernel writes sizes the way
//! bcache's `bch_hprint` does (`1.5M`, whose fraction is in 1/1024ths), read back as procfs
//! does. `--collector.bcache.priorityStats` adds each cache's `priority_stats` percentages
//! (slow: the kernel walks every bucket). A file that is absent counts 0 (as procfs), except
//! a backing device's `writeback_rate_debug`; one that doesn't parse fails the collector. No
//! cache set is no error and no series.

use super::{attribute, entries, malformed, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::path::{Path, PathBuf};

/// A size as `bch_hprint` writes it, with procfs' reading of the fraction.
pub fn dehumanize(text: &str) -> Option<f64> {
    let last = *text.as_bytes().last()?;
    if last > b'9' {
        let multiplier = match last {
            b'k' => 1u64 << 10,
            b'M' => 1 << 20,
            b'G' => 1 << 30,
            b'T' => 1 << 40,
            b'P' => 1 << 50,
            b'E' => 1 << 60,
            _ => 0,
        } as f64;
        let mantissa = &text[..text.len() - 1];
        let (whole, fraction) = match mantissa.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction.split('.').next().unwrap_or_default())),
            None => (mantissa, None),
        };
        let mut value: f64 = whole.parse().ok()?;
        if let Some(fraction) = fraction {
            value += fraction.parse::<f64>().ok()? / 10.24;
        }
        Some(((value * multiplier) as u64) as f64)
    } else {
        Some((text.parse::<f64>().ok()? as u64) as f64)
    }
}

/// Like [`dehumanize`], with a leading `-`.
fn dehumanize_signed(text: &str) -> Option<f64> {
    match text.strip_prefix('-') {
        Some(rest) => dehumanize(rest).map(|v| -v),
        None => dehumanize(text),
    }
}

/// A size file's value; 0 when the file is absent.
fn value(path: &Path) -> Result<f64> {
    match attribute(path) {
        Ok(text) => dehumanize(&text).ok_or_else(|| malformed(&path.display().to_string(), &text)),
        Err(Error::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => Ok(0.0),
        Err(err) => Err(err),
    }
}

/// The last field of the line of `text` starting with `key`, less `suffix`, read by `parse`.
fn keyed(path: &Path, text: &str, key: &str, suffix: &str, parse: fn(&str) -> Option<f64>) -> Result<f64> {
    let Some(line) = text.lines().find(|l| l.starts_with(key)) else { return Ok(0.0) };
    let last = line.split_whitespace().last().unwrap_or_default();
    let field = last.strip_suffix(suffix).unwrap_or(last);
    parse(field).ok_or_else(|| malformed(&path.display().to_string(), line))
}

struct Bcache {
    dir: PathBuf,
    priority_stats: bool,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Bcache { dir: config.paths.sys("fs/bcache"), priority_stats: config.bcache_priority_stats }))
}

/// Adds a sample to the family `node_bcache_<name>` of `out`, made at its first sample.
fn add(out: &mut Vec<MetricFamily>, name: &str, help: &str, kind: MetricType, labels: Vec<(Text, Text)>, value: f64) {
    let full = format!("node_bcache_{name}");
    let base = if kind == MetricType::Counter { full.trim_end_matches("_total").to_owned() } else { full.clone() };
    let at = match out.iter().position(|f| f.name == base.as_str()) {
        Some(at) => at,
        None => {
            out.push(MetricFamily::new(base, help.to_owned(), kind, ""));
            out.len() - 1
        }
    };
    out[at].push_named(full, labels, value);
}

/// The sorted entries of `dir` named `<prefix><digit>...`.
fn numbered(dir: &Path, prefix: &str) -> Result<Vec<(String, PathBuf)>> {
    let found = entries(dir)?;
    Ok(found
        .into_iter()
        .filter(|(name, _)| name.strip_prefix(prefix).is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit())))
        .collect())
}

impl Bcache {
    fn cache_set(&self, uuid: &str, dir: &Path, out: &mut Vec<MetricFamily>) -> Result<()> {
        use MetricType::{Counter, Gauge};
        let uuid: Text = uuid.to_owned().into();
        let set = || vec![("uuid".into(), uuid.clone())];
        let figures = [
            ("average_key_size", "average_key_size_sectors", "Average data per key in the btree (sectors)."),
            ("btree_cache_size", "btree_cache_size_bytes", "Amount of memory currently used by the btree cache."),
            (
                "cache_available_percent",
                "cache_available_percent",
                "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data).",
            ),
            ("congested", "congested", "Congestion."),
            (
                "root_usage_percent",
                "root_usage_percent",
                "Percentage of the root btree node in use (tree depth increases if too high).",
            ),
            ("tree_depth", "tree_depth", "Depth of the btree."),
            (
                "internal/active_journal_entries",
                "active_journal_entries",
                "Number of journal entries that are newer than the index.",
            ),
            ("internal/btree_nodes", "btree_nodes", "Total nodes in the btree."),
        ];
        let mut values = Vec::new();
        for (file, name, help) in figures {
            values.push((name, help, Gauge, value(&dir.join(file))?));
        }
        // node_exporter scales this microsecond figure as nanoseconds.
        let read = value(&dir.join("internal/btree_read_average_duration_us"))? * 1e-9;
        values.push(("btree_read_average_duration_seconds", "Average btree read duration.", Gauge, read));
        let races = value(&dir.join("internal/cache_read_races"))?;
        values.push(("cache_read_races_total", "Counts instances where while data was being read from the cache, the bucket was reused and invalidated - i.e. where the pointer was stale after the read completed.", Counter, races));
        for file in ["stats_five_minute", "stats_total"] {
            for counter in [
                "bypassed",
                "cache_hits",
                "cache_bypass_hits",
                "cache_bypass_misses",
                "cache_miss_collisions",
                "cache_misses",
                "cache_readaheads",
            ] {
                value(&dir.join(file).join(counter))?; // read (and checked) as procfs does, not exported
            }
        }
        for (name, help, kind, value) in values {
            add(out, name, help, kind, set(), value);
        }
        for (bdev, bdev_dir) in numbered(dir, "bdev")? {
            let labels = || vec![("uuid".into(), uuid.clone()), ("backing_device".into(), bdev.clone().into())];
            let dirty = value(&bdev_dir.join("dirty_data"))?;
            let debug_path = bdev_dir.join("writeback_rate_debug");
            let debug = attribute(&debug_path)?;
            let rate = keyed(&debug_path, &debug, "rate:", "/sec", dehumanize)?;
            let target = keyed(&debug_path, &debug, "target:", "", dehumanize)?;
            keyed(&debug_path, &debug, "dirty:", "", dehumanize)?;
            let proportional = keyed(&debug_path, &debug, "proportional:", "", dehumanize_signed)?;
            let integral = keyed(&debug_path, &debug, "integral:", "", dehumanize_signed)?;
            let change = keyed(&debug_path, &debug, "change:", "/sec", dehumanize_signed)?;
            keyed(&debug_path, &debug, "next io:", "ms", |f| f.parse::<i64>().ok().map(|v| v as f64))?;
            for file in ["stats_five_minute", "stats_total"] {
                for counter in [
                    "bypassed",
                    "cache_bypass_hits",
                    "cache_bypass_misses",
                    "cache_hits",
                    "cache_miss_collisions",
                    "cache_misses",
                    "cache_readaheads",
                ] {
                    value(&bdev_dir.join(file).join(counter))?;
                }
            }
            let total = |counter: &str| value(&bdev_dir.join("stats_total").join(counter));
            let gauges = [
                ("dirty_data_bytes", "Amount of dirty data for this backing device in the cache.", dirty),
                ("dirty_target_bytes", "Current dirty data target threshold for this backing device in bytes.", target),
                ("writeback_rate", "Current writeback rate for this backing device in bytes.", rate),
                (
                    "writeback_rate_proportional_term",
                    "Current result of proportional controller, part of writeback rate",
                    proportional,
                ),
                (
                    "writeback_rate_integral_term",
                    "Current result of integral controller, part of writeback rate",
                    integral,
                ),
                ("writeback_change", "Last writeback rate change step for this backing device.", change),
            ];
            for (name, help, value) in gauges {
                add(out, name, help, Gauge, labels(), value);
            }
            let counters = [
                (
                    "bypassed",
                    "bypassed_bytes_total",
                    "Amount of IO (both reads and writes) that has bypassed the cache.",
                ),
                ("cache_hits", "cache_hits_total", "Hits counted per individual IO as bcache sees them."),
                ("cache_misses", "cache_misses_total", "Misses counted per individual IO as bcache sees them."),
                ("cache_bypass_hits", "cache_bypass_hits_total", "Hits for IO intended to skip the cache."),
                ("cache_bypass_misses", "cache_bypass_misses_total", "Misses for IO intended to skip the cache."),
                (
                    "cache_miss_collisions",
                    "cache_miss_collisions_total",
                    "Instances where data insertion from cache miss raced with write (data already present).",
                ),
            ];
            for (file, name, help) in counters {
                add(out, name, help, Counter, labels(), total(file)?);
            }
            let readaheads = total("cache_readaheads")?;
            if readaheads != 0.0 {
                add(out, "cache_readaheads_total", "Count of times readahead occurred.", Counter, labels(), readaheads);
            }
        }
        for (cache, cache_dir) in numbered(dir, "cache")? {
            let labels = || vec![("uuid".into(), uuid.clone()), ("cache_device".into(), cache.clone().into())];
            let errors = value(&cache_dir.join("io_errors"))?;
            let metadata = value(&cache_dir.join("metadata_written"))?;
            let written = value(&cache_dir.join("written"))?;
            add(
                out,
                "io_errors",
                "Number of errors that have occurred, decayed by io_error_halflife.",
                Gauge,
                labels(),
                errors,
            );
            add(
                out,
                "metadata_written_bytes_total",
                "Sum of all non data writes (btree writes and all other metadata).",
                Counter,
                labels(),
                metadata,
            );
            add(
                out,
                "written_bytes_total",
                "Sum of all data that has been written to the cache.",
                Counter,
                labels(),
                written,
            );
            if self.priority_stats {
                let path = cache_dir.join("priority_stats");
                let text = attribute(&path)?;
                let percent = |f: &str| f.strip_suffix('%').unwrap_or(f).parse::<u64>().ok().map(|v| v as f64);
                let unused = keyed(&path, &text, "Unused:", "", percent)?;
                let metadata = keyed(&path, &text, "Metadata:", "", percent)?;
                add(
                    out,
                    "priority_stats_unused_percent",
                    "The percentage of the cache that doesn't contain any data.",
                    Gauge,
                    labels(),
                    unused,
                );
                add(out, "priority_stats_metadata_percent", "Bcache's metadata overhead.", Gauge, labels(), metadata);
            }
        }
        Ok(())
    }
}

impl NodeCollector for Bcache {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let sets = match entries(&self.dir) {
            Ok(sets) => sets,
            Err(Error::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        let mut families = Vec::new();
        for (uuid, dir) in sets.into_iter().filter(|(name, _)| name.contains('-')) {
            self.cache_set(&uuid, &dir, &mut families)?;
        }
        out.extend(families);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{family, fixture_config, fixture_paths, scrape, sysfs_at, TempTree};

    #[test]
    fn reads_the_fixture_cache_set_and_sizes_as_bcache_writes_them() {
        assert_eq!(dehumanize("1.5M"), Some(((1.0 + 5.0 / 10.24) * 1048576.0) as u64 as f64));
        assert_eq!(dehumanize("512"), Some(512.0));
        assert_eq!(dehumanize_signed("-1.1k"), Some(-(((1.0 + 1.0 / 10.24) * 1024.0) as u64 as f64)));
        let out = scrape(build, &fixture_config()).unwrap();
        assert_eq!(family(&out, "node_bcache_btree_nodes").samples[0].value, 41.0);
        let rate = &family(&out, "node_bcache_writeback_rate").samples[0];
        assert_eq!(rate.labels[1].1, "bdev0");
        assert_eq!(rate.value, dehumanize("1.1M").unwrap());
        assert_eq!(family(&out, "node_bcache_written_bytes").samples[0].labels[1].1, "cache0");
        assert!(out.iter().all(|f| f.name != "node_bcache_priority_stats_unused_percent"));
        let config = Config { bcache_priority_stats: true, paths: fixture_paths(), ..Config::default() };
        let out = scrape(build, &config).unwrap();
        let unused = out.iter().find(|f| f.name == "node_bcache_priority_stats_unused_percent").unwrap();
        assert_eq!(unused.samples[0].value, 99.0);
    }

    #[test]
    fn a_garbled_file_fails_and_no_bcache_is_empty() {
        let tree = TempTree::new("bcache");
        let set = "fs/bcache/deaddead-beef-4000-8000-000000000000";
        tree.create_dir(format!("{set}/bdev0"));
        tree.write(format!("{set}/tree_depth"), "1\n");
        let config = sysfs_at(tree.root());
        let err = scrape(build, &config).unwrap_err().to_string();
        assert!(err.contains("bdev0/writeback_rate_debug"), "a vanished file: {err}");
        tree.write(format!("{set}/tree_depth"), "deep\n");
        let err = scrape(build, &config).unwrap_err().to_string();
        assert!(err.contains("malformed") && err.contains("tree_depth"), "{err}");
        drop(tree);
        assert!(scrape(build, &config).unwrap().is_empty());
    }
}
