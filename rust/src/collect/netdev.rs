//! netdev: not written yet (placeholder while the collector is written; never shipped enabled).

use super::{Config, NodeCollector};
use crate::error::{Error, Result};

/// Builds the collector.
pub fn build(_: &Config) -> Result<Box<dyn NodeCollector>> {
    Err(Error::InvalidValue("collector netdev is not written yet".into()))
}
