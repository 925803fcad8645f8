//! vmstat: node_exporter's default selection of `<procfs>/vmstat` fields, those matching
//! `^(oom_kill|pgpg|pswp|pg.*fault).*`, as untyped `node_vmstat_<field>` (no `_total`: that is
//! what node_exporter exports, and what dashboards query). `--collector.vmstat.fields` replaces
//! the selection with a regex (matched as Go's `MatchString`: anywhere unless anchored).

use super::{malformed, read, single, Config, FieldNames, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::PathBuf;

/// Whether node_exporter's default field filter keeps `field`.
pub fn selected(field: &str) -> bool {
    field.starts_with("oom_kill")
        || field.starts_with("pgpg")
        || field.starts_with("pswp")
        || (field.starts_with("pg") && field[2..].contains("fault"))
}

/// The selected `(field, value)` pairs, in file order.
pub fn parse(text: &str) -> Result<Vec<(&str, f64)>> {
    parse_selected(text, &selected)
}

/// The `(field, value)` pairs `keep` selects, in file order; none is an error.
pub fn parse_selected<'a>(text: &'a str, keep: &dyn Fn(&str) -> bool) -> Result<Vec<(&'a str, f64)>> {
    let mut fields = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(field), Some(value)) = (parts.next(), parts.next()) else {
            return Err(malformed("/proc/vmstat line", line));
        };
        if keep(field) {
            fields.push((field, value.parse().map_err(|_| malformed("/proc/vmstat line", line))?));
        }
    }
    if fields.is_empty() {
        return Err(malformed("/proc/vmstat (none of the selected fields)", text));
    }
    Ok(fields)
}

struct Vmstat {
    path: PathBuf,
    names: FieldNames,
    /// `--collector.vmstat.fields`, when not the default.
    fields: Option<regex::Regex>,
}

/// Builds the collector; a bad `--collector.vmstat.fields` is an error naming the flag.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    let fields = super::netdev::compile("--collector.vmstat.fields", config.vmstat_fields.as_deref())?;
    Ok(Box::new(Vmstat { path: config.paths.proc("vmstat"), names: FieldNames::default(), fields }))
}

impl NodeCollector for Vmstat {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let text = read(&self.path)?;
        let fields = match &self.fields {
            Some(regex) => parse_selected(&text, &|field| regex.is_match(field))?,
            None => parse(&text)?,
        };
        for (field, value) in fields {
            let (name, help) = self
                .names
                .get(field, || (format!("node_vmstat_{field}"), format!("/proc/vmstat information field {field}.")));
            out.push(single(name, help, MetricType::Unknown, value));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, fixture_paths, scrape};

    #[test]
    fn keeps_the_default_fields() {
        let text = "nr_free_pages 100\npgpgin 5\npgfault 7\npgmajfault 1\npswpin 0\noom_kill 2\npgfree 9\n";
        assert_eq!(
            parse(text).unwrap(),
            [("pgpgin", 5.0), ("pgfault", 7.0), ("pgmajfault", 1.0), ("pswpin", 0.0), ("oom_kill", 2.0)]
        );
        assert!(parse("pgfault\n").unwrap_err().to_string().contains("vmstat line"));
        assert!(parse("pgfault x\n").is_err());
    }

    #[test]
    fn collects_from_the_fixture() {
        let out = scrape(build, &fixture_config()).unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_ref()).collect();
        for expected in ["node_vmstat_pgfault", "node_vmstat_pgmajfault", "node_vmstat_pgpgin", "node_vmstat_oom_kill"]
        {
            assert!(names.contains(&expected), "{expected} in {names:?}");
        }
        assert!(!names.contains(&"node_vmstat_nr_free_pages"));
        assert!(out.iter().all(|f| f.kind == MetricType::Unknown));
        let chosen = Config {
            vmstat_fields: Some("^nr_(free|dirty)_pages$".into()),
            paths: fixture_paths(),
            ..Config::default()
        };
        let out = scrape(build, &chosen).unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_ref()).collect();
        assert!(names.contains(&"node_vmstat_nr_free_pages") && !names.contains(&"node_vmstat_pgfault"), "{names:?}");
        let bad = Config { vmstat_fields: Some("(".into()), ..Config::default() };
        assert!(build(&bad).err().unwrap().to_string().contains("--collector.vmstat.fields"));
    }
}
