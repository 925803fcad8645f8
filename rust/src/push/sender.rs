//! The remote-write sender: a [`RemoteWriter`] scrapes a registry at each interval, encodes it
//! into request bodies of at most `max_samples_per_send` samples in the bounded [`Queue`], and
//! sends them to one receiver, on two threads of its own.
//!
//! Two threads, so that a receiver that is slow or away never delays a scrape: the scraper
//! keeps the history coming at its interval while the sender waits out its backoff; and while
//! the sender waits for an answer, the scraper encodes the next batches. Delivery
//! follows the spec and Prometheus' own sender: 2xx removes the batch; connection errors, 5xx
//! and 429 are retried with exponential backoff and jitter (or after the receiver's
//! `Retry-After`); any other status drops the batch, logging the receiver's reason, so one bad
//! batch never blocks the queue. Stopping scrapes once more and sends what is queued until a
//! deadline.
//!
//! Every writer's counts are shown by [`SelfMetrics`] (`obsagent_remote_write_*{url}`).

use super::http::{Auth, Client, Method, Reply};
use super::queue::{Batch, Queue};
use super::remote_write::{encode_body, SeriesCache, HEADERS};
use crate::error::{Error, Result};
use crate::log::line as log;
use crate::metric::MetricType;
use crate::registry::{Collector, MetricFamily, Options, Registry};
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// The longest `Retry-After` honoured; a receiver asking for more is asked again after this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

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
    /// Samples the queue holds at most; beyond it the oldest batches are dropped.
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
}

impl Config {
    /// Prometheus' defaults for `url`: a 15 s interval, batches of 2,000 samples, backoff from
    /// 30 ms to 5 s, 30 s per request; 100,000 samples buffered.
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
}

/// What the threads and the handle share, under one lock.
struct State {
    queue: Queue,
    stopping: bool,
    deadline: Option<Instant>,
    scrapes_asked: u64,
    scrapes_done: u64,
    scraper_done: bool,
}

struct Shared {
    config: Config,
    /// The URL without credentials, for logs and the `url` label.
    url_label: String,
    registry: Arc<Registry>,
    state: Mutex<State>,
    changed: Condvar,
    stats: Stats,
}

/// A running remote-write sender; stopping it (or dropping it) sends what is queued first.
pub struct RemoteWriter {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// Every live writer, for [`SelfMetrics`].
static WRITERS: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

impl RemoteWriter {
    /// Starts scraping `registry` and sending to `config.url`; refuses a bad configuration.
    pub fn start(config: Config, registry: Arc<Registry>) -> Result<RemoteWriter> {
        config.validate()?;
        let cache = SeriesCache::new(config.external_labels.clone())?;
        let state = State {
            queue: Queue::new(config.max_buffer_samples),
            stopping: false,
            deadline: None,
            scrapes_asked: 0,
            scrapes_done: 0,
            scraper_done: false,
        };
        let shared = Arc::new(Shared {
            url_label: without_credentials(&config.url),
            config,
            registry,
            state: Mutex::new(state),
            changed: Condvar::new(),
            stats: Stats::default(),
        });
        let scraper = {
            let shared = shared.clone();
            std::thread::Builder::new().name("obsagent-rw-scrape".into()).spawn(move || shared.scrape_loop(cache))?
        };
        let sender = {
            let shared = shared.clone();
            std::thread::Builder::new().name("obsagent-rw-send".into()).spawn(move || shared.send_loop())
        };
        let sender = match sender {
            Ok(sender) => sender,
            Err(err) => {
                shared.stop_at(Instant::now());
                let _ = scraper.join();
                return Err(err.into());
            }
        };
        let mut writers = WRITERS.lock();
        writers.retain(|w| w.strong_count() > 0);
        writers.push(Arc::downgrade(&shared));
        Ok(RemoteWriter { shared, threads: vec![scraper, sender] })
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

    /// Scrapes a last time, sends what is queued until `deadline` from now, then stops both
    /// threads; what is still queued then is dropped (and counted). Calling it twice is harmless.
    pub fn stop(&mut self, deadline: Duration) {
        self.shared.stop_at(Instant::now() + deadline);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }

    /// Samples waiting to be sent.
    pub fn queued(&self) -> usize {
        self.shared.state.lock().queue.len()
    }
}

impl Drop for RemoteWriter {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
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

    fn scrape_loop(&self, mut cache: SeriesCache) {
        // The first scrape after one interval, as Prometheus does; flush() and stop() scrape at once.
        let mut next = Instant::now() + self.config.interval;
        let mut samples = Vec::new();
        let (mut raw, mut encoder) = (Vec::new(), snap::raw::Encoder::new());
        let mut last_timestamp = i64::MIN / 2;
        loop {
            let (last, asked) = {
                let mut state = self.state.lock();
                loop {
                    if state.stopping || state.scrapes_asked > state.scrapes_done || Instant::now() >= next {
                        break;
                    }
                    self.changed.wait_until(&mut state, next);
                }
                (state.stopping, state.scrapes_asked)
            };
            let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
            // Two scrapes in one millisecond (a flush right after another) would be one sample
            // twice with two values, which receivers refuse: times only go forward.
            last_timestamp = (now.as_millis() as i64).max(last_timestamp + 1);
            samples.clear();
            if let Err(err) = cache.scrape(&self.registry, &self.config.options, last_timestamp, &mut samples) {
                log("error", "remote write: collecting the registry failed", &[("error", &err.to_string())]);
            }
            // Each batch is queued as soon as it is encoded, for the sender to start on.
            for chunk in samples.chunks(self.config.max_samples_per_send) {
                let batch = Batch { body: encode_body(chunk, &mut raw, &mut encoder).into(), samples: chunk.len() };
                let mut state = self.state.lock();
                let dropped = state.queue.push(batch);
                self.stats.dropped.fetch_add(dropped, Ordering::Relaxed);
                self.stats.queued.store(state.queue.len() as u64, Ordering::Relaxed);
                self.changed.notify_all();
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
            next += self.config.interval;
            let now = Instant::now();
            if next <= now {
                next = now + self.config.interval; // a scrape took longer than the interval: skip ticks
            }
        }
    }

    /// Waits for a batch; `None` when it is time to stop.
    fn next_batch(&self) -> Option<(u64, Batch)> {
        let mut state = self.state.lock();
        loop {
            let past_deadline = state.stopping && state.deadline.is_some_and(|d| Instant::now() >= d);
            if !past_deadline {
                if let Some(front) = state.queue.front() {
                    return Some(front);
                }
            }
            if state.scraper_done && (state.queue.is_empty() || past_deadline) {
                let left = state.queue.clear();
                if left > 0 {
                    self.stats.dropped.fetch_add(left as u64, Ordering::Relaxed);
                    self.stats.queued.store(0, Ordering::Relaxed);
                    let message = "remote write: samples not delivered by the shutdown deadline";
                    log("warn", message, &[("url", &self.url_label), ("samples", &left.to_string())]);
                }
                self.changed.notify_all();
                return None;
            }
            // Whatever comes next (samples, the scraper's end) is announced.
            self.changed.wait(&mut state);
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

    fn send_loop(&self) {
        let client = Client::new();
        let authorization = self.config.auth.header();
        let mut headers: Vec<(&str, &str)> = HEADERS.to_vec();
        if let Some(value) = authorization.as_deref() {
            headers.push(("Authorization", value));
        }
        let mut jitter = Jitter::new();
        let mut attempt = 0u32;
        while let Some((number, batch)) = self.next_batch() {
            let mut timeout = self.config.timeout;
            if let Some(deadline) = self.state.lock().deadline {
                timeout = timeout.min(deadline.saturating_duration_since(Instant::now())).max(Duration::from_millis(1));
            }
            let count = batch.samples;
            match outcome(client.send(Method::Post, &self.config.url, &headers, &batch.body, Some(timeout))) {
                Outcome::Delivered => {
                    if attempt > 0 {
                        log("info", "remote write: receiver back", &[("url", &self.url_label)]);
                    }
                    attempt = 0;
                    self.stats.sent.fetch_add(count as u64, Ordering::Relaxed);
                    self.stats.last_success.store(crate::clock::now().to_bits(), Ordering::Relaxed);
                    self.acknowledge(number);
                }
                Outcome::Refused { status, reason } => {
                    self.stats.failed.fetch_add(count as u64, Ordering::Relaxed);
                    let status = status.to_string();
                    let fields = [("url", &*self.url_label), ("status", &status), ("reason", &reason)];
                    log("warn", "remote write: receiver refused samples, dropped", &fields);
                    self.acknowledge(number);
                }
                Outcome::Retry { retry_after, error } => {
                    if attempt == 0 {
                        log(
                            "warn",
                            "remote write: send failed, retrying",
                            &[("url", &self.url_label), ("error", &error)],
                        );
                    }
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let computed = backoff(attempt, self.config.min_backoff, self.config.max_backoff, jitter.next());
                    attempt = attempt.saturating_add(1);
                    self.pause(retry_after.map_or(computed, |d| d.min(MAX_RETRY_AFTER)));
                }
            }
        }
    }

    fn acknowledge(&self, number: u64) {
        let mut state = self.state.lock();
        state.queue.acknowledge(number);
        self.stats.queued.store(state.queue.len() as u64, Ordering::Relaxed);
        self.changed.notify_all();
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

/// `obsagent_remote_write_*{url}` for every live writer of the process.
pub struct SelfMetrics;

impl SelfMetrics {
    /// The families' names, for registration.
    const FAMILIES: [(&'static str, MetricType, &'static str); 6] = [
        ("obsagent_remote_write_samples_sent", MetricType::Counter, "Samples the receiver accepted."),
        (
            "obsagent_remote_write_samples_failed",
            MetricType::Counter,
            "Samples the receiver refused (4xx other than 429); not retried.",
        ),
        (
            "obsagent_remote_write_samples_dropped",
            MetricType::Counter,
            "Samples dropped unsent: the oldest, when the buffer was full, and those left at shutdown.",
        ),
        (
            "obsagent_remote_write_retries",
            MetricType::Counter,
            "Requests sent again after a connection error, 5xx or 429.",
        ),
        ("obsagent_remote_write_queue_samples", MetricType::Gauge, "Samples waiting to be sent."),
        (
            "obsagent_remote_write_last_success_timestamp_seconds",
            MetricType::Gauge,
            "When the receiver last accepted a request.",
        ),
    ];
}

impl Collector for SelfMetrics {
    fn names(&self) -> Vec<String> {
        Self::FAMILIES
            .iter()
            .flat_map(|(name, kind, _)| {
                let total = (*kind == MetricType::Counter).then(|| format!("{name}_total"));
                std::iter::once(name.to_string()).chain(total)
            })
            .collect()
    }

    fn collect(&self, _: &Options, out: &mut Vec<MetricFamily>) -> Result<()> {
        let writers: Vec<Arc<Shared>> = WRITERS.lock().iter().filter_map(Weak::upgrade).collect();
        if writers.is_empty() {
            return Ok(());
        }
        for (index, (name, kind, help)) in Self::FAMILIES.iter().enumerate() {
            let mut family = MetricFamily::new(*name, *help, *kind, "");
            for writer in &writers {
                let stats = &writer.stats;
                let value = match index {
                    0 => stats.sent.load(Ordering::Relaxed) as f64,
                    1 => stats.failed.load(Ordering::Relaxed) as f64,
                    2 => stats.dropped.load(Ordering::Relaxed) as f64,
                    3 => stats.retries.load(Ordering::Relaxed) as f64,
                    4 => stats.queued.load(Ordering::Relaxed) as f64,
                    _ => f64::from_bits(stats.last_success.load(Ordering::Relaxed)),
                };
                let suffix = if *kind == MetricType::Counter { "_total" } else { "" };
                family.push(suffix, vec![("url".into(), writer.url_label.clone().into())], value);
            }
            out.push(family);
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
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let got = bodies.clone();
        std::thread::spawn(move || {
            let mut statuses = statuses.into_iter();
            for stream in listener.incoming() {
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
                    got.lock().push(snap::raw::Decoder::new().decompress_vec(&body).unwrap());
                    let status = statuses.next().unwrap_or(204);
                    let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                    reader.get_mut().write_all(answer.as_bytes()).unwrap();
                }
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
}
