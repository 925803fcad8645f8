//! Collectors of facts outside the process's own metrics, one per file, each reading only
//! through [`Paths`] so tests can point them at recorded fixtures.

pub mod paths;
pub mod process;

pub use paths::Paths;
