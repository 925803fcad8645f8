//! Multiprocess mode's reading side: every process' file in a directory (written by
//! `region::writer`, in `region::layout`'s format), merged into one set of families per scrape;
//! liveness by each file's lock, and the retired totals of exited processes.
//!
//! What merges how is each kind's business (`metric::Kind::merge`); this module only decides
//! which cells feed which merged series, and when a process has exited.

pub mod reader;

pub use reader::Aggregator;
