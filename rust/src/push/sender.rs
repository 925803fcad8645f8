//! The remote-write sender: a [`RemoteWriter`] scrapes a registry at each interval, encodes it
//! into request bodies of at most `max_samples_per_send` samples in the [`Queue`] (and, with a
//! `queue_dir`, in the [`DiskQueue`]'s files first), and sends them to one receiver over
//! several shards, on threads of its own.
//!
//! Its own threads, so that a receiver that is slow or away never delays a scrape: the scraper
//! keeps the history coming at its interval while the senders wait out their backoff; and while
//! they wait for answers, the scraper encodes the next batches. Delivery follows the spec and
//! Prometheus' own sender: 2xx removes the batch; connection errors, 5xx and 429 are retried
//! with exponential backoff and jitter (or after the receiver's `Retry-After`); any other
//! status drops the batch, logging the receiver's reason, so one bad batch never blocks the
//! queue. Stopping scrapes once more and sends what is queued until a deadline; what a disk
//! queue holds then stays there for the next start.
//!
//! Shards are Prometheus' `queue_config` ones: between `min_shards` and `max_shards` senders,
//! as many as sending the incoming rate plus the backlog (within 10 s) takes at the measured
//! time per sample, changed only past 30% either way and never upward while sends fail (more
//! connections to a receiver that is away only add load). Each scrape is split by a hash of
//! each series into one lane per shard, so a series' samples stay in one lane, in order (see
//! [`Queue::take`]); with one shard, no hashing at all.
//!
//! Every writer's counts are shown by [`SelfMetrics`] (`obsagent_remote_write_*{url}`).

use super::disk_queue::{DiskQueue, Fsync, Meta};
use super::http::{Auth, Client, Method, Reply};
use super::queue::{Batch, Body, Queue};
use super::remote_write::{encode_body, QueuedSample, SeriesCache, HEADERS};
use crate::error::{Error, Result};
use crate::log::line as log;
use crate::metric::MetricType;
use crate::registry::{Collector, MetricFamily, Options, Registry};
use parking_lot::{Condvar, Mutex};
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// The longest `Retry-After` honoured; a receiver asking for more is asked again after this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// How long a disk queue that failed a write is left before it is tried again.
const DISK_RETRY: Duration = Duration::from_secs(10);
/// How often the shard count is reconsidered.
const RESHARD_EVERY: Duration = Duration::from_secs(2);
/// The backlog is to be sent within this, on top of the incoming rate.
const CATCH_UP: f64 = 10.0;

/// What a writer sends, where, and how.
#[derive(Debug, Clone)]
pub struct Config {
    /// The receiver's write endpoint (`.../api/v1/write`).
    pub url: String,
    /// Time between scrapes of the registry.
    pub interval: Duration,
    /// Labels added to every series that lacks them.
    pub external_labels: Vec<(String, String)>,
    /// Credentials for the receiver.
    pub auth: Auth,
    /// Samples the queue holds in memory at most; beyond it the oldest batches are dropped.
    pub max_buffer_samples: usize,
    /// Samples in one request at most.
    pub max_samples_per_send: usize,
    /// Time one request may take.
    pub timeout: Duration,
    /// The first retry's delay.
    pub min_backoff: Duration,
    /// The longest delay between retries.
    pub max_backoff: Duration,
    /// How the registry is collected (`_created` series or not).
    pub options: Options,
    /// Where the queue is kept on disk (none: in memory only).
    pub queue_dir: Option<PathBuf>,
    /// Bytes the disk queue may take; beyond it the oldest segments are dropped.
    pub queue_max_bytes: u64,
    /// When the disk queue's writes are fsynced.
    pub queue_fsync: Fsync,
    /// Senders at least and at most.
    pub min_shards: usize,
    /// See `min_shards`.
    pub max_shards: usize,
    /// Whether native histograms are sent as such (Prometheus' `send_native_histograms`).
    pub send_native_histograms: bool,
}

impl Config {
    /// Prometheus' defaults for `url`: a 15 s interval, batches of 2,000 samples, backoff from
    /// 30 ms to 5 s, 30 s per request, 1 to 50 shards, no native histograms; 100,000 samples
    /// buffered, in memory.
    pub fn new(url: impl Into<String>) -> Config {
        Config {
            url: url.into(),
            interval: Duration::from_secs(15),
            external_labels: Vec::new(),
            auth: Auth::None,
            max_buffer_samples: 100_000,
            max_samples_per_send: 2000,
            timeout: Duration::from_secs(30),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            options: Options::default(),
            queue_dir: None,
            queue_max_bytes: 1 << 30,
            queue_fsync: Fsync::Batch,
            min_shards: 1,
            max_shards: 50,
            send_native_histograms: false,
        }
    }

    fn validate(&self) -> Result<()> {
        let positive = |d: Duration| !d.is_zero();
        let problem = if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            format!("remote write URL must start with http:// or https://, not {:?}", self.url)
        } else if !positive(self.interval) {
            "remote write interval must be more than 0".into()
        } else if self.max_buffer_samples == 0 || self.max_samples_per_send == 0 {
            "max_buffer_samples and max_samples_per_send must be at least 1".into()
        } else if !positive(self.timeout) || !positive(self.min_backoff) || self.max_backoff < self.min_backoff {
            "timeout and backoff must be more than 0, and max_backoff at least min_backoff".into()
        } else if self.min_shards == 0 || self.max_shards < self.min_shards || self.max_shards > usize::from(u16::MAX) {
            format!(
                "shards must be at least 1 and min_shards at most max_shards, not {}..{}",
                self.min_shards, self.max_shards
            )
        } else if self.queue_dir.is_some() && self.queue_max_bytes == 0 {
            "queue_max_bytes must be more than 0".into()
        } else {
            return Ok(());
        };
        Err(Error::InvalidValue(problem))
    }
}

/// The delay before retry number `attempt` (from 0): `min` doubled per attempt up to `max`,
/// then a random point of its upper half (`random` in [0, 1)), so that senders that failed
/// together don't retry together.
pub fn backoff(attempt: u32, min: Duration, max: Duration, random: f64) -> Duration {
    let ceiling = min.saturating_mul(1u32 << attempt.min(20)).min(max);
    ceiling.mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0))
}

/// The shard count for sending `incoming` samples a second plus `backlog` samples within
/// [`CATCH_UP`] seconds at `seconds_per_sample` each (per connection): `current` unless that
/// is off by more than 30%, within `min..=max`, and never more than `current` while `failing`.
pub fn desired_shards(
    current: usize,
    incoming: f64,
    backlog: f64,
    seconds_per_sample: f64,
    failing: bool,
    (min, max): (usize, usize),
) -> usize {
    let wanted = seconds_per_sample * (incoming + backlog / CATCH_UP);
    let current_f = current as f64;
    let mut shards =
        if wanted > current_f * 1.3 || wanted < current_f * 0.7 { wanted.ceil() as usize } else { current };
    if failing {
        shards = shards.min(current);
    }
    shards.clamp(min, max)
}

/// A small xorshift generator for jitter: no security needed, only spread.
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        Jitter(nanos | 1)
    }

    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What became of one request.
#[derive(Debug, PartialEq)]
enum Outcome {
    Delivered,
    /// A 4xx other than 429 (or another non-retryable status): the batch is dropped.
    Refused {
        status: u16,
        reason: String,
    },
    /// No answer, a 5xx or a 429: send the batch again later.
    Retry {
        retry_after: Option<Duration>,
        error: String,
    },
}

fn outcome(result: std::result::Result<Reply, String>) -> Outcome {
    match result {
        Err(error) => Outcome::Retry { retry_after: None, error },
        Ok(reply) if (200..300).contains(&reply.status) => Outcome::Delivered,
        Ok(reply) if reply.status >= 500 || reply.status == 429 => {
            Outcome::Retry { retry_after: reply.retry_after, error: format!("{} {}", reply.status, reply.reason) }
        }
        Ok(reply) => Outcome::Refused { status: reply.status, reason: reply.reason },
    }
}

/// A writer's counts, read by [`SelfMetrics`].
#[derive(Default)]
struct Stats {
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retries: AtomicU64,
    queued: AtomicU64,
    last_success: AtomicU64, // f64 bits, seconds since the epoch
    /// Samples queued, ever; nanoseconds spent in delivered requests and their samples.
    enqueued: AtomicU64,
    send_nanos: AtomicU64,
    /// Shards running.
    shards: AtomicU64,
    replayed: AtomicU64,
    disk_bytes: AtomicU64,
    disk_samples: AtomicU64,
    disk_segments: AtomicU64,
    disk_written: AtomicU64,
    /// 1 while a disk queue was asked for but batches go to memory.
    disk_fallback: AtomicU64,
}

/// What the threads and the handle share, under one lock.
struct State {
    queue: Queue,
    stopping: bool,
    deadline: Option<Instant>,
    scrapes_asked: u64,
    scrapes_done: u64,
    scraper_done: bool,
    /// Shards wanted now; shard threads numbered from it on idle.
    shards: usize,
    /// The generation of the batches encoded now.
    generation: u64,
    /// Whether the last request of any shard failed and is being retried.
    failing: bool,
}

/// The disk queue, and when its last write failed.
struct Disk {
    queue: DiskQueue,
    failed_at: Option<Instant>,
}

struct Shared {
    config: Config,
    /// The URL without credentials, for logs and the `url` label.
    url_label: String,
    registry: Arc<Registry>,
    state: Mutex<State>,
    changed: Condvar,
    stats: Stats,
    /// Locked apart from `state`, never both at once: writes and fsyncs don't hold up senders.
    disk: Mutex<Option<Disk>>,
    /// Whether a queue dir was asked for (for the self-metrics).
    wants_disk: bool,
    shard_threads: Mutex<Vec<JoinHandle<()>>>,
}

/// A running remote-write sender; stopping it (or dropping it) sends what is queued first.
pub struct RemoteWriter {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// Every live writer, for [`SelfMetrics`].
static WRITERS: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// Opens the disk queue, logging what it found; queues what it holds. `None` (logged, and a
/// memory queue used) when the directory cannot be used.
fn open_disk(config: &Config, url: &str, queue: &mut Queue, stats: &Stats) -> Option<Disk> {
    let dir = config.queue_dir.as_ref()?;
    let (disk, findings) = match DiskQueue::open(dir, config.queue_max_bytes, config.queue_fsync) {
        Ok(opened) => opened,
        Err(err) => {
            let fields = [("url", url), ("error", &err.to_string())];
            log("error", "remote write: disk queue unusable, queueing in memory", &fields);
            stats.disk_fallback.store(1, Ordering::Relaxed);
            return None;
        }
    };
    for (file, offset) in &findings.torn {
        let fields = [("url", url), ("file", &*file.to_string_lossy()), ("offset", &offset.to_string())];
        log("warn", "remote write: torn record in the disk queue skipped (a crash while writing)", &fields);
    }
    for (file, why) in &findings.refused {
        let fields = [("url", url), ("file", &*file.to_string_lossy()), ("reason", why)];
        log("error", "remote write: disk queue segment refused, left as it is", &fields);
    }
    let mut generation = 0;
    let mut lanes = None;
    let mut samples = 0;
    for record in &findings.records {
        if lanes.is_some_and(|l| l != record.meta.lanes) {
            generation += 1;
        }
        lanes = Some(record.meta.lanes);
        samples += u64::from(record.meta.samples);
        queue.push(Batch {
            body: Body::Disk(record.location),
            samples: record.meta.samples as usize,
            lane: record.meta.lane,
            lanes: record.meta.lanes.max(1),
            generation,
        });
    }
    if samples > 0 {
        let fields = [("url", url), ("samples", &samples.to_string()), ("segments", &disk.segments().to_string())];
        log("info", "remote write: sending what the disk queue kept", &fields);
    }
    stats.replayed.store(samples, Ordering::Relaxed);
    let disk = Disk { queue: disk, failed_at: None };
    update_disk_stats(stats, &disk.queue);
    Some(disk)
}

fn update_disk_stats(stats: &Stats, disk: &DiskQueue) {
    stats.disk_bytes.store(disk.bytes(), Ordering::Relaxed);
    stats.disk_samples.store(disk.pending_samples(), Ordering::Relaxed);
    stats.disk_segments.store(disk.segments() as u64, Ordering::Relaxed);
    stats.disk_written.store(disk.written(), Ordering::Relaxed);
}

impl RemoteWriter {
    /// Starts scraping `registry` and sending to `config.url`; refuses a bad configuration.
    /// What a disk queue holds is queued first, before the first scrape.
    pub fn start(config: Config, registry: Arc<Registry>) -> Result<RemoteWriter> {
        config.validate()?;
        let cache =
            SeriesCache::new(config.external_labels.clone())?.send_native_histograms(config.send_native_histograms);
        let url_label = without_credentials(&config.url);
        let stats = Stats::default();
        let mut queue = Queue::new(config.max_buffer_samples);
        let disk = open_disk(&config, &url_label, &mut queue, &stats);
        stats.queued.store(queue.len() as u64, Ordering::Relaxed);
        stats.shards.store(config.min_shards as u64, Ordering::Relaxed);
        let state = State {
            queue,
            stopping: false,
            deadline: None,
            scrapes_asked: 0,
            scrapes_done: 0,
            scraper_done: false,
            shards: config.min_shards,
            generation: 1 << 32, // after every replayed one
            failing: false,
        };
        let shared = Arc::new(Shared {
            url_label,
            wants_disk: config.queue_dir.is_some(),
            config,
            registry,
            state: Mutex::new(state),
            changed: Condvar::new(),
            stats,
            disk: Mutex::new(disk),
            shard_threads: Mutex::new(Vec::new()),
        });
        let scraper = {
            let shared = shared.clone();
            std::thread::Builder::new().name("obsagent-rw-scrape".into()).spawn(move || shared.scrape_loop(cache))?
        };
        if let Err(err) = shared.spawn_shards(shared.config.min_shards) {
            shared.stop_at(Instant::now());
            let _ = scraper.join();
            shared.join_shards();
            return Err(err.into());
        }
        let mut writers = WRITERS.lock();
        writers.retain(|w| w.strong_count() > 0);
        writers.push(Arc::downgrade(&shared));
        Ok(RemoteWriter { shared, threads: vec![scraper] })
    }

    /// Scrapes now and waits until everything queued is delivered (or refused, or dropped);
    /// returns whether that happened within `timeout`.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock();
        if state.scraper_done {
            return state.queue.is_empty();
        }
        state.scrapes_asked += 1;
        let asked = state.scrapes_asked;
        self.shared.changed.notify_all();
        while !(state.scrapes_done >= asked && state.queue.is_empty()) {
            if self.shared.changed.wait_until(&mut state, deadline).timed_out() {
                return state.scrapes_done >= asked && state.queue.is_empty();
            }
        }
        true
    }

    /// Scrapes a last time, sends what is queued until `deadline` from now, then stops every
    /// thread; what is still queued then is dropped (and counted), or kept in the disk queue
    /// for the next start. Calling it twice is harmless.
    pub fn stop(&mut self, deadline: Duration) {
        self.shared.stop_at(Instant::now() + deadline);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        self.shared.join_shards();
        // Closed and unlocked now, not when the last handle goes: a new writer may take it.
        if let Some(mut disk) = self.shared.disk.lock().take() {
            disk.queue.close();
            update_disk_stats(&self.shared.stats, &disk.queue);
        }
    }

    /// Samples waiting to be sent.
    pub fn queued(&self) -> usize {
        self.shared.state.lock().queue.len()
    }

    /// Shards sending now.
    pub fn shards(&self) -> usize {
        self.shared.state.lock().shards
    }
}

impl Drop for RemoteWriter {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

/// The lane of a series among `lanes`: a hash of its encoded labels, the same in every process
/// of this build, so that a replayed batch and a new one of a series share a lane.
fn lane_of(series: &[u8], lanes: usize) -> usize {
    (foldhash::fast::FixedState::with_seed(0x6f62_7361).hash_one(series) % lanes as u64) as usize
}

impl Shared {
    fn stop_at(&self, deadline: Instant) {
        let mut state = self.state.lock();
        if !state.stopping {
            state.stopping = true;
            state.deadline = Some(deadline);
        }
        self.changed.notify_all();
    }

    /// Starts shard threads until there are `count`.
    fn spawn_shards(self: &Arc<Self>, count: usize) -> std::io::Result<()> {
        let mut threads = self.shard_threads.lock();
        while threads.len() < count {
            let (shared, index) = (self.clone(), threads.len());
            let name = format!("obsagent-rw-send-{index}");
            threads.push(std::thread::Builder::new().name(name).spawn(move || shared.send_loop(index))?);
        }
        Ok(())
    }

    fn join_shards(&self) {
        let threads: Vec<_> = self.shard_threads.lock().drain(..).collect();
        for thread in threads {
            let _ = thread.join();
        }
    }

    fn scrape_loop(self: Arc<Self>, mut cache: SeriesCache) {
        // The first scrape after one interval, as Prometheus does; flush() and stop() scrape at once.
        let mut next = Instant::now() + self.config.interval;
        let mut samples = Vec::new();
        let mut split: Vec<Vec<QueuedSample>> = Vec::new();
        let (mut raw, mut encoder) = (Vec::new(), snap::raw::Encoder::new());
        let mut last_timestamp = i64::MIN / 2;
        let mut reshard = Reshard::new(&self.stats);
        loop {
            let (last, asked, lanes, generation) = {
                let mut state = self.state.lock();
                loop {
                    if state.stopping || state.scrapes_asked > state.scrapes_done || Instant::now() >= next {
                        break;
                    }
                    self.changed.wait_until(&mut state, next);
                }
                (state.stopping, state.scrapes_asked, state.shards, state.generation)
            };
            let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
            // Two scrapes in one millisecond (a flush right after another) would be one sample
            // twice with two values, which receivers refuse: times only go forward.
            last_timestamp = (now.as_millis() as i64).max(last_timestamp + 1);
            samples.clear();
            if let Err(err) = cache.scrape(&self.registry, &self.config.options, last_timestamp, &mut samples) {
                log("error", "remote write: collecting the registry failed", &[("error", &err.to_string())]);
            }
            if lanes <= 1 {
                self.queue_lane(&samples, (0, 1, generation), &mut raw, &mut encoder);
            } else {
                split.resize_with(lanes, Vec::new);
                for lane in &mut split {
                    lane.clear();
                }
                for sample in &samples {
                    split[lane_of(&sample.series, lanes)].push(sample.clone());
                }
                for (lane, lane_samples) in split.iter().enumerate() {
                    self.queue_lane(lane_samples, (lane as u16, lanes as u16, generation), &mut raw, &mut encoder);
                }
            }
            {
                let mut state = self.state.lock();
                state.scrapes_done = state.scrapes_done.max(asked);
                state.scraper_done = last;
                self.changed.notify_all();
            }
            if last {
                return;
            }
            if let Some(shards) = reshard.due(&self) {
                self.set_shards(shards);
            }
            next += self.config.interval;
            let now = Instant::now();
            if next <= now {
                next = now + self.config.interval; // a scrape took longer than the interval: skip ticks
            }
        }
    }

    fn set_shards(self: &Arc<Self>, shards: usize) {
        if let Err(err) = self.spawn_shards(shards) {
            log("error", "remote write: starting a shard failed", &[("error", &err.to_string())]);
            return;
        }
        let mut state = self.state.lock();
        if state.shards != shards {
            let fields = [("url", &*self.url_label), ("from", &state.shards.to_string()), ("to", &shards.to_string())];
            log("info", "remote write: shards changed", &fields);
            state.shards = shards;
            state.generation += 1;
            self.stats.shards.store(shards as u64, Ordering::Relaxed);
            self.changed.notify_all();
        }
    }

    /// Encodes one lane of a scrape in batches, writes them to the disk queue if there is one,
    /// and queues them.
    fn queue_lane(
        &self,
        samples: &[QueuedSample],
        (lane, lanes, generation): (u16, u16, u64),
        raw: &mut Vec<u8>,
        encoder: &mut snap::raw::Encoder,
    ) {
        if self.disk.lock().is_none() {
            // In memory only: each batch queued as soon as it is encoded, for a sender to start on.
            self.stats.enqueued.fetch_add(samples.len() as u64, Ordering::Relaxed);
            for chunk in samples.chunks(self.config.max_samples_per_send) {
                let body = Body::Memory(encode_body(chunk, raw, encoder).into());
                let batch = Batch { body, samples: chunk.len(), lane, lanes, generation };
                let mut state = self.state.lock();
                let dropped = state.queue.push(batch);
                self.stats.dropped.fetch_add(dropped, Ordering::Relaxed);
                self.stats.queued.store(state.queue.len() as u64, Ordering::Relaxed);
                self.changed.notify_all();
            }
            return;
        }
        // On disk: a lane's batches written (and fsynced) together, then offered to the senders.
        let bodies: Vec<(usize, Vec<u8>)> = samples
            .chunks(self.config.max_samples_per_send)
            .map(|chunk| (chunk.len(), encode_body(chunk, raw, encoder)))
            .collect();
        if bodies.is_empty() {
            return;
        }
        self.stats.enqueued.fetch_add(samples.len() as u64, Ordering::Relaxed);
        let (locations, dropped_segments) = self.write_to_disk(&bodies, lane, lanes);
        let mut state = self.state.lock();
        let mut dropped = 0;
        let mut locations = locations.into_iter();
        for (count, body) in bodies {
            let body = match locations.next() {
                Some(location) => Body::Disk(location),
                None => Body::Memory(body.into()),
            };
            dropped += state.queue.push(Batch { body, samples: count, lane, lanes, generation });
        }
        // After the pushes: a segment filled and dropped by this very append holds some of them.
        dropped += state.queue.drop_segments(&dropped_segments);
        self.stats.dropped.fetch_add(dropped, Ordering::Relaxed);
        self.stats.queued.store(state.queue.len() as u64, Ordering::Relaxed);
        self.changed.notify_all();
    }

    /// Appends `bodies` to the disk queue, if there is one and it is not resting after a
    /// failure; returns where those written are, and the segments dropped for room.
    fn write_to_disk(
        &self,
        bodies: &[(usize, Vec<u8>)],
        lane: u16,
        lanes: u16,
    ) -> (Vec<super::disk_queue::Location>, Vec<u64>) {
        let mut guard = self.disk.lock();
        let Some(disk) = guard.as_mut() else { return (Vec::new(), Vec::new()) };
        if disk.failed_at.is_some_and(|at| at.elapsed() < DISK_RETRY) {
            return (Vec::new(), Vec::new());
        }
        let records: Vec<(Meta, &[u8])> =
            bodies.iter().map(|(count, body)| (Meta { samples: *count as u32, lane, lanes }, &body[..])).collect();
        let appended = disk.queue.append(&records);
        match (&appended.error, disk.failed_at) {
            (Some(err), failed_at) => {
                if failed_at.is_none() {
                    let dir = disk.queue.dir().to_string_lossy().into_owned();
                    let fields = [("url", &*self.url_label), ("dir", &*dir), ("error", &err.to_string())];
                    log("error", "remote write: disk queue write failed, queueing in memory", &fields);
                }
                disk.failed_at = Some(Instant::now());
                self.stats.disk_fallback.store(1, Ordering::Relaxed);
            }
            (None, Some(_)) => {
                log("info", "remote write: disk queue writable again", &[("url", &self.url_label)]);
                disk.failed_at = None;
                self.stats.disk_fallback.store(0, Ordering::Relaxed);
            }
            (None, None) => {}
        }
        update_disk_stats(&self.stats, &disk.queue);
        (appended.locations, appended.dropped.into_iter().map(|(segment, _)| segment).collect())
    }

    /// Waits for a batch shard `index` may send; `None` when it is time to stop.
    fn next_batch(&self, index: usize) -> Option<(u64, Batch)> {
        let mut state = self.state.lock();
        loop {
            let past_deadline = state.stopping && state.deadline.is_some_and(|d| Instant::now() >= d);
            // A shard past the count idles, unless every one helps drain at the end.
            let idle = index >= state.shards && !state.scraper_done;
            if !past_deadline && !idle {
                if let Some(taken) = state.queue.take() {
                    return Some(taken);
                }
            }
            if state.scraper_done && past_deadline {
                self.give_up(&mut state);
            }
            if state.scraper_done && state.queue.is_empty() {
                self.changed.notify_all();
                return None;
            }
            // Whatever comes next (samples, an acknowledgement, the scraper's end) is announced.
            match state.deadline.filter(|_| state.stopping && !past_deadline) {
                Some(deadline) => {
                    self.changed.wait_until(&mut state, deadline);
                }
                None => self.changed.wait(&mut state),
            }
        }
    }

    /// At the shutdown deadline: drops what is in memory (counted), leaves what is on disk.
    fn give_up(&self, state: &mut State) {
        let (memory, disk) = state.queue.clear_idle();
        self.stats.dropped.fetch_add(memory as u64, Ordering::Relaxed);
        self.stats.queued.store(state.queue.len() as u64, Ordering::Relaxed);
        if memory > 0 {
            let message = "remote write: samples not delivered by the shutdown deadline";
            log("warn", message, &[("url", &self.url_label), ("samples", &memory.to_string())]);
        }
        if disk > 0 {
            let message =
                "remote write: samples not delivered by the shutdown deadline kept on disk for the next start";
            log("info", message, &[("url", &self.url_label), ("samples", &disk.to_string())]);
        }
    }

    /// Sleeps `delay`, less if the shutdown deadline comes first.
    fn pause(&self, delay: Duration) {
        let wake = Instant::now() + delay;
        let mut state = self.state.lock();
        loop {
            let until = match state.deadline.filter(|_| state.stopping) {
                Some(deadline) => wake.min(deadline),
                None => wake,
            };
            if Instant::now() >= until {
                return;
            }
            self.changed.wait_until(&mut state, until);
        }
    }

    /// The body of `batch`; `None` if its record is gone (its segment dropped for room: already
    /// counted) or unreadable (dropped and counted here).
    fn body(&self, number: u64, batch: &Batch) -> Option<Arc<[u8]>> {
        let location = match &batch.body {
            Body::Memory(body) => return Some(body.clone()),
            Body::Disk(location) => *location,
        };
        let read = self.disk.lock().as_ref().map(|disk| disk.queue.read(location));
        match read {
            Some(Ok(body)) => Some(body.into()),
            Some(Err(err)) if err.kind() == std::io::ErrorKind::NotFound => None,
            Some(Err(err)) => {
                log(
                    "error",
                    "remote write: reading the disk queue failed, batch dropped",
                    &[("error", &err.to_string())],
                );
                self.stats.dropped.fetch_add(batch.samples as u64, Ordering::Relaxed);
                self.acknowledge(number);
                None
            }
            None => None,
        }
    }

    fn send_loop(&self, index: usize) {
        let client = Client::new();
        let authorization = self.config.auth.header();
        let mut headers: Vec<(&str, &str)> = HEADERS.to_vec();
        if let Some(value) = authorization.as_deref() {
            headers.push(("Authorization", value));
        }
        let mut jitter = Jitter::new();
        while let Some((number, batch)) = self.next_batch(index) {
            let Some(body) = self.body(number, &batch) else { continue };
            let mut attempt = 0u32;
            loop {
                let mut timeout = self.config.timeout;
                if let Some(deadline) = self.state.lock().deadline {
                    timeout =
                        timeout.min(deadline.saturating_duration_since(Instant::now())).max(Duration::from_millis(1));
                }
                let count = batch.samples;
                let started = Instant::now();
                match outcome(client.send(Method::Post, &self.config.url, &headers, &body, Some(timeout))) {
                    Outcome::Delivered => {
                        // Once per outage, by the first shard through.
                        if attempt > 0 && std::mem::replace(&mut self.state.lock().failing, false) {
                            log("info", "remote write: receiver back", &[("url", &self.url_label)]);
                        }
                        self.stats.send_nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                        self.stats.sent.fetch_add(count as u64, Ordering::Relaxed);
                        self.stats.last_success.store(crate::clock::now().to_bits(), Ordering::Relaxed);
                        self.acknowledge(number);
                        break;
                    }
                    Outcome::Refused { status, reason } => {
                        self.stats.failed.fetch_add(count as u64, Ordering::Relaxed);
                        let status = status.to_string();
                        let fields = [("url", &*self.url_label), ("status", &status), ("reason", &reason)];
                        log("warn", "remote write: receiver refused samples, dropped", &fields);
                        self.acknowledge(number);
                        break;
                    }
                    Outcome::Retry { retry_after, error } => {
                        let first_failure = {
                            let mut state = self.state.lock();
                            !std::mem::replace(&mut state.failing, true)
                        };
                        if attempt == 0 && first_failure {
                            let fields = [("url", &*self.url_label), ("error", &*error)];
                            log("warn", "remote write: send failed, retrying", &fields);
                        }
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        let computed =
                            backoff(attempt, self.config.min_backoff, self.config.max_backoff, jitter.next());
                        attempt = attempt.saturating_add(1);
                        self.pause(retry_after.map_or(computed, |d| d.min(MAX_RETRY_AFTER)));
                        if !self.retry_or_give_up(number, &batch) {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// After a failed send: whether to send batch `number` again; no if it was dropped for room
    /// meanwhile, or the shutdown deadline passed (then it is dropped, or left on disk).
    fn retry_or_give_up(&self, number: u64, batch: &Batch) -> bool {
        let mut state = self.state.lock();
        if !state.queue.is_pending(number) {
            return false;
        }
        let past_deadline = state.stopping && state.deadline.is_some_and(|d| Instant::now() >= d);
        if !past_deadline {
            return true;
        }
        if let Body::Memory(_) = batch.body {
            state.queue.acknowledge(number);
            self.stats.dropped.fetch_add(batch.samples as u64, Ordering::Relaxed);
            let message = "remote write: samples not delivered by the shutdown deadline";
            log("warn", message, &[("url", &self.url_label), ("samples", &batch.samples.to_string())]);
        } else {
            // Left queued until the last scrape is written: should that drop its segment for
            // room, it is counted as dropped; else `give_up` leaves it on disk.
            state.queue.release(number);
        }
        self.stats.queued.store(state.queue.len() as u64, Ordering::Relaxed);
        self.changed.notify_all();
        false
    }

    fn acknowledge(&self, number: u64) {
        let acknowledged = {
            let mut state = self.state.lock();
            let batch = state.queue.acknowledge(number);
            self.stats.queued.store(state.queue.len() as u64, Ordering::Relaxed);
            self.changed.notify_all();
            batch
        };
        if let Some(Batch { body: Body::Disk(location), samples, .. }) = acknowledged {
            if let Some(disk) = self.disk.lock().as_mut() {
                disk.queue.delivered(location, samples as u32);
                update_disk_stats(&self.stats, &disk.queue);
            }
        }
    }
}

/// The scraper's view of the rates that choose the shard count.
struct Reshard {
    at: Instant,
    enqueued: u64,
    sent: u64,
    send_nanos: u64,
    /// Seconds per sample of one connection, smoothed.
    seconds_per_sample: f64,
}

impl Reshard {
    fn new(stats: &Stats) -> Reshard {
        Reshard {
            at: Instant::now(),
            enqueued: stats.enqueued.load(Ordering::Relaxed),
            sent: stats.sent.load(Ordering::Relaxed),
            send_nanos: stats.send_nanos.load(Ordering::Relaxed),
            seconds_per_sample: 0.0,
        }
    }

    /// A new shard count, if it is time to reconsider and the rates ask for another.
    fn due(&mut self, shared: &Shared) -> Option<usize> {
        let config = &shared.config;
        if config.min_shards == config.max_shards || self.at.elapsed() < RESHARD_EVERY {
            return None;
        }
        let stats = &shared.stats;
        let elapsed = self.at.elapsed().as_secs_f64();
        let (enqueued, sent, nanos) = (
            stats.enqueued.load(Ordering::Relaxed),
            stats.sent.load(Ordering::Relaxed),
            stats.send_nanos.load(Ordering::Relaxed),
        );
        let incoming = (enqueued - self.enqueued) as f64 / elapsed;
        if sent > self.sent {
            let measured = (nanos - self.send_nanos) as f64 / 1e9 / (sent - self.sent) as f64;
            self.seconds_per_sample =
                if self.seconds_per_sample == 0.0 { measured } else { 0.7 * self.seconds_per_sample + 0.3 * measured };
        }
        *self = Reshard { at: Instant::now(), enqueued, sent, send_nanos: nanos, ..*self };
        let state = shared.state.lock();
        let shards = desired_shards(
            state.shards,
            incoming,
            state.queue.len() as f64,
            self.seconds_per_sample,
            state.failing,
            (config.min_shards, config.max_shards),
        );
        (shards != state.shards).then_some(shards)
    }
}

/// `scheme://user:password@host/...` without `user:password@`.
fn without_credentials(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let authority_end = url[scheme_end..].find(['/', '?', '#']).map_or(url.len(), |i| scheme_end + i);
    match url[scheme_end..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end], &url[scheme_end + at + 1..]),
        None => url.to_owned(),
    }
}

/// `obsagent_remote_write_*{url}` for every live writer of the process; the `disk_queue_*`
/// families only for writers with a queue directory.
pub struct SelfMetrics;

/// A self-metric: name, type, help, whether only writers with a disk queue have it, its value.
type SelfMetric = (&'static str, MetricType, &'static str, bool, fn(&Stats) -> f64);

fn load(counter: &AtomicU64) -> f64 {
    counter.load(Ordering::Relaxed) as f64
}

impl SelfMetrics {
    const FAMILIES: [SelfMetric; 14] = [
        ("obsagent_remote_write_samples_sent", MetricType::Counter, "Samples the receiver accepted.", false, |s| {
            load(&s.sent)
        }),
        (
            "obsagent_remote_write_samples_failed",
            MetricType::Counter,
            "Samples the receiver refused (4xx other than 429); not retried.",
            false,
            |s| load(&s.failed),
        ),
        (
            "obsagent_remote_write_samples_dropped",
            MetricType::Counter,
            "Samples dropped unsent: the oldest, when the buffer (or the disk queue's bound) was full, and those left in memory at shutdown.",
            false,
            |s| load(&s.dropped),
        ),
        (
            "obsagent_remote_write_retries",
            MetricType::Counter,
            "Requests sent again after a connection error, 5xx or 429.",
            false,
            |s| load(&s.retries),
        ),
        ("obsagent_remote_write_queue_samples", MetricType::Gauge, "Samples waiting to be sent.", false, |s| {
            load(&s.queued)
        }),
        (
            "obsagent_remote_write_last_success_timestamp_seconds",
            MetricType::Gauge,
            "When the receiver last accepted a request.",
            false,
            |s| f64::from_bits(s.last_success.load(Ordering::Relaxed)),
        ),
        ("obsagent_remote_write_shards", MetricType::Gauge, "Shards (parallel senders) running.", false, |s| {
            load(&s.shards)
        }),
        (
            "obsagent_remote_write_disk_queue_bytes",
            MetricType::Gauge,
            "Bytes of the disk queue's segment files.",
            true,
            |s| load(&s.disk_bytes),
        ),
        (
            "obsagent_remote_write_disk_queue_samples",
            MetricType::Gauge,
            "Samples on disk not delivered yet.",
            true,
            |s| load(&s.disk_samples),
        ),
        (
            "obsagent_remote_write_disk_queue_segments",
            MetricType::Gauge,
            "Segment files of the disk queue.",
            true,
            |s| load(&s.disk_segments),
        ),
        (
            "obsagent_remote_write_disk_queue_written_bytes",
            MetricType::Counter,
            "Bytes appended to the disk queue's segments by this writer.",
            true,
            |s| load(&s.disk_written),
        ),
        (
            "obsagent_remote_write_samples_replayed",
            MetricType::Counter,
            "Samples found in the disk queue at start, sent again.",
            true,
            |s| load(&s.replayed),
        ),
        (
            "obsagent_remote_write_disk_queue_fallback",
            MetricType::Gauge,
            "1 while the disk queue cannot be used (unwritable, full, locked) and batches are queued in memory.",
            true,
            |s| load(&s.disk_fallback),
        ),
        (
            "obsagent_remote_write_samples_enqueued",
            MetricType::Counter,
            "Samples scraped and queued.",
            false,
            |s| load(&s.enqueued),
        ),
    ];
}

impl Collector for SelfMetrics {
    fn names(&self) -> Vec<String> {
        Self::FAMILIES
            .iter()
            .flat_map(|(name, kind, ..)| {
                let total = (*kind == MetricType::Counter).then(|| format!("{name}_total"));
                std::iter::once(name.to_string()).chain(total)
            })
            .collect()
    }

    fn collect(&self, _: &Options, out: &mut Vec<MetricFamily>) -> Result<()> {
        let writers: Vec<Arc<Shared>> = WRITERS.lock().iter().filter_map(Weak::upgrade).collect();
        for (name, kind, help, disk_only, value) in &Self::FAMILIES {
            let mut family = MetricFamily::new(*name, *help, *kind, "");
            let mut any = false;
            for writer in writers.iter().filter(|w| w.wants_disk || !disk_only) {
                let suffix = if *kind == MetricType::Counter { "_total" } else { "" };
                family.push(suffix, vec![("url".into(), writer.url_label.clone().into())], value(&writer.stats));
                any = true;
            }
            if any {
                out.push(family);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_with_jitter_in_the_upper_half() {
        let (min, max) = (Duration::from_millis(30), Duration::from_secs(5));
        assert_eq!(backoff(0, min, max, 0.0), Duration::from_millis(15));
        assert_eq!(backoff(0, min, max, 1.0), Duration::from_millis(30));
        assert_eq!(backoff(3, min, max, 1.0), Duration::from_millis(240));
        assert_eq!(backoff(10, min, max, 1.0), max);
        assert_eq!(backoff(u32::MAX, min, max, 0.0), max / 2);
        let mut jitter = Jitter::new();
        for attempt in 0..40 {
            let delay = backoff(attempt, min, max, jitter.next());
            let ceiling = min.saturating_mul(1 << attempt.min(20)).min(max);
            assert!(delay >= ceiling / 2 && delay <= ceiling, "{attempt}: {delay:?}");
        }
    }

    fn reply(status: u16, retry_after: Option<u64>) -> std::result::Result<Reply, String> {
        Ok(Reply { status, retry_after: retry_after.map(Duration::from_secs), reason: "why".into() })
    }

    #[test]
    fn statuses_retried_or_dropped_as_the_spec_says() {
        assert_eq!(outcome(reply(204, None)), Outcome::Delivered);
        assert_eq!(outcome(reply(200, None)), Outcome::Delivered);
        assert_eq!(outcome(reply(400, None)), Outcome::Refused { status: 400, reason: "why".into() });
        assert_eq!(outcome(reply(404, None)), Outcome::Refused { status: 404, reason: "why".into() });
        let retry = |after| Outcome::Retry { retry_after: after, error: String::new() };
        let strip = |o: Outcome| match o {
            Outcome::Retry { retry_after, .. } => retry(retry_after),
            other => other,
        };
        assert_eq!(strip(outcome(reply(503, None))), retry(None));
        assert_eq!(strip(outcome(reply(429, Some(7)))), retry(Some(Duration::from_secs(7))));
        assert_eq!(strip(outcome(Err("connection refused".into()))), retry(None));
    }

    #[test]
    fn credentials_stay_out_of_labels() {
        assert_eq!(without_credentials("https://u:p@host:9/api/v1/write"), "https://host:9/api/v1/write");
        assert_eq!(without_credentials("http://host/a@b"), "http://host/a@b");
        assert_eq!(without_credentials("http://host"), "http://host");
    }

    /// A receiver on loopback answering `statuses` in order (then 204); returns its write URL
    /// and the bodies it got, decompressed.
    fn receiver(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
        slow_receiver(statuses, Duration::ZERO)
    }

    /// [`receiver`], taking `delay` to answer each request.
    fn slow_receiver(statuses: Vec<u16>, delay: Duration) -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let got = bodies.clone();
        let statuses = Arc::new(Mutex::new(statuses.into_iter()));
        std::thread::spawn(move || {
            // A thread per connection: each shard keeps one open.
            for stream in listener.incoming() {
                let (got, statuses) = (got.clone(), statuses.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.unwrap());
                    loop {
                        let mut length = 0;
                        let mut line = String::new();
                        while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                                length = value.trim().parse().unwrap();
                            }
                            line.clear();
                        }
                        if line != "\r\n" {
                            break; // the client closed the connection
                        }
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).unwrap();
                        let status = {
                            let mut got = got.lock();
                            got.push(snap::raw::Decoder::new().decompress_vec(&body).unwrap());
                            statuses.lock().next().unwrap_or(204)
                        };
                        std::thread::sleep(delay);
                        let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                        reader.get_mut().write_all(answer.as_bytes()).unwrap();
                    }
                });
            }
        });
        (url, bodies)
    }

    /// The timestamp of every sample of a `WriteRequest` with one sample per series.
    fn timestamps(request: &[u8]) -> Vec<i64> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < request.len() {
            let (length, used) = varint(&request[at + 1..]);
            let series = &request[at + 1 + used..at + 1 + used + length as usize];
            let mut field = 0;
            while series[field] == 0x0a {
                let (label_length, used) = varint(&series[field + 1..]);
                field += 1 + used + label_length as usize;
            }
            assert_eq!(series[field], 0x12, "the sample follows the labels");
            let sample = &series[field + 2..]; // 0x09, 8 bytes of value, 0x10, the time
            out.push(varint(&sample[10..]).0 as i64);
            at += 1 + used + length as usize;
        }
        out
    }

    fn varint(bytes: &[u8]) -> (u64, usize) {
        let mut value = 0;
        for (i, byte) in bytes.iter().enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return (value, i + 1);
            }
        }
        panic!("truncated varint")
    }

    #[test]
    fn flushes_deliver_with_increasing_times_and_a_refused_batch_does_not_block_the_queue() {
        let registry = Arc::new(Registry::new());
        let family = crate::registry::Family::new("up", "", "", crate::metric::Kind::GAUGE, vec![]).unwrap();
        registry.register_family(family).unwrap();
        let (url, bodies) = receiver(vec![400, 503]);
        let config = Config { interval: Duration::from_secs(3600), ..Config::new(url) };
        let mut writer = RemoteWriter::start(config, registry).unwrap();
        assert!(writer.flush(Duration::from_secs(10))); // refused
        assert!(writer.flush(Duration::from_secs(10))); // 503, then delivered
        assert!(writer.flush(Duration::from_secs(10)));
        writer.stop(Duration::from_secs(10));
        let bodies = bodies.lock();
        let times: Vec<i64> = bodies.iter().flat_map(|body| timestamps(body)).collect();
        assert_eq!(bodies.len(), 5, "400, 503 and its retry, the third flush, the stop");
        assert_eq!(bodies[1], bodies[2], "the batch sent again after the 503");
        let sent: Vec<i64> = [&times[..1], &times[2..]].concat();
        assert!(sent.windows(2).all(|pair| pair[0] < pair[1]), "{times:?}");
        let stats = &writer.shared.stats;
        let counts = [&stats.sent, &stats.failed, &stats.retries, &stats.dropped].map(|c| c.load(Ordering::Relaxed));
        assert_eq!(counts, [3, 1, 1, 0]);
    }

    #[test]
    fn bad_configurations_are_refused() {
        let registry = Arc::new(Registry::new());
        let err = |config: Config| RemoteWriter::start(config, registry.clone()).err().unwrap().to_string();
        assert!(err(Config::new("localhost:9090")).contains("http://"));
        assert!(err(Config { interval: Duration::ZERO, ..Config::new("http://x") }).contains("interval"));
        assert!(err(Config { max_buffer_samples: 0, ..Config::new("http://x") }).contains("max_buffer_samples"));
        let bad_label = Config { external_labels: vec![("a-b".into(), "v".into())], ..Config::new("http://x") };
        assert!(err(bad_label).contains("Invalid label name"));
    }

    #[test]
    fn shards_follow_the_rates_with_hysteresis_and_never_grow_while_failing() {
        let bounds = (1, 50);
        // 100,000 samples/s at 50 µs each: 5 connections' worth.
        assert_eq!(desired_shards(1, 100_000.0, 0.0, 50e-6, false, bounds), 5);
        assert_eq!(desired_shards(5, 110_000.0, 0.0, 50e-6, false, bounds), 5, "within 30%: kept");
        assert_eq!(desired_shards(5, 10_000.0, 0.0, 50e-6, false, bounds), 1);
        // A backlog of a million on top, to be sent within 10 s: 5 more.
        assert_eq!(desired_shards(5, 100_000.0, 1e6, 50e-6, false, bounds), 10);
        assert_eq!(desired_shards(5, 100_000.0, 1e6, 50e-6, true, bounds), 5, "failing: no more");
        assert_eq!(desired_shards(5, 1e9, 0.0, 50e-6, false, bounds), 50);
        assert_eq!(desired_shards(5, 0.0, 0.0, 0.0, false, (2, 50)), 2);
    }

    fn registry_with(series: usize) -> Arc<Registry> {
        let registry = Arc::new(Registry::new());
        let family = crate::registry::Family::new("up", "", "", crate::metric::Kind::GAUGE, vec!["i".into()]).unwrap();
        registry.register_family(family.clone()).unwrap();
        for i in 0..series {
            family.labels(&[&i.to_string()]).unwrap();
        }
        registry
    }

    /// Every (series labels, timestamp) of the requests, in the order received.
    fn series_times(bodies: &[Vec<u8>]) -> Vec<(Vec<u8>, i64)> {
        let mut out = Vec::new();
        for request in bodies {
            let mut at = 0;
            let times = timestamps(request);
            let mut n = 0;
            while at < request.len() {
                let (length, used) = varint(&request[at + 1..]);
                let series = &request[at + 1 + used..at + 1 + used + length as usize];
                let mut labels_end = 0;
                while series[labels_end] == 0x0a {
                    let (label_length, used) = varint(&series[labels_end + 1..]);
                    labels_end += 1 + used + label_length as usize;
                }
                out.push((series[..labels_end].to_vec(), times[n]));
                n += 1;
                at += 1 + used + length as usize;
            }
        }
        out
    }

    #[test]
    fn what_the_disk_queue_kept_is_sent_first_at_the_next_start_and_series_stay_in_order_over_shards() {
        let dir = std::env::temp_dir().join(format!("obsagent-sender-disk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let registry = registry_with(40);
        let down = format!("http://127.0.0.1:{}/api/v1/write", {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        });
        let disk_config = |url: String| Config {
            interval: Duration::from_secs(3600),
            max_samples_per_send: 7,
            queue_dir: Some(dir.clone()),
            min_shards: 4,
            max_shards: 4,
            ..Config::new(url)
        };
        let mut writer = RemoteWriter::start(disk_config(down), registry.clone()).unwrap();
        assert!(!writer.flush(Duration::from_millis(300)), "nobody listens");
        assert!(!writer.flush(Duration::from_millis(300)));
        writer.stop(Duration::ZERO);
        let stats = &writer.shared.stats;
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 0, "kept on disk, not dropped");
        assert_eq!(stats.disk_samples.load(Ordering::Relaxed), 120, "three scrapes of 40");
        drop(writer);

        let (url, bodies) = receiver(vec![]);
        let mut writer = RemoteWriter::start(disk_config(url), registry).unwrap();
        assert_eq!(writer.shared.stats.replayed.load(Ordering::Relaxed), 120);
        assert!(writer.flush(Duration::from_secs(10)));
        writer.stop(Duration::from_secs(10));
        let received = series_times(&bodies.lock());
        assert_eq!(received.len(), 120 + 80, "three kept scrapes, then a flush and the stop");
        let mut last: std::collections::HashMap<Vec<u8>, i64> = Default::default();
        for (series, time) in &received {
            let before = last.insert(series.clone(), *time);
            assert!(before.is_none_or(|b| b < *time), "one series' samples arrive in order");
        }
        let replayed_times: std::collections::BTreeSet<i64> = received[..120].iter().map(|(_, t)| *t).collect();
        let new_times: std::collections::BTreeSet<i64> = received[120..].iter().map(|(_, t)| *t).collect();
        assert_eq!((replayed_times.len(), new_times.len()), (3, 2));
        assert!(replayed_times.last() < new_times.first(), "what was kept goes before new scrapes");
        let stats = &writer.shared.stats;
        assert_eq!((stats.disk_samples.load(Ordering::Relaxed), stats.disk_segments.load(Ordering::Relaxed)), (0, 0));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "only the lock file is left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_slow_receiver_gets_more_shards_and_each_series_stays_in_order_across_the_change() {
        // 2,000 samples every 100 ms in requests of 100, each answered in 20 ms: one connection
        // sends 5,000 samples a second, a quarter of what comes in.
        let registry = registry_with(2000);
        let (url, bodies) = slow_receiver(vec![], Duration::from_millis(20));
        let config = Config {
            interval: Duration::from_millis(100),
            max_samples_per_send: 100,
            max_buffer_samples: 1_000_000,
            max_shards: 8,
            ..Config::new(url)
        };
        let mut writer = RemoteWriter::start(config, registry).unwrap();
        let deadline = Instant::now() + Duration::from_secs(8);
        while writer.shards() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let shards = writer.shards();
        writer.stop(Duration::ZERO);
        assert!((3..=8).contains(&shards), "{shards} shards");
        assert_eq!(writer.shared.stats.shards.load(Ordering::Relaxed), shards as u64);
        let received = series_times(&bodies.lock());
        let mut last: std::collections::HashMap<Vec<u8>, i64> = Default::default();
        for (series, time) in &received {
            let before = last.insert(series.clone(), *time);
            assert!(before.is_none_or(|b| b < *time), "one series' samples arrive in order");
        }
    }

    #[test]
    fn past_the_disk_bound_the_oldest_segments_are_dropped_and_counted() {
        let dir = std::env::temp_dir().join(format!("obsagent-sender-bound-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let down = format!("http://127.0.0.1:{}/api/v1/write", {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        });
        let config = Config {
            interval: Duration::from_secs(3600),
            queue_dir: Some(dir.clone()),
            queue_max_bytes: 256 << 10, // segments of 64 KiB
            ..Config::new(down)
        };
        let mut writer = RemoteWriter::start(config, registry_with(5000)).unwrap();
        for _ in 0..20 {
            writer.flush(Duration::from_millis(10));
        }
        writer.stop(Duration::ZERO);
        let stats = &writer.shared.stats;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        assert!(load(&stats.disk_bytes) <= 256 << 10, "{}", load(&stats.disk_bytes));
        let (dropped, kept) = (load(&stats.dropped), load(&stats.disk_samples));
        assert!(dropped > 0);
        let scraped = load(&stats.enqueued);
        let (_, findings) = DiskQueue::open(&dir, 1 << 30, Fsync::Batch).unwrap();
        let on_disk: u64 = findings.records.iter().map(|r| u64::from(r.meta.samples)).sum();
        assert_eq!(on_disk, kept, "what the self-metric says is what the next start finds");
        assert!(scraped >= 5 * 5000, "{scraped}");
        assert_eq!(dropped + kept, scraped, "every sample scraped is kept on disk or counted as dropped");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
