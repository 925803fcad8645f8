//! Where `/proc`, `/sys` and `/` are: the only way collectors reach the host's files, so that
//! `--path.procfs` and friends (and the fixtures in tests) work for every collector alike.

use std::path::{Path, PathBuf};

/// Roots of the pseudo file systems collectors read.
#[derive(Debug, Clone)]
pub struct Paths {
    /// procfs mount point (`/proc`).
    pub procfs: PathBuf,
    /// sysfs mount point (`/sys`).
    pub sysfs: PathBuf,
    /// Root of the host's file system (`/`), for containers that mount it elsewhere.
    pub rootfs: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths { procfs: "/proc".into(), sysfs: "/sys".into(), rootfs: "/".into() }
    }
}

impl Paths {
    /// A path under procfs.
    pub fn proc(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.procfs.join(relative)
    }

    /// A path under sysfs.
    pub fn sys(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.sysfs.join(relative)
    }
}
