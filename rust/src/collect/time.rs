//! time: `node_time_seconds`, `node_time_zone_offset_seconds{time_zone}` (the local zone, from
//! the C library), and the clock sources in `<sysfs>/devices/system/clocksource/clocksource0`.

use super::{read, single, Config, NodeCollector};
use crate::error::Result;
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::path::PathBuf;

struct Time {
    clocksource: PathBuf,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Time { clocksource: config.paths.sys("devices/system/clocksource/clocksource0") }))
}

/// The local time zone's abbreviation and offset from UTC in seconds, now.
fn zone(now: libc::time_t) -> (String, f64) {
    // SAFETY: localtime_r fills the struct we own; tm_zone points to static storage of libc.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() || tm.tm_zone.is_null() {
            return ("UTC".to_owned(), 0.0);
        }
        (std::ffi::CStr::from_ptr(tm.tm_zone).to_string_lossy().into_owned(), tm.tm_gmtoff as f64)
    }
}

/// `available_clocksource` holds names separated by spaces.
pub fn parse_sources(text: &str) -> Vec<&str> {
    text.split_ascii_whitespace().collect()
}

impl NodeCollector for Time {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        out.push(single(
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
            MetricType::Gauge,
            now.as_secs_f64(),
        ));
        let (name, offset) = zone(now.as_secs() as libc::time_t);
        let help = "System time zone offset in seconds.";
        let mut family = MetricFamily::new("node_time_zone_offset_seconds", help, MetricType::Gauge, "");
        family.push("", vec![("time_zone".into(), name.into())], offset);
        out.push(family);
        if !self.clocksource.is_dir() {
            return Ok(());
        }
        for (file, metric) in [("available_clocksource", "available"), ("current_clocksource", "current")] {
            let text = read(&self.clocksource.join(file))?;
            let name = format!("node_time_clocksource_{metric}_info");
            let help = format!(
                "{} clocksource{} read from '/sys/devices/system/clocksource'.",
                if metric == "available" { "Available" } else { "Current" },
                if metric == "available" { "s" } else { "" }
            );
            let mut family = MetricFamily::new(name, help, MetricType::Gauge, "");
            for source in parse_sources(&text) {
                family.push(
                    "",
                    vec![("clocksource".into(), source.to_owned().into()), ("device".into(), "0".into())],
                    1.0,
                );
            }
            out.push(family);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_config, fixture_paths, scrape};

    #[test]
    fn clock_sources_and_zone() {
        assert_eq!(parse_sources("kvm-clock tsc acpi_pm \n"), ["kvm-clock", "tsc", "acpi_pm"]);
        let (name, offset) = zone(0);
        assert!(!name.is_empty());
        assert!(offset.abs() <= 14.0 * 3600.0);
    }

    #[test]
    fn collects_from_the_fixture() {
        let out = scrape(build, &fixture_config()).unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "node_time_seconds",
                "node_time_zone_offset_seconds",
                "node_time_clocksource_available_info",
                "node_time_clocksource_current_info"
            ]
        );
        let now = crate::clock::now();
        assert!((out[0].samples[0].value - now).abs() < 5.0);
        let current =
            std::fs::read_to_string(fixture_paths().sys("devices/system/clocksource/clocksource0/current_clocksource"))
                .unwrap();
        assert_eq!(out[3].samples[0].labels[0].1, current.trim());
        assert_eq!(out[3].help, "Current clocksource read from '/sys/devices/system/clocksource'.");
    }
}
