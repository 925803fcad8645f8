//! os: `node_os_info{build_id,id,id_like,image_id,image_version,name,pretty_name,variant,
//! variant_id,version,version_codename,version_id}`, `node_os_version{id,id_like,name}` (the
//! leading major.minor of VERSION_ID, when there is one) and
//! `node_os_support_end_timestamp_seconds` (SUPPORT_END, node_exporter 1.8+), from
//! `<rootfs>/etc/os-release`, else `<rootfs>/usr/lib/os-release`. The file is shell-style
//! `KEY=value` lines, values optionally quoted (os-release(5)); it is read at each scrape, as
//! node_exporter does, since an upgrade rewrites it. No file is an error, as node_exporter's
//! "no data" is (success 0).

use super::{malformed, no_data, read, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::MetricFamily;
use std::collections::HashMap;
use std::path::PathBuf;

/// The `KEY=value` pairs of an os-release file; quotes removed, `\` escapes in double quotes
/// resolved, blank and `#` lines skipped.
pub fn parse(text: &str) -> Result<HashMap<String, String>> {
    let mut pairs = HashMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (key, raw) = line.split_once('=').ok_or_else(|| malformed("os-release line", line))?;
        let value = match raw.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let mut value = String::new();
                let mut chars = raw[1..].chars();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' if quote == '"' => value.extend(chars.next()),
                        c if c == quote => {
                            closed = true;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                if !closed {
                    return Err(malformed("os-release line (unterminated quote)", line));
                }
                value
            }
            _ => raw.to_owned(),
        };
        pairs.insert(key.to_owned(), value);
    }
    Ok(pairs)
}

/// The leading `major.minor` of a version (`12`, `22.04`, `9.3` of `9.3.1`), as a number.
fn major_minor(version: &str) -> Option<f64> {
    let digits = version.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let rest = &version[digits..];
    let end = match rest.strip_prefix('.') {
        Some(after) => digits + 1 + after.bytes().take_while(u8::is_ascii_digit).count(),
        None => digits,
    };
    version[..end].trim_end_matches('.').parse().ok()
}

/// Seconds since the epoch at midnight UTC of a `YYYY-MM-DD` date.
fn date_timestamp(date: &str) -> Option<f64> {
    let mut parts = date.splitn(3, '-');
    let (y, m, d): (i64, i64, i64) =
        (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    if date.len() != 10 || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from the civil calendar (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(((era * 146097 + doe - 719468) * 86400) as f64)
}

/// The os families of one os-release file.
pub fn families(release: &HashMap<String, String>) -> Result<Vec<MetricFamily>> {
    let get = |key: &str| release.get(key).cloned().unwrap_or_default();
    let help = "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, \
                name, pretty_name, variant, variant_id, version, version_codename, version_id.";
    let mut info = MetricFamily::new("node_os_info", help, MetricType::Gauge, "");
    let labels = [
        ("build_id", "BUILD_ID"),
        ("id", "ID"),
        ("id_like", "ID_LIKE"),
        ("image_id", "IMAGE_ID"),
        ("image_version", "IMAGE_VERSION"),
        ("name", "NAME"),
        ("pretty_name", "PRETTY_NAME"),
        ("variant", "VARIANT"),
        ("variant_id", "VARIANT_ID"),
        ("version", "VERSION"),
        ("version_codename", "VERSION_CODENAME"),
        ("version_id", "VERSION_ID"),
    ];
    info.push("", labels.iter().map(|(label, key)| ((*label).into(), get(key).into())).collect(), 1.0);
    let mut out = vec![info];
    if let Some(version) = major_minor(&get("VERSION_ID")).filter(|v| *v > 0.0) {
        let help = "Metric containing the major.minor part of the OS version.";
        let mut family = MetricFamily::new("node_os_version", help, MetricType::Gauge, "");
        let labels = vec![
            ("id".into(), get("ID").into()),
            ("id_like".into(), get("ID_LIKE").into()),
            ("name".into(), get("NAME").into()),
        ];
        family.push("", labels, version);
        out.push(family);
    }
    let support_end = get("SUPPORT_END");
    if !support_end.is_empty() {
        let seconds = date_timestamp(&support_end).ok_or_else(|| malformed("os-release SUPPORT_END", &support_end))?;
        let help = "Metric containing the end-of-life date timestamp of the OS.";
        out.push(super::single("node_os_support_end_timestamp_seconds", help, MetricType::Gauge, seconds));
    }
    Ok(out)
}

/// What identifies one version of a file: device, inode, size and modification time (ns).
type Version = (u64, u64, u64, i64, i64);

fn version(meta: &std::fs::Metadata) -> Version {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec())
}

struct Os {
    files: [PathBuf; 2],
    /// The families last made, with the file and version they were made from: node_exporter
    /// reads the file at every scrape, and an unchanged file gives the same families, so one
    /// `stat` stands in for the read and the parse.
    made: parking_lot::Mutex<Option<(usize, Version, Vec<MetricFamily>)>>,
}

/// Builds the collector.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    let root = &config.paths.rootfs;
    let files = [root.join("etc/os-release"), root.join("usr/lib/os-release")];
    Ok(Box::new(Os { files, made: parking_lot::Mutex::new(None) }))
}

impl NodeCollector for Os {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let mut last = None;
        for (at, path) in self.files.iter().enumerate() {
            let seen = std::fs::metadata(path).ok().map(|meta| version(&meta));
            if let (Some(seen), Some((made_at, made_version, made))) = (seen, &*self.made.lock()) {
                if (at, seen) == (*made_at, *made_version) {
                    out.extend(made.iter().cloned());
                    return Ok(());
                }
            }
            match read(path) {
                Ok(text) => {
                    let made = families(&parse(&text)?)?;
                    *self.made.lock() = seen.map(|seen| (at, seen, made.clone()));
                    out.extend(made);
                    return Ok(());
                }
                Err(Error::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => last = Some(err),
                Err(err) => return Err(err),
            }
        }
        let err = last.map(|e| e.to_string()).unwrap_or_default();
        Err(no_data(format!("no os-release file found: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::{label_pairs, rootfs_at, scrape, update_error, TempTree};

    #[test]
    fn reads_the_fixture() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/os-rootfs");
        let out = scrape(build, &rootfs_at(root)).unwrap();
        assert_eq!(out.len(), 2, "Debian 12 has no SUPPORT_END");
        let info = label_pairs(&out[0].samples[0]);
        assert!(info.contains(&("pretty_name", "Debian GNU/Linux 12 (bookworm)")), "{info:?}");
        assert!(info.contains(&("version_codename", "bookworm")) && info.contains(&("variant", "")));
        assert_eq!(label_pairs(&out[1].samples[0]), [("id", "debian"), ("id_like", ""), ("name", "Debian GNU/Linux")]);
        assert_eq!(out[1].samples[0].value, 12.0);
    }

    #[test]
    fn an_unchanged_file_is_not_read_again_and_a_changed_one_is() {
        let tree = TempTree::new("os");
        tree.write("etc/os-release", "NAME=\"One\"\nVERSION_ID=1\n");
        let collector = build(&rootfs_at(tree.root())).unwrap();
        let scrape = || {
            let mut out = Vec::new();
            collector.update(&mut out).unwrap();
            out
        };
        let first = scrape();
        assert_eq!(scrape().len(), first.len());
        assert_eq!(scrape()[1].samples[0].value, 1.0, "the same families from the cache");
        tree.write("etc/os-release.new", "NAME=\"Two\"\nVERSION_ID=2\n");
        std::fs::rename(tree.path("etc/os-release.new"), tree.path("etc/os-release")).unwrap();
        assert_eq!(scrape()[1].samples[0].value, 2.0, "a replaced file is read again");
        tree.write("etc/os-release", "garbage\n");
        assert!(collector.update(&mut Vec::new()).is_err(), "an edited file too");
    }

    #[test]
    fn versions_dates_quotes_and_bad_input() {
        let text = "NAME='Ubuntu'\nVERSION_ID=\"22.04.3\"\n# comment\n\nSUPPORT_END=2027-04-21\nX=\"a \\\"b\\\"\"\n";
        let release = parse(text).unwrap();
        assert_eq!((release["NAME"].as_str(), release["X"].as_str()), ("Ubuntu", "a \"b\""));
        let out = families(&release).unwrap();
        assert_eq!(out[1].samples[0].value, 22.04);
        assert_eq!(out[2].samples[0].value, 1_808_265_600.0, "2027-04-21T00:00:00Z");
        assert_eq!(major_minor("rolling"), None);
        assert!(parse("NAME=\"open\n").unwrap_err().to_string().contains("unterminated"));
        assert!(parse("garbage\n").is_err());
        assert!(families(&parse("SUPPORT_END=soon\n").unwrap()).is_err());
        let err = update_error(build, &rootfs_at("/nonexistent")).to_string();
        assert!(err.contains("no os-release file found"), "{err}");
    }
}
