//! Push from Python: the Pushgateway request pieces `obsagent.exposition` puts together
//! (group URL, compressed body, the request itself) and `RemoteWriter`. Everything that waits
//! on the network or encodes runs detached from the interpreter.

use super::error::IntoPy;
use super::registry::PyRegistry;
use crate::clock::{seconds, seconds_or_zero};
use crate::encode::Format;
use crate::error::{Error, Result};
use crate::push::disk_queue::Fsync;
use crate::push::http::{Auth, Client, Method};
use crate::push::pushgateway::{self, Compression};
use crate::push::remote_write::{encode_body, SeriesCache};
use crate::push::sender::{Config, RemoteWriter};
use crate::registry::Options;
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// The group URL for `job` and `grouping_key`, encoded as prometheus_client encodes it.
#[pyfunction]
fn pushgateway_url(gateway: &str, job: &str, grouping_key: Vec<(String, String)>) -> String {
    pushgateway::group_url(gateway, job, &grouping_key)
}

/// `(body, headers)` for a push of the text exposition `data`, compressed as asked
/// (None, "gzip" or "snappy").
#[pyfunction]
#[pyo3(signature = (data, compression = None))]
fn pushgateway_body<'py>(
    py: Python<'py>,
    data: &[u8],
    compression: Option<&str>,
) -> PyResult<(Bound<'py, PyBytes>, pushgateway::Headers)> {
    let compression = Compression::parse(compression).py()?;
    let (body, headers) =
        py.detach(|| pushgateway::compress(data.to_vec(), Format::Text.content_type(), compression)).py()?;
    Ok((PyBytes::new(py, &body), headers))
}

/// `(body, headers)` for a protobuf push of `registry` (delimited `MetricFamily` messages),
/// compressed as asked.
#[pyfunction]
#[pyo3(signature = (registry, compression = None))]
fn pushgateway_protobuf<'py>(
    py: Python<'py>,
    registry: &PyRegistry,
    compression: Option<&str>,
) -> PyResult<(Bound<'py, PyBytes>, pushgateway::Headers)> {
    let compression = Compression::parse(compression).py()?;
    let inner = registry.inner.clone();
    let (body, headers) =
        py.detach(move || pushgateway::body(&inner, &Options::default(), Format::Protobuf, compression)).py()?;
    Ok((PyBytes::new(py, &body), headers))
}

/// Sends one request to a Pushgateway; `OSError` when no answer came or it was 400 or more.
#[pyfunction]
#[pyo3(signature = (url, method, timeout, headers, data))]
fn pushgateway_request(
    py: Python<'_>,
    url: &str,
    method: &str,
    timeout: Option<f64>,
    headers: Vec<(String, String)>,
    data: &[u8],
) -> PyResult<()> {
    let method = Method::parse(method).py()?;
    let timeout = timeout.map(|t| seconds(t, "timeout")).transpose().py()?;
    // Kept between pushes for its connections, but made anew in a forked child: a pooled
    // connection shared with the parent would interleave two processes' requests.
    static CLIENT: Mutex<Option<(u32, Client)>> = Mutex::new(None);
    let client = {
        let mut kept = CLIENT.lock();
        match &*kept {
            Some((pid, client)) if *pid == std::process::id() => client.clone(),
            _ => kept.insert((std::process::id(), Client::new())).1.clone(),
        }
    };
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    py.detach(|| pushgateway::send(&client, method, url, &headers, data, &Auth::None, timeout)).py()
}

/// Remote write request bodies for scrapes of a registry, made as a writer makes them (series
/// labels encoded once and kept), without sending them. For tests and benchmarks.
#[pyclass(module = "obsagent._native", name = "RemoteWriteEncoder", frozen)]
pub struct PyRemoteWriteEncoder {
    registry: std::sync::Arc<crate::registry::Registry>,
    cache: Mutex<SeriesCache>,
}

#[pymethods]
impl PyRemoteWriteEncoder {
    #[new]
    #[pyo3(signature = (registry, external_labels = Vec::new(), send_native_histograms = false))]
    fn new(
        registry: &PyRegistry,
        external_labels: Vec<(String, String)>,
        send_native_histograms: bool,
    ) -> PyResult<Self> {
        let cache = SeriesCache::new(external_labels).py()?.send_native_histograms(send_native_histograms);
        let cache = Mutex::new(cache);
        Ok(PyRemoteWriteEncoder { registry: registry.inner.clone(), cache })
    }

    /// The request (snappy-compressed `WriteRequest`) for a scrape now, stamped `timestamp_ms`.
    fn encode<'py>(&self, py: Python<'py>, timestamp_ms: i64) -> PyResult<Bound<'py, PyBytes>> {
        let body = py
            .detach(|| {
                let mut samples = Vec::new();
                self.cache.lock().scrape(&self.registry, &Options::default(), timestamp_ms, &mut samples)?;
                Ok::<_, Error>(encode_body(&samples, &mut Vec::new(), &mut snap::raw::Encoder::new()))
            })
            .py()?;
        Ok(PyBytes::new(py, &body))
    }
}

/// A running remote write sender (two threads of its own).
#[pyclass(module = "obsagent._native", name = "RemoteWriter", frozen)]
pub struct PyRemoteWriter {
    writer: Mutex<Option<RemoteWriter>>,
    url: String,
}

/// A remote writer's settings as Python's `obsagent.config.RemoteWriteSettings` holds them.
#[derive(FromPyObject)]
struct RemoteWriteSettings {
    url: String,
    interval: f64,
    external_labels: Vec<(String, String)>,
    username: Option<String>,
    password: Option<String>,
    bearer_token: Option<String>,
    max_buffer_samples: usize,
    max_samples_per_send: usize,
    timeout: f64,
    min_backoff: f64,
    max_backoff: f64,
    created: bool,
    queue_dir: Option<std::path::PathBuf>,
    queue_max_bytes: u64,
    queue_fsync_interval: f64,
    min_shards: usize,
    max_shards: usize,
    send_native_histograms: bool,
}

impl RemoteWriteSettings {
    fn config(self) -> Result<Config> {
        Ok(Config {
            url: self.url,
            interval: seconds(self.interval, "interval")?,
            external_labels: self.external_labels,
            auth: Auth::new(self.username, self.password, self.bearer_token)?,
            max_buffer_samples: self.max_buffer_samples,
            max_samples_per_send: self.max_samples_per_send,
            timeout: seconds(self.timeout, "timeout")?,
            min_backoff: seconds(self.min_backoff, "min_backoff")?,
            max_backoff: seconds(self.max_backoff, "max_backoff")?,
            options: Options { created: self.created, ..Options::default() },
            queue_dir: self.queue_dir,
            queue_max_bytes: self.queue_max_bytes,
            // 0: after each scrape's batches.
            queue_fsync: match seconds_or_zero(self.queue_fsync_interval, "queue_fsync_interval")? {
                interval if interval.is_zero() => Fsync::Batch,
                interval => Fsync::Every(interval),
            },
            min_shards: self.min_shards,
            max_shards: self.max_shards,
            send_native_histograms: self.send_native_histograms,
        })
    }
}

#[pymethods]
impl PyRemoteWriter {
    #[new]
    fn new(py: Python<'_>, registry: &PyRegistry, settings: RemoteWriteSettings) -> PyResult<Self> {
        let config = settings.config().py()?;
        let (url, inner) = (config.url.clone(), registry.inner.clone());
        let writer = py.detach(move || RemoteWriter::start(config, inner)).py()?;
        Ok(PyRemoteWriter { writer: Mutex::new(Some(writer)), url })
    }

    /// The receiver's URL.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// Samples waiting to be sent.
    #[getter]
    fn queued(&self) -> usize {
        self.writer.lock().as_ref().map_or(0, RemoteWriter::queued)
    }

    /// Shards sending now.
    #[getter]
    fn shards(&self) -> usize {
        self.writer.lock().as_ref().map_or(0, RemoteWriter::shards)
    }

    /// Scrapes now and waits until everything queued is sent; whether it was within `timeout`.
    #[pyo3(signature = (timeout = 30.0))]
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let timeout = seconds(timeout, "timeout").py()?;
        // The writer's own scrape may run Python collectors: never wait holding the GIL.
        Ok(py.detach(|| self.writer.lock().as_ref().is_none_or(|w| w.flush(timeout))))
    }

    /// Scrapes a last time, sends what is queued for at most `timeout` seconds, and stops; its
    /// counts stay in the self-metrics as long as this object lives.
    #[pyo3(signature = (timeout = 5.0))]
    fn stop(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let timeout = seconds_or_zero(timeout, "timeout").py()?;
        // Kept after stopping, so its counts stay in the self-metrics while this object lives.
        let writer = self.writer.lock().take();
        let writer = py.detach(move || {
            writer.map(|mut writer| {
                writer.stop(timeout);
                writer
            })
        });
        *self.writer.lock() = writer;
        Ok(())
    }
}

impl Drop for PyRemoteWriter {
    /// A writer dropped unstopped stops here, detached: its last scrape may need the GIL.
    fn drop(&mut self) {
        if let Some(writer) = self.writer.get_mut().take() {
            Python::attach(|py| py.detach(move || drop(writer)));
        }
    }
}

/// Adds the push functions and `RemoteWriter` to the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyRemoteWriter>()?;
    module.add_function(wrap_pyfunction!(pushgateway_url, module)?)?;
    module.add_function(wrap_pyfunction!(pushgateway_body, module)?)?;
    module.add_function(wrap_pyfunction!(pushgateway_protobuf, module)?)?;
    module.add_function(wrap_pyfunction!(pushgateway_request, module)?)?;
    module.add_class::<PyRemoteWriteEncoder>()?;
    Ok(())
}
