//! The multiprocess file's format. Each process keeps its metric cells in its own file on tmpfs,
//! and a reader (the daemon, or a worker's `MultiProcessCollector`) aggregates every file.
//!
//! A file (`p-<pid>-<starttime>.shm`) is one sparse mapping of fixed size, made once and never
//! moved, so the cells a Python child points at stay put: an update stays one atomic operation,
//! with no lock and no pid check. The file holds a header, an append-only log of metadata records
//! (families, series, removals) and the cells. A writer appends a record and then publishes the
//! log's length with `Release`; a reader loads it with `Acquire` and parses only what is new since
//! its last pass, so a scrape costs the series, not the history. Each process holds a shared
//! `flock` on its file for life; the kernel drops it when the process dies, even by SIGKILL,
//! which is how the reader tells the dead from the living. A dead process's counters and
//! histograms fold into `retired.shm` (same format, so it persists across reader restarts) and
//! its file is removed: the directory holds as many files as there are live processes.

use crate::metric::{GaugeMode, Kind, Meta};

/// First bytes of every file; a file that doesn't start with them is not ours.
pub const MAGIC: [u8; 8] = *b"OBSAGSHM";
/// Bumped whenever the layout changes; a reader skips files of another version (and a
/// reader of another version skips ours). 2: native-histogram families (kind code 4) and
/// exemplar-slot records.
pub const LAYOUT_VERSION: u64 = 2;
/// Where the metadata log starts.
pub const META_START: usize = 4096;
/// Room for the log: about 300,000 series with short labels.
pub const META_CAPACITY: usize = 64 << 20;
/// Where the cells start.
pub const CELLS_START: usize = META_START + META_CAPACITY;
/// Room for cells: 24 million. The file is sparse: only touched pages take memory.
pub const CELL_CAPACITY: usize = 24 << 20;
/// The size of every file.
pub const FILE_SIZE: usize = CELLS_START + CELL_CAPACITY * 8;
/// Name of the file holding the totals of processes that have exited.
pub const RETIRED_FILE: &str = "retired.shm";

/// The code a kind is stored as, with a gauge's mode; `None` for the kinds a file never holds.
fn kind_code(kind: &Kind) -> Option<(u8, GaugeMode)> {
    match kind {
        Kind::Counter => Some((0, GaugeMode::All)),
        Kind::Gauge { mode } => Some((1, *mode)),
        Kind::Histogram { .. } => Some((2, GaugeMode::All)),
        // Count and sum only: a process' quantiles stay in it (`summary_quantiles`).
        Kind::Summary | Kind::QuantileSummary { .. } => Some((3, GaugeMode::All)),
        Kind::NativeHistogram { .. } => Some((4, GaugeMode::All)),
        Kind::Info | Kind::StateSet { .. } => None,
    }
}

const TAG_FAMILY: u8 = 1;
const TAG_SERIES: u8 = 2;
const TAG_REMOVE: u8 = 3;
const TAG_EXEMPLARS: u8 = 4;

/// One metadata record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A family, numbered within its file.
    Family {
        /// Its number in this file.
        id: u32,
        /// Name, help and unit.
        name: String,
        /// HELP text.
        help: String,
        /// Unit, or empty.
        unit: String,
        /// Type (with bucket bounds, a gauge's mode).
        kind: Kind,
        /// Label names.
        label_names: Vec<String>,
    },
    /// A series of a family, and where its cells are.
    Series {
        /// The family's number.
        family: u32,
        /// Index of its first cell.
        cell: u32,
        /// Label values.
        values: Vec<String>,
    },
    /// The series whose first cell is `cell` is gone (removed, or its cells freed).
    Remove {
        /// Index of its first cell.
        cell: u32,
    },
    /// The series whose first cell is `cell` keeps its exemplars in `slots` slots from `block`
    /// (`metric::exemplar::SLOT_CELLS` cells each), made with its first exemplar.
    Exemplars {
        /// The series' first cell.
        cell: u32,
        /// The block's first cell.
        block: u32,
        /// Slots in the block.
        slots: u32,
    },
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

impl Record {
    /// The record declaring a family as number `id`.
    pub fn family(id: u32, meta: &Meta) -> Record {
        Record::Family {
            id,
            name: meta.name.clone(),
            help: meta.help.clone(),
            unit: meta.unit.clone(),
            kind: meta.kind.clone(),
            label_names: meta.label_names.to_vec(),
        }
    }

    /// The record's bytes: length (u32), tag (u8), three zero bytes, fields; padded to 8.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; 8];
        match self {
            Record::Family { id, name, help, unit, kind, label_names } => {
                out[4] = TAG_FAMILY;
                out.extend_from_slice(&id.to_le_bytes());
                let (code, mode) = kind_code(kind).expect("only shareable kinds are written");
                out.push(code);
                out.push(mode as u8);
                out.extend_from_slice(&(label_names.len() as u16).to_le_bytes());
                let bounds: &[f64] = match kind {
                    Kind::Histogram { bounds } | Kind::NativeHistogram { bounds, .. } => bounds,
                    _ => &[],
                };
                out.extend_from_slice(&(bounds.len() as u32).to_le_bytes());
                for bound in bounds {
                    out.extend_from_slice(&bound.to_le_bytes());
                }
                if let Kind::NativeHistogram { native, .. } = kind {
                    for number in
                        [native.factor, native.zero_threshold, native.min_reset_duration, native.max_zero_threshold]
                    {
                        out.extend_from_slice(&number.to_le_bytes());
                    }
                    out.extend_from_slice(&native.max_buckets.to_le_bytes());
                }
                for text in [name, help, unit].into_iter().chain(label_names) {
                    put_str(&mut out, text);
                }
            }
            Record::Series { family, cell, values } => {
                out[4] = TAG_SERIES;
                out.extend_from_slice(&family.to_le_bytes());
                out.extend_from_slice(&cell.to_le_bytes());
                out.extend_from_slice(&(values.len() as u32).to_le_bytes());
                values.iter().for_each(|value| put_str(&mut out, value));
            }
            Record::Remove { cell } => {
                out[4] = TAG_REMOVE;
                out.extend_from_slice(&cell.to_le_bytes());
            }
            Record::Exemplars { cell, block, slots } => {
                out[4] = TAG_EXEMPLARS;
                for number in [cell, block, slots] {
                    out.extend_from_slice(&number.to_le_bytes());
                }
            }
        }
        let len = out.len() as u32;
        out[..4].copy_from_slice(&len.to_le_bytes());
        out.resize(out.len().next_multiple_of(8), 0);
        out
    }

    /// Decodes the record at the start of `bytes`; returns it and the bytes it took (padded).
    pub fn decode(bytes: &[u8]) -> Result<(Record, usize), String> {
        let mut reader = Fields { bytes, at: 0 };
        let len = reader.u32()? as usize;
        if len < 8 || len > bytes.len() {
            return Err(format!("record length {len} is out of bounds ({} bytes left)", bytes.len()));
        }
        reader.bytes = &bytes[..len];
        let tag = reader.take(4)?[0];
        let record = match tag {
            TAG_FAMILY => {
                let id = reader.u32()?;
                let code = reader.take(1)?[0];
                let mode = reader.take(1)?[0];
                let mode = GaugeMode::from_code(mode).ok_or_else(|| format!("unknown gauge mode {mode}"))?;
                let n_labels = u16::from_le_bytes(reader.take(2)?.try_into().unwrap()) as usize;
                let n_bounds = reader.u32()? as usize;
                let bounds: Vec<f64> = (0..n_bounds)
                    .map(|_| reader.take(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())))
                    .collect::<Result<_, _>>()?;
                let kind = match code {
                    0 => Kind::Counter,
                    1 => Kind::Gauge { mode },
                    2 => Kind::Histogram {
                        bounds: crate::metric::histogram::bounds(&bounds).map_err(|e| e.to_string())?,
                    },
                    3 => Kind::Summary,
                    4 => {
                        let mut number = || reader.take(8).map(|b| f64::from_le_bytes(b.try_into().unwrap()));
                        let (factor, zero, reset, max_zero) = (number()?, number()?, number()?, number()?);
                        let max_buckets = reader.u32()?;
                        let native = crate::metric::native_histogram::Config::new(
                            factor,
                            Some(zero),
                            max_buckets,
                            reset,
                            max_zero,
                        )
                        .map_err(|e| e.to_string())?;
                        let bounds = if bounds.len() == 1 {
                            crate::metric::histogram::inf_only()
                        } else {
                            crate::metric::histogram::bounds(&bounds).map_err(|e| e.to_string())?
                        };
                        Kind::NativeHistogram { bounds, native }
                    }
                    other => return Err(format!("unknown metric type {other}")),
                };
                let (name, help, unit) = (reader.string()?, reader.string()?, reader.string()?);
                let label_names = (0..n_labels).map(|_| reader.string()).collect::<Result<_, _>>()?;
                Record::Family { id, name, help, unit, kind, label_names }
            }
            TAG_SERIES => {
                let family = reader.u32()?;
                let cell = reader.u32()?;
                let n = reader.u32()? as usize;
                let values = (0..n.min(len)).map(|_| reader.string()).collect::<Result<_, _>>()?;
                Record::Series { family, cell, values }
            }
            TAG_REMOVE => Record::Remove { cell: reader.u32()? },
            TAG_EXEMPLARS => Record::Exemplars { cell: reader.u32()?, block: reader.u32()?, slots: reader.u32()? },
            other => return Err(format!("unknown record type {other}")),
        };
        Ok((record, len.next_multiple_of(8)))
    }
}

struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or("record is truncated")?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| "a string is not UTF-8".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_are_aligned() {
        let records = [
            Record::Family {
                id: 3,
                name: "latency".into(),
                help: "Time taken.".into(),
                unit: "seconds".into(),
                kind: Kind::Histogram { bounds: crate::metric::histogram::bounds(&[0.1, 1.0]).unwrap() },
                label_names: vec!["path".into()],
            },
            Record::Family {
                id: 4,
                name: "temp".into(),
                help: String::new(),
                unit: String::new(),
                kind: Kind::Gauge { mode: GaugeMode::LiveMostRecent },
                label_names: vec![],
            },
            Record::Series { family: 3, cell: 17, values: vec!["/a\"\n".into()] },
            Record::Remove { cell: 17 },
            Record::Exemplars { cell: 17, block: 40, slots: 3 },
        ];
        let mut log = Vec::new();
        records.iter().for_each(|r| log.extend(r.encode()));
        let mut at = 0;
        for expected in &records {
            assert_eq!(at % 8, 0);
            let (record, used) = Record::decode(&log[at..]).unwrap();
            assert_eq!(&record, expected);
            at += used;
        }
        assert_eq!(at, log.len());
    }

    #[test]
    fn bad_records_are_errors_not_panics() {
        let good = Record::Series { family: 1, cell: 2, values: vec!["x".into()] }.encode();
        for cut in 0..good.len() {
            let _ = Record::decode(&good[..cut]);
        }
        let mut bad = good.clone();
        bad[4] = 9;
        assert_eq!(Record::decode(&bad).unwrap_err(), "unknown record type 9");
        let mut long = good;
        long[0] = 200;
        assert!(Record::decode(&long).unwrap_err().contains("out of bounds"));
    }
}
