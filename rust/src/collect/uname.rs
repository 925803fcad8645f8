//! uname: `node_uname_info{sysname,release,version,machine,nodename,domainname} 1`, read from
//! `<procfs>/sys/kernel/*` (what uname(2) returns, but through `Paths`, so fixtures work) and
//! the architecture this build runs on. Only the host and domain names can change while the
//! kernel runs; the other files are read once.

use super::{read, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use parking_lot::Mutex;
use std::path::PathBuf;

struct Uname {
    kernel: PathBuf,
    /// `(file, text)` of the files that can't change while the kernel runs, read once.
    unchanging: Mutex<Vec<(&'static str, String)>>,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Uname { kernel: config.paths.proc("sys/kernel"), unchanging: Mutex::new(Vec::new()) }))
}

/// The label pairs, in node_exporter's order, from a function reading one kernel file.
pub fn labels(mut kernel_file: impl FnMut(&'static str) -> Result<String>) -> Result<Vec<(Text, Text)>> {
    let mut pairs = Vec::with_capacity(6);
    for (label, file) in [
        ("domainname", "domainname"),
        ("machine", ""),
        ("nodename", "hostname"),
        ("release", "osrelease"),
        ("sysname", "ostype"),
        ("version", "version"),
    ] {
        let value =
            if file.is_empty() { std::env::consts::ARCH.to_owned() } else { kernel_file(file)?.trim_end().to_owned() };
        pairs.push((label.into(), value.into()));
    }
    Ok(pairs)
}

impl NodeCollector for Uname {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let pairs = labels(|file| {
            if matches!(file, "hostname" | "domainname") {
                return read(&self.kernel.join(file));
            }
            let mut unchanging = self.unchanging.lock();
            if let Some((_, text)) = unchanging.iter().find(|(known, _)| *known == file) {
                return Ok(text.clone());
            }
            let text = read(&self.kernel.join(file))?;
            unchanging.push((file, text.clone()));
            Ok(text)
        })?;
        let help = "Labeled system information as provided by the uname system call.";
        let mut family = MetricFamily::new("node_uname_info", help, MetricType::Gauge, "");
        family.push("", pairs, 1.0);
        out.push(family);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, scrape};
    use crate::error::Error;

    #[test]
    fn labels_in_order_with_newlines_trimmed() {
        let pairs = labels(|file| Ok(format!("{file}-value\n"))).unwrap();
        let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_ref()).collect();
        assert_eq!(names, ["domainname", "machine", "nodename", "release", "sysname", "version"]);
        assert_eq!(pairs[2].1, "hostname-value");
        assert_eq!(pairs[1].1, std::env::consts::ARCH);
        assert!(labels(|_| Err(Error::InvalidValue("gone".into()))).is_err());
    }

    #[test]
    fn collects_from_the_fixture() {
        let out = scrape(build, &fixture_config()).unwrap();
        let labels = &out[0].samples[0].labels;
        assert_eq!(labels[2], ("nodename".into(), "fixture-host".into()));
        assert_eq!(labels[4], ("sysname".into(), "Linux".into()));
    }
}
