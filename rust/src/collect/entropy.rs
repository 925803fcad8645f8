//! entropy: `node_entropy_available_bits` and `node_entropy_pool_size_bits` from
//! `<procfs>/sys/kernel/random/{entropy_avail,poolsize}`. Both files are required, as in
//! node_exporter: without either the collector fails.

use super::{read_uint, single, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::PathBuf;

struct Entropy {
    dir: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Entropy { dir: config.paths.proc("sys/kernel/random") }))
}

impl NodeCollector for Entropy {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let available = read_uint(&self.dir.join("entropy_avail"))?;
        let pool = read_uint(&self.dir.join("poolsize"))?;
        out.push(single("node_entropy_available_bits", "Bits of available entropy.", MetricType::Gauge, available));
        out.push(single("node_entropy_pool_size_bits", "Bits of entropy pool.", MetricType::Gauge, pool));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, fixture_paths, procfs_at, scrape, TempTree};

    #[test]
    fn reads_the_fixture() {
        let out = scrape(build, &fixture_config()).unwrap();
        let dir = fixture_paths().proc("sys/kernel/random");
        let file = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap().trim().parse::<f64>().unwrap();
        assert_eq!(out[0].name, "node_entropy_available_bits");
        assert_eq!(out[0].samples[0].value, file("entropy_avail"));
        assert_eq!(out[1].samples[0].value, file("poolsize"));
    }

    #[test]
    fn a_garbled_or_missing_file_is_an_error() {
        let tree = TempTree::new("entropy");
        let random = "sys/kernel/random";
        tree.write(format!("{random}/entropy_avail"), "256\n");
        let collector = build(&procfs_at(tree.root())).unwrap();
        let err = collector.update(&mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("poolsize"), "{err}");
        tree.write(format!("{random}/poolsize"), "a lot\n");
        let err = collector.update(&mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("malformed") && err.contains("poolsize"), "{err}");
    }
}
