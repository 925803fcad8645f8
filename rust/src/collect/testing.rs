//! What the collector tests share: the recorded fixtures under `tests/fixtures`, [`Config`]s that
//! put another directory in place of one of their trees, a temporary tree a test writes its own
//! files into, running a collector once, and finding a sample in what it returned.
//!
//! A [`TempTree`] is a directory of its own for each test, even when tests run in parallel
//! threads (the process id and a counter name it), and it is removed when dropped, so a test
//! whose assert fails first leaves nothing behind.

use super::{Config, NodeCollector, Paths};
use crate::error::{Error, Result};
use crate::registry::{MetricFamily, Sample};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A collector's `build` function.
pub type Build = fn(&Config) -> Result<Box<dyn NodeCollector>>;

/// Paths of the recorded fixtures under tests/fixtures.
pub fn fixture_paths() -> Paths {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    Paths { procfs: root.join("proc"), sysfs: root.join("sys"), rootfs: root.join("rootfs") }
}

/// The default [`Config`] over the recorded fixtures.
pub fn fixture_config() -> Config {
    Config { paths: fixture_paths(), ..Config::default() }
}

/// The fixtures, with procfs at `procfs` instead.
pub fn procfs_at(procfs: impl Into<PathBuf>) -> Config {
    Config { paths: Paths { procfs: procfs.into(), ..fixture_paths() }, ..Config::default() }
}

/// The fixtures, with sysfs at `sysfs` instead.
pub fn sysfs_at(sysfs: impl Into<PathBuf>) -> Config {
    Config { paths: Paths { sysfs: sysfs.into(), ..fixture_paths() }, ..Config::default() }
}

/// The fixtures, with the root file system at `rootfs` instead.
pub fn rootfs_at(rootfs: impl Into<PathBuf>) -> Config {
    Config { paths: Paths { rootfs: rootfs.into(), ..fixture_paths() }, ..Config::default() }
}

/// Builds a collector from `config` and runs it once: its families, or the error of either step.
pub fn scrape(build: Build, config: &Config) -> Result<Vec<MetricFamily>> {
    let mut out = Vec::new();
    build(config)?.update(&mut out).map(|()| out)
}

/// The error of a collector that builds from `config` (or the test fails) and then fails to run.
pub fn update_error(build: Build, config: &Config) -> Error {
    build(config).unwrap().update(&mut Vec::new()).unwrap_err()
}

/// Writes each case's text to the file `relative` of `tree` in turn, and checks that the collector
/// then fails with an error that contains the case's expected part.
pub fn assert_each_fails(build: Build, config: &Config, tree: &TempTree, relative: &str, cases: &[(&str, &str)]) {
    for (text, expected) in cases {
        tree.write(relative, text);
        let err = scrape(build, config).unwrap_err().to_string();
        assert!(err.contains(expected), "{text:?}: {err}");
    }
}

/// The family named `name` (for counters, without `_total`); the test fails without one.
pub fn family<'a>(out: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
    out.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no family {name}"))
}

/// The value of the sample named `name` whose label values are `label_values`, in order; the
/// test fails without one.
pub fn value(out: &[MetricFamily], name: &str, label_values: &[&str]) -> f64 {
    let mut samples = out.iter().flat_map(|f| &f.samples);
    let found =
        samples.find(|s| s.name == name && s.labels.iter().map(|(_, v)| v.as_ref()).eq(label_values.iter().copied()));
    found.unwrap_or_else(|| panic!("no sample {name} {label_values:?}")).value
}

/// A sample's label pairs, as `&str`s to compare with literals.
pub fn label_pairs(sample: &Sample) -> Vec<(&str, &str)> {
    sample.labels.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect()
}

/// A temporary directory of this test's own, removed (with everything in it) when dropped.
pub struct TempTree {
    root: PathBuf,
}

impl TempTree {
    /// A new, empty directory; `name` (the collector's) says in the temp dir whose it is.
    pub fn new(name: &str) -> TempTree {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("obsagent-{name}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        TempTree { root }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `relative` is in the tree.
    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        let relative = relative.as_ref();
        assert!(relative.is_relative(), "{} is not in the tree", relative.display());
        self.root.join(relative)
    }

    /// Creates the directory `relative`, with its parents.
    pub fn create_dir(&self, relative: impl AsRef<Path>) {
        std::fs::create_dir_all(self.path(relative)).unwrap();
    }

    /// Writes `text` to the file `relative`, creating its parent directories.
    pub fn write(&self, relative: impl AsRef<Path>, text: impl AsRef<[u8]>) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Removes the file, or the directory with everything in it, at `relative`.
    pub fn remove(&self, relative: impl AsRef<Path>) {
        let path = self.path(relative);
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let removed = std::fs::remove_dir_all(&self.root);
        // A test that drops its tree to see the source gone needs it gone (one that removed it
        // itself is done); a test already failing keeps its own message.
        if let Err(err) = removed {
            if err.kind() != std::io::ErrorKind::NotFound && !std::thread::panicking() {
                panic!("removing {}: {err}", self.root.display());
            }
        }
    }
}

mod tests {
    use super::*;

    #[test]
    fn a_tree_is_its_own_and_is_gone_once_dropped_even_by_a_failing_test() {
        let (first, second) = (TempTree::new("testing"), TempTree::new("testing"));
        assert_ne!(first.root(), second.root());
        first.write("a/b/c", "text");
        assert_eq!(std::fs::read_to_string(first.path("a/b/c")).unwrap(), "text");
        first.remove("a/b");
        assert!(first.path("a").is_dir() && !first.path("a/b").exists());
        let root = first.root().to_owned();
        drop(first);
        assert!(!root.exists());
        let root = second.root().to_owned();
        let failed = std::thread::spawn(move || {
            let _tree = second;
            panic!("an assert failing");
        });
        assert!(failed.join().is_err());
        assert!(!root.exists(), "{} leaked", root.display());
    }
}
