//! The remote-write disk queue: request bodies appended to segment files in a directory, so that
//! what the receiver has not taken yet survives a restart, a crash or a SIGKILL of the process.
//!
//! # Layout (version 1)
//!
//! The directory holds a `lock` file (an exclusive `flock`, our pid inside, so two processes
//! never share one queue) and segments named `<20-digit sequence number>.seg`, replayed in
//! number order. A segment starts with a 16-byte header: the magic `OBSRWQ\r\n`, the layout
//! version (u32 little endian) and 4 reserved zero bytes. Records follow, each:
//!
//! ```text
//! u32 length of what follows the checksum   u32 CRC-32 of it
//! u32 samples   u16 lane   u16 lanes        body (a snappy-compressed WriteRequest)
//! ```
//!
//! `lane` of `lanes` is the shard partition the batch's series were hashed into when it was
//! encoded (see the sender): replay keeps it, so per-series order holds across a restart too.
//! A record holds a finished request body, so what its samples carry (floats, or native
//! histograms as `Histogram` messages) is no part of the layout.
//!
//! # Why a crash loses nothing and never loops
//!
//! A batch is offered to the senders only once its record is written (and, under the default
//! policy, fsynced), so whatever a receiver may have got is on disk. Records are only appended;
//! a segment is deleted only once every record in it was delivered (or refused), so a crash
//! at any point leaves each undelivered batch in a complete record, or in the one record that
//! was being written, which then fails its length or checksum: replay stops reading that
//! segment there, says so in one log line, and goes on; the next start writes to a new segment,
//! never after a torn record. Delivered records of a segment not yet deleted are sent again
//! after a crash: delivery is at least once, as with Prometheus' WAL. A segment whose header
//! names another version is left untouched for the version that wrote it, and refused with an
//! error naming it. The bound in bytes drops whole segments, oldest first, never the one being
//! written; the caller counts their samples as dropped.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The first bytes of every segment.
pub const MAGIC: &[u8; 8] = b"OBSRWQ\r\n";
/// The layout this build writes and reads.
pub const VERSION: u32 = 1;
const HEADER_LEN: u64 = 16;
/// Length and checksum.
const RECORD_PREFIX: usize = 8;
/// Samples, lane, lanes.
const RECORD_META: usize = 8;
/// A length beyond this is a torn or corrupt record, not a batch.
const MAX_RECORD: u32 = 256 << 20;

/// When appended records are fsynced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fsync {
    /// After each scrape's batches, before they are offered to the senders.
    Batch,
    /// At most once per this interval (a power loss may cost that much; a crash of the process
    /// costs nothing, the kernel has the bytes).
    Every(Duration),
}

/// What a record says besides its body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Meta {
    /// Samples in the batch.
    pub samples: u32,
    /// The shard partition of its series, of `lanes`.
    pub lane: u16,
    /// How many partitions its scrape was split into.
    pub lanes: u16,
}

/// Where a record's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// The segment's number.
    pub segment: u64,
    /// The body's first byte in the file.
    pub offset: u64,
    /// The body's length.
    pub len: u32,
}

/// A record found at start, to be sent again.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// Where it is.
    pub location: Location,
    /// What it carries.
    pub meta: Meta,
}

/// What one [`DiskQueue::append`] did.
#[derive(Debug)]
pub struct Appended {
    /// Where each body written is, in order.
    pub locations: Vec<Location>,
    /// `(segment, samples pending in it)` of each segment dropped for room.
    pub dropped: Vec<(u64, u64)>,
    /// What stopped it before the last batch, if anything.
    pub error: Option<io::Error>,
}

/// What opening a directory found, besides the records: the lines to log.
#[derive(Debug, Default)]
pub struct Findings {
    /// Records to send, oldest first.
    pub records: Vec<Replayed>,
    /// `(file, offset)` of each torn or corrupt record skipped (one per segment at most).
    pub torn: Vec<(PathBuf, u64)>,
    /// Files refused, with why (another layout version, not a segment).
    pub refused: Vec<(PathBuf, String)>,
}

struct Segment {
    file: File,
    bytes: u64,
    /// Records not delivered yet, and their samples.
    pending_records: u64,
    pending_samples: u64,
}

/// An open queue directory, locked for this process.
pub struct DiskQueue {
    dir: PathBuf,
    _lock: File,
    segments: BTreeMap<u64, Segment>,
    /// The segment appended to, if any yet.
    active: Option<u64>,
    next_number: u64,
    max_bytes: u64,
    segment_bytes: u64,
    fsync: Fsync,
    last_sync: Instant,
    unsynced: bool,
    bytes: u64,
    /// Bytes appended since it was opened (headers too).
    written: u64,
}

/// Why a directory cannot be used (the caller queues in memory instead).
#[derive(Debug)]
pub enum OpenError {
    /// Another process holds the lock.
    Locked {
        /// The directory.
        dir: PathBuf,
        /// The pid written in its lock file.
        holder: String,
    },
    /// The directory cannot be created, read or written.
    Io {
        /// The directory.
        dir: PathBuf,
        /// What failed.
        error: io::Error,
    },
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Locked { dir, holder } => {
                write!(f, "queue directory {} is in use by another process (pid {holder})", dir.display())
            }
            OpenError::Io { dir, error } => write!(f, "queue directory {} cannot be used: {error}", dir.display()),
        }
    }
}

fn segment_name(number: u64) -> String {
    format!("{number:020}.seg")
}

fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = flate2::Crc::new();
    for part in parts {
        crc.update(part);
    }
    crc.sum()
}

impl DiskQueue {
    /// Locks `dir` (made if missing) and reads what it holds; at most `max_bytes` on disk.
    pub fn open(dir: &Path, max_bytes: u64, fsync: Fsync) -> Result<(DiskQueue, Findings), OpenError> {
        let io_error = |error| OpenError::Io { dir: dir.to_owned(), error };
        fs::create_dir_all(dir).map_err(io_error)?;
        let lock = lock(dir)?;
        let mut names: Vec<(u64, PathBuf)> = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_error)? {
            let path = entry.map_err(io_error)?.path();
            let number = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(number) = number {
                names.push((number, path));
            }
        }
        names.sort();
        let mut findings = Findings::default();
        let mut segments = BTreeMap::new();
        let mut bytes = 0;
        let next_number = names.last().map_or(0, |(n, _)| n + 1);
        for (number, path) in names {
            match read_segment(&path, number, &mut findings).map_err(io_error)? {
                Some(segment) => {
                    bytes += segment.bytes;
                    segments.insert(number, segment);
                }
                None => continue,
            }
        }
        // Segments with nothing left to send (a torn one with no whole record) go now.
        segments.retain(|number, segment| {
            let keep = segment.pending_records > 0;
            if !keep {
                bytes -= segment.bytes;
                let _ = fs::remove_file(dir.join(segment_name(*number)));
            }
            keep
        });
        let queue = DiskQueue {
            dir: dir.to_owned(),
            _lock: lock,
            segments,
            active: None,
            next_number,
            max_bytes,
            segment_bytes: (max_bytes / 16).clamp(64 << 10, 64 << 20),
            fsync,
            last_sync: Instant::now(),
            unsynced: false,
            bytes,
            written: 0,
        };
        Ok((queue, findings))
    }

    /// Appends one record per batch, in order, until one fails: where each appended body is,
    /// the segments dropped for room (with the samples still pending in them), and the error
    /// that stopped it, if one did (the batches from there on are not on disk).
    pub fn append(&mut self, batches: &[(Meta, &[u8])]) -> Appended {
        let mut appended = Appended { locations: Vec::with_capacity(batches.len()), dropped: Vec::new(), error: None };
        let mut record = Vec::new();
        for (meta, body) in batches {
            let (number, start) = match self.writable(body.len() as u64) {
                Ok(place) => place,
                Err(err) => {
                    appended.error = Some(err);
                    break;
                }
            };
            record.clear();
            let length = (RECORD_META + body.len()) as u32;
            let mut fields = [0u8; RECORD_META];
            fields[..4].copy_from_slice(&meta.samples.to_le_bytes());
            fields[4..6].copy_from_slice(&meta.lane.to_le_bytes());
            fields[6..].copy_from_slice(&meta.lanes.to_le_bytes());
            record.extend_from_slice(&length.to_le_bytes());
            record.extend_from_slice(&crc32(&[&fields, body]).to_le_bytes());
            record.extend_from_slice(&fields);
            record.extend_from_slice(body);
            let segment = self.segments.get_mut(&number).expect("the active segment");
            if let Err(err) = segment.file.write_all_at(&record, start) {
                // Cut what was written, or leave the segment for a new one: never append after
                // a torn record.
                if segment.file.set_len(start).is_err() {
                    self.active = None;
                }
                appended.error = Some(err);
                break;
            }
            segment.bytes += record.len() as u64;
            segment.pending_records += 1;
            segment.pending_samples += u64::from(meta.samples);
            self.bytes += record.len() as u64;
            self.written += record.len() as u64;
            self.unsynced = true;
            let offset = start + (RECORD_PREFIX + RECORD_META) as u64;
            appended.locations.push(Location { segment: number, offset, len: body.len() as u32 });
        }
        if let Err(err) = self.sync(false) {
            appended.error.get_or_insert(err);
        }
        appended.dropped = self.enforce_bound();
        appended
    }

    /// The active segment, with room for a body of `len` (a new one if it is full); and where
    /// the next record goes.
    fn writable(&mut self, len: u64) -> io::Result<(u64, u64)> {
        if let Some(number) = self.active {
            let (bytes, pending) = self.segments.get(&number).map_or((0, 0), |s| (s.bytes, s.pending_records));
            if bytes == HEADER_LEN || bytes + len <= self.segment_bytes {
                return Ok((number, bytes));
            }
            self.sync(true)?;
            self.active = None;
            if pending == 0 {
                self.remove(number);
            }
        }
        let number = self.next_number;
        let path = self.dir.join(segment_name(number));
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
        let mut header = [0u8; HEADER_LEN as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&VERSION.to_le_bytes());
        if let Err(err) = file.write_all_at(&header, 0) {
            let _ = fs::remove_file(&path);
            return Err(err);
        }
        self.next_number += 1;
        if self.fsync == Fsync::Batch {
            // The new name must survive a power loss too.
            File::open(&self.dir).and_then(|d| d.sync_all())?;
        }
        let segment = Segment { file, bytes: HEADER_LEN, pending_records: 0, pending_samples: 0 };
        self.bytes += HEADER_LEN;
        self.written += HEADER_LEN;
        self.segments.insert(number, segment);
        self.active = Some(number);
        Ok((number, HEADER_LEN))
    }

    /// Fsyncs the active segment if the policy says it is time (`now`: whatever the policy).
    pub fn sync(&mut self, now: bool) -> io::Result<()> {
        let due = match self.fsync {
            Fsync::Batch => true,
            Fsync::Every(interval) => now || self.last_sync.elapsed() >= interval,
        };
        if self.unsynced && due {
            if let Some(segment) = self.active.and_then(|n| self.segments.get(&n)) {
                segment.file.sync_data()?;
            }
            self.unsynced = false;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Drops the oldest segments (never the active one) while over the bound.
    fn enforce_bound(&mut self) -> Vec<(u64, u64)> {
        let mut dropped = Vec::new();
        while self.bytes > self.max_bytes {
            let Some((&oldest, segment)) = self.segments.iter().next() else { break };
            if Some(oldest) == self.active {
                break;
            }
            dropped.push((oldest, segment.pending_samples));
            self.remove(oldest);
        }
        dropped
    }

    fn remove(&mut self, number: u64) {
        if let Some(segment) = self.segments.remove(&number) {
            self.bytes -= segment.bytes;
            let _ = fs::remove_file(self.dir.join(segment_name(number)));
        }
    }

    /// A record's body; `NotFound` if its segment was dropped for room meanwhile.
    pub fn read(&self, location: Location) -> io::Result<Vec<u8>> {
        let segment = self.segments.get(&location.segment).ok_or(io::ErrorKind::NotFound)?;
        let mut body = vec![0; location.len as usize];
        segment.file.read_exact_at(&mut body, location.offset)?;
        Ok(body)
    }

    /// The record at `location` (carrying `samples`) was delivered or refused: its segment is
    /// deleted once nothing in it is pending, the one being written too (the next batch starts
    /// a new one), so a restart sends again only what was pending at the crash.
    pub fn delivered(&mut self, location: Location, samples: u32) {
        let Some(segment) = self.segments.get_mut(&location.segment) else { return };
        segment.pending_records = segment.pending_records.saturating_sub(1);
        segment.pending_samples = segment.pending_samples.saturating_sub(u64::from(samples));
        if segment.pending_records == 0 {
            if self.active == Some(location.segment) {
                self.active = None;
                self.unsynced = false; // nothing in it is needed any more
            }
            self.remove(location.segment);
        }
    }

    /// Closes: the active segment is fsynced, and deleted if nothing in it is pending.
    pub fn close(&mut self) {
        let _ = self.sync(true);
        if let Some(number) = self.active.take() {
            if self.segments.get(&number).is_some_and(|s| s.pending_records == 0) {
                self.remove(number);
            }
        }
    }

    /// Bytes of the segment files.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes appended since it was opened.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Samples in records not delivered yet.
    pub fn pending_samples(&self) -> u64 {
        self.segments.values().map(|s| s.pending_samples).sum()
    }

    /// Segment files.
    pub fn segments(&self) -> usize {
        self.segments.len()
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Takes the directory's lock, or says who has it.
fn lock(dir: &Path) -> Result<File, OpenError> {
    let path = dir.join("lock");
    let io_error = |error| OpenError::Io { dir: dir.to_owned(), error };
    let mut file =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io_error)?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::WouldBlock {
            return Err(io_error(error));
        }
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        return Err(OpenError::Locked {
            dir: dir.to_owned(),
            holder: if holder.is_empty() { "unknown".into() } else { holder.into() },
        });
    }
    file.set_len(0).and_then(|()| file.write_all_at(std::process::id().to_string().as_bytes(), 0)).map_err(io_error)?;
    Ok(file)
}

/// Reads one segment's records into `findings`; `None` for a file refused or deleted.
fn read_segment(path: &Path, number: u64, findings: &mut Findings) -> io::Result<Option<Segment>> {
    let file = OpenOptions::new().read(true).open(path)?;
    let length = file.metadata()?.len();
    let mut header = [0u8; HEADER_LEN as usize];
    if length < HEADER_LEN {
        // Made by a crash before its header was written: nothing in it.
        findings.torn.push((path.to_owned(), 0));
        fs::remove_file(path)?;
        return Ok(None);
    }
    file.read_exact_at(&mut header, 0)?;
    if &header[..8] != MAGIC {
        findings.refused.push((path.to_owned(), "not an obsagent remote write queue segment".into()));
        return Ok(None);
    }
    let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        let why = format!("written in queue layout version {version}; this obsagent reads version {VERSION}");
        findings.refused.push((path.to_owned(), why));
        return Ok(None);
    }
    let mut contents = Vec::with_capacity(length as usize);
    (&file).read_to_end(&mut contents)?;
    let mut at = HEADER_LEN as usize;
    let mut segment = Segment { file, bytes: length, pending_records: 0, pending_samples: 0 };
    while at < contents.len() {
        let whole = parse_record(&contents[at..]);
        let Some((meta, body_len)) = whole else {
            findings.torn.push((path.to_owned(), at as u64));
            break;
        };
        let offset = (at + RECORD_PREFIX + RECORD_META) as u64;
        findings.records.push(Replayed { location: Location { segment: number, offset, len: body_len }, meta });
        segment.pending_records += 1;
        segment.pending_samples += u64::from(meta.samples);
        at += RECORD_PREFIX + RECORD_META + body_len as usize;
    }
    Ok(Some(segment))
}

/// A whole record's meta and body length, or `None` if it is cut short or fails its checksum.
fn parse_record(bytes: &[u8]) -> Option<(Meta, u32)> {
    let length = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    let checksum = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    if !(RECORD_META as u32..=MAX_RECORD).contains(&length) {
        return None;
    }
    let payload = bytes.get(RECORD_PREFIX..RECORD_PREFIX + length as usize)?;
    if crc32(&[payload]) != checksum {
        return None;
    }
    let meta = Meta {
        samples: u32::from_le_bytes(payload[..4].try_into().ok()?),
        lane: u16::from_le_bytes(payload[4..6].try_into().ok()?),
        lanes: u16::from_le_bytes(payload[6..8].try_into().ok()?),
    };
    Some((meta, length - RECORD_META as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("obsagent-diskq-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn meta(samples: u32) -> Meta {
        Meta { samples, lane: 0, lanes: 1 }
    }

    fn bodies(queue: &DiskQueue, findings: &Findings) -> Vec<Vec<u8>> {
        findings.records.iter().map(|r| queue.read(r.location).unwrap()).collect()
    }

    #[test]
    fn records_come_back_in_order_after_a_reopen_and_delivered_segments_go() {
        let dir = temp_dir("order");
        let (mut queue, findings) = DiskQueue::open(&dir, 1 << 30, Fsync::Batch).unwrap();
        assert!(findings.records.is_empty());
        let first = queue.append(&[(meta(3), b"one"), (meta(2), b"two")]);
        assert!(first.dropped.is_empty() && first.error.is_none());
        queue.append(&[(Meta { samples: 1, lane: 1, lanes: 2 }, b"three")]);
        assert_eq!(queue.read(first.locations[1]).unwrap(), b"two");
        assert_eq!(queue.pending_samples(), 6);
        drop(queue);
        let (mut queue, findings) = DiskQueue::open(&dir, 1 << 30, Fsync::Batch).unwrap();
        assert_eq!(bodies(&queue, &findings), [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
        assert_eq!(findings.records[2].meta, Meta { samples: 1, lane: 1, lanes: 2 });
        assert!(findings.torn.is_empty() && findings.refused.is_empty());
        for record in &findings.records {
            queue.delivered(record.location, record.meta.samples);
        }
        assert_eq!((queue.segments(), queue.pending_samples()), (0, 0), "the old segment is deleted");
        let delivered = queue.append(&[(meta(1), b"delivered")]).locations[0];
        queue.delivered(delivered, 1);
        assert_eq!(queue.segments(), 0, "the segment being written goes too once all in it is delivered");
        queue.append(&[(meta(1), b"four")]);
        drop(queue);
        let (_queue, findings) = DiskQueue::open(&dir, 1 << 30, Fsync::Every(Duration::from_secs(1))).unwrap();
        assert_eq!(findings.records.len(), 1, "only the undelivered record is replayed");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_record_cut_mid_way_is_skipped_and_later_appends_go_to_a_new_segment() {
        let dir = temp_dir("torn");
        let (mut queue, _) = DiskQueue::open(&dir, 1 << 30, Fsync::Batch).unwrap();
        queue.append(&[(meta(1), b"whole"), (meta(1), b"cut short")]);
        drop(queue);
        let path = dir.join(segment_name(0));
        let length = fs::metadata(&path).unwrap().len();
        OpenOptions::new().write(true).open(&path).unwrap().set_len(length - 4).unwrap();
        let (mut queue, findings) = DiskQueue::open(&dir, 1 << 30, Fsync::Batch).unwrap();
        assert_eq!(bodies(&queue, &findings), [b"whole".to_vec()]);
        let torn_at = HEADER_LEN + (RECORD_PREFIX + RECORD_META + 5) as u64;
        assert_eq!(findings.torn, [(path.clone(), torn_at)]);
        let locations = queue.append(&[(meta(1), b"after")]).locations;
        assert_eq!(locations[0].segment, 1, "never appended after the torn record");
        drop(queue);
        // A flipped byte fails the checksum the same way.
        let mut bytes = fs::read(&path).unwrap();
        bytes[torn_at as usize - 1] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        let (queue, findings) = DiskQueue::open(&dir, 1 << 30, Fsync::Batch).unwrap();
        assert_eq!(findings.torn, [(path, HEADER_LEN)]);
        assert_eq!(bodies(&queue, &findings), [b"after".to_vec()]);
        assert_eq!(queue.segments(), 1, "the segment with no whole record left is deleted");
        drop(queue);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_segment_of_another_version_is_refused_and_left_alone() {
        let dir = temp_dir("version");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(segment_name(7));
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&2u32.to_le_bytes());
        header.extend_from_slice(&[0; 4]);
        header.extend_from_slice(b"future records");
        fs::write(&path, &header).unwrap();
        fs::write(dir.join(segment_name(8)), b"not a segment at all, longer than a header").unwrap();
        let (mut queue, findings) = DiskQueue::open(&dir, 1 << 30, Fsync::Batch).unwrap();
        assert!(findings.records.is_empty());
        assert_eq!(findings.refused.len(), 2);
        assert_eq!(findings.refused[0].0, path);
        assert!(findings.refused[0].1.contains("version 2"), "{:?}", findings.refused);
        assert!(findings.refused[1].1.contains("not an obsagent"));
        let locations = queue.append(&[(meta(1), b"x")]).locations;
        assert_eq!(locations[0].segment, 9, "numbered after every file there");
        assert_eq!(fs::read(&path).unwrap(), header, "untouched");
        drop(queue);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn past_the_bound_the_oldest_segments_are_dropped_with_their_pending_samples() {
        let dir = temp_dir("bound");
        // Segments of 64 KiB at least: bodies of 40 KiB take one segment each.
        let (mut queue, _) = DiskQueue::open(&dir, 200 << 10, Fsync::Batch).unwrap();
        let body = vec![7u8; 40 << 10];
        let mut all_dropped = Vec::new();
        for _ in 0..8 {
            all_dropped.extend(queue.append(&[(meta(10), &body)]).dropped);
        }
        assert!(queue.bytes() <= 200 << 10, "{}", queue.bytes());
        assert_eq!(
            all_dropped.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            [0, 1, 2, 3],
            "four segments of 40 KiB fit in 200 KiB"
        );
        assert!(all_dropped.iter().all(|(_, samples)| *samples == 10));
        assert_eq!(
            queue.read(Location { segment: 0, offset: HEADER_LEN + 16, len: 1 }).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(queue.pending_samples(), 40);
        drop(queue);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_second_opener_is_told_who_holds_the_directory() {
        let dir = temp_dir("lock");
        let (queue, _) = DiskQueue::open(&dir, 1 << 20, Fsync::Batch).unwrap();
        let err = DiskQueue::open(&dir, 1 << 20, Fsync::Batch).err().unwrap().to_string();
        assert!(err.contains("in use by another process") && err.contains(&std::process::id().to_string()), "{err}");
        drop(queue);
        assert!(DiskQueue::open(&dir, 1 << 20, Fsync::Batch).is_ok(), "free again once closed");
        fs::remove_dir_all(&dir).unwrap();
    }
}
