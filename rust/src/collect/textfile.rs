//! textfile: the metrics in `*.prom` files of `--collector.textfile.directory` (written by cron
//! jobs and the like), with `node_textfile_mtime_seconds{file}` per file read and
//! `node_textfile_scrape_error`.
//!
//! As in node_exporter, a file that can't be used (a syntax error, a client-side timestamp, a
//! family whose type or help disagrees with another file's) is skipped as a whole, logged, and
//! makes `node_textfile_scrape_error` 1; the other files are still served and the collector
//! itself succeeds, so alerts on `node_textfile_scrape_error` keep working as they do.

use super::{Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Sample};
use std::path::{Path, PathBuf};

/// Parses a file in the Prometheus text format 0.0.4 into families in order of appearance.
/// A counter declared as `x_total` becomes family `x` with samples `x_total`, the form the
/// encoders write back as `# TYPE x_total counter`.
pub fn parse(text: &str) -> Result<Vec<MetricFamily>> {
    let mut families: Vec<(String, MetricFamily, bool)> = Vec::new(); // (declared name, family, typed)
    for (number, line) in text.lines().enumerate() {
        let bad = |what: &str| Error::InvalidValue(format!("line {}: {what}: {line:?}", number + 1));
        let line = line.trim_end();
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, ' ');
            let (keyword, name, rest) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
            let (Some(keyword @ ("HELP" | "TYPE")), Some(name)) = (keyword, name) else { continue };
            check_name(name).map_err(|_| bad("invalid metric name"))?;
            let index = family_for(&mut families, name);
            let family = &mut families[index];
            if keyword == "HELP" {
                family.1.help = crate::escape::unescape_help(rest).into();
            } else {
                let kind = match rest.trim() {
                    "counter" => MetricType::Counter,
                    "gauge" => MetricType::Gauge,
                    "histogram" => MetricType::Histogram,
                    "summary" => MetricType::Summary,
                    "untyped" => MetricType::Unknown,
                    _ => return Err(bad("unknown metric type")),
                };
                if family.2 || !family.1.samples.is_empty() {
                    return Err(bad("TYPE given twice or after the metric's samples"));
                }
                family.1.kind = kind;
                family.2 = true;
                if kind == MetricType::Counter {
                    if let Some(base) = name.strip_suffix("_total") {
                        family.1.name = base.to_owned().into();
                    }
                }
            }
            continue;
        }
        let sample = parse_sample(line).map_err(|what| bad(&what))?;
        let index = owner(&families, &sample.name).unwrap_or_else(|| family_for(&mut families, &sample.name));
        families[index].1.samples.push(sample);
    }
    Ok(families.into_iter().filter(|(_, f, _)| !f.samples.is_empty()).map(|(_, f, _)| f).collect())
}

/// The family a sample name belongs to: its own, or a histogram's/summary's by suffix.
fn owner(families: &[(String, MetricFamily, bool)], sample: &str) -> Option<usize> {
    families.iter().position(|(declared, _, _)| declared == sample).or_else(|| {
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = sample.strip_suffix(suffix)?;
            families.iter().position(|(declared, f, _)| {
                declared == base
                    && (f.kind == MetricType::Histogram || (f.kind == MetricType::Summary && *suffix != "_bucket"))
            })
        })
    })
}

fn family_for(families: &mut Vec<(String, MetricFamily, bool)>, name: &str) -> usize {
    families.iter().position(|(declared, _, _)| declared == name).unwrap_or_else(|| {
        families.push((name.to_owned(), MetricFamily::new(name.to_owned(), "", MetricType::Unknown, ""), false));
        families.len() - 1
    })
}

fn check_name(name: &str) -> std::result::Result<(), ()> {
    crate::key::validate_metric_name(name).map_err(|_| ())
}

/// `name{a="x",...} value`; a timestamp is refused as node_exporter refuses it.
fn parse_sample(line: &str) -> std::result::Result<Sample, String> {
    let name_end = line.find(|c: char| c == '{' || c.is_ascii_whitespace()).unwrap_or(line.len());
    let name = &line[..name_end];
    check_name(name).map_err(|_| "invalid metric name".to_owned())?;
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or("label without '='")?;
            let label = rest[..eq].trim();
            crate::key::validate_label_name(label).map_err(|_| format!("invalid label name {label:?}"))?;
            rest = rest[eq + 1..].trim_start().strip_prefix('"').ok_or("label value without quotes")?;
            let (value, taken) = crate::escape::read_label_value(rest)?;
            labels.push((label.to_owned().into(), value.into()));
            rest = rest[taken..].trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    let mut fields = rest.split_ascii_whitespace();
    let value = fields.next().ok_or("missing value")?;
    let value = parse_float(value).ok_or_else(|| format!("invalid value {value:?}"))?;
    if fields.next().is_some() {
        return Err("textfile contains unsupported client-side timestamps".into());
    }
    Ok(Sample { name: name.to_owned().into(), labels, value, timestamp: None })
}

/// Go's ParseFloat spellings: decimal and exponent forms, `NaN`, `+Inf`, `-Inf`.
fn parse_float(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ if text.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) => text.parse().ok(),
        _ => None,
    }
}

struct Textfile {
    directory: Option<PathBuf>,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Textfile { directory: config.textfile_directory.clone() }))
}

fn read_file(path: &Path) -> Result<(Vec<MetricFamily>, f64)> {
    let text = std::fs::read_to_string(path)?;
    let mtime = std::fs::metadata(path)?.modified()?.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Ok((parse(&text)?, mtime.as_secs_f64()))
}

impl NodeCollector for Textfile {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let mut merged: Vec<MetricFamily> = Vec::new();
        let help = "Unixtime mtime of textfiles successfully read.";
        let mut mtimes = MetricFamily::new("node_textfile_mtime_seconds", help, MetricType::Gauge, "");
        let mut failed = false;
        let mut files: Vec<PathBuf> = match &self.directory {
            Some(directory) => match std::fs::read_dir(directory) {
                Ok(entries) => entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "prom"))
                    .collect(),
                Err(err) => {
                    let error = format!("{}: {err}", directory.display());
                    crate::log::error(
                        "cannot read the textfile directory",
                        &[("collector", "textfile"), ("error", &error)],
                    );
                    failed = true;
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        files.sort();
        for path in files {
            let result = read_file(&path).and_then(|(families, mtime)| {
                for family in &families {
                    if let Some(known) = merged.iter().find(|m| m.name == family.name) {
                        if known.kind != family.kind || known.help != family.help {
                            return Err(Error::InvalidValue(format!(
                                "{} conflicts with its type or help in another file",
                                family.name
                            )));
                        }
                    }
                }
                Ok((families, mtime))
            });
            match result {
                Ok((families, mtime)) => {
                    for family in families {
                        match merged.iter_mut().find(|m| m.name == family.name) {
                            Some(known) => known.samples.extend(family.samples),
                            None => merged.push(family),
                        }
                    }
                    mtimes.push("", vec![("file".into(), path.display().to_string().into())], mtime);
                }
                Err(err) => {
                    crate::log::error(
                        "skipping textfile",
                        &[("collector", "textfile"), ("error", &format!("{}: {err}", path.display()))],
                    );
                    failed = true;
                }
            }
        }
        out.extend(merged);
        if !mtimes.samples.is_empty() {
            out.push(mtimes);
        }
        let help = "1 if there was an error opening or reading a file, 0 otherwise";
        out.push(super::single("node_textfile_scrape_error", help, MetricType::Gauge, if failed { 1.0 } else { 0.0 }));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{fixture_paths, scrape};

    #[test]
    fn parses_types_labels_escapes_and_specials() {
        let text = "# HELP jobs_total Jobs\\ndone.\n# TYPE jobs_total counter\njobs_total{q=\"a\\\"b\\\\c\\nd\",} 3\n\
                    # TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_sum 4.5\nh_count 3\n\
                    loose -Inf\nnan_one NaN\n";
        let families = parse(text).unwrap();
        let summary: Vec<(&str, &str, usize)> =
            families.iter().map(|f| (f.name.as_ref(), f.kind.name(), f.samples.len())).collect();
        assert_eq!(
            summary,
            [("jobs", "counter", 1), ("h", "histogram", 4), ("loose", "unknown", 1), ("nan_one", "unknown", 1)]
        );
        assert_eq!(families[0].help, "Jobs\ndone.");
        assert_eq!(families[0].samples[0].labels, vec![("q".into(), "a\"b\\c\nd".into())]);
        assert_eq!(families[2].samples[0].value, f64::NEG_INFINITY);
        assert!(families[3].samples[0].value.is_nan());
    }

    #[test]
    fn refuses_bad_input_with_the_line() {
        for (text, message) in [
            ("x{a=\"1} 2\n", "unterminated label value"),
            ("x 1 1700000000\n", "client-side timestamps"),
            ("x{a=\"\\q\"} 1\n", "invalid escape"),
            ("x\n", "missing value"),
            ("x one\n", "invalid value"),
            ("# TYPE x gauge\n# TYPE x counter\nx 1\n", "TYPE given twice"),
            ("# TYPE x strange\n", "unknown metric type"),
            ("9x 1\n", "invalid metric name"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(message) && err.contains("line "), "{text:?}: {err}");
        }
    }

    #[test]
    fn round_trips_through_the_text_encoder() {
        let text =
            "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 5.0\n# HELP g G.\n# TYPE g gauge\ng 2.5\n";
        let mut out = Vec::new();
        for family in parse(text).unwrap() {
            crate::encode::text::write_snapshot(&mut out, &family);
        }
        assert_eq!(String::from_utf8(out).unwrap(), text);
    }

    #[test]
    fn collects_good_files_and_flags_bad_ones() {
        let config = Config {
            paths: fixture_paths(),
            textfile_directory: Some(fixture_paths().procfs.parent().unwrap().join("textfile")),
            ..Config::default()
        };
        let out = scrape(build, &config).unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "backup_last_success_timestamp_seconds",
                "backup_runs",
                "backup_duration_seconds",
                "untyped_thing",
                "node_textfile_mtime_seconds",
                "node_textfile_scrape_error"
            ]
        );
        assert!(!names.contains(&"broken"));
        let mtime = &out[4].samples;
        assert_eq!(mtime.len(), 1);
        assert!(mtime[0].labels[0].1.ends_with("textfile/good.prom"));
        assert_eq!(out[5].samples[0].value, 1.0);
        let none = build(&Config::default()).unwrap();
        let mut out = Vec::new();
        none.update(&mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].samples[0].value, 0.0);
    }
}
