//! `start_http_server` and the pieces the WSGI/ASGI apps share with the server: format choice
//! and gzip. Stopping detaches from the interpreter first, since the server thread may be
//! waiting for it inside a Python collector.

use super::error::IntoPy;
use super::registry::PyRegistry;
use crate::clock::seconds;
use crate::encode;
use crate::registry::Options;
use crate::serve::{self, ServerHandle};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A running HTTP server.
#[pyclass(module = "obsagent._native", name = "Server", frozen)]
pub struct PyServer {
    handle: Mutex<Option<ServerHandle>>,
    address: std::net::SocketAddr,
}

#[pymethods]
impl PyServer {
    /// The bound port (useful after asking for port 0).
    #[getter]
    fn port(&self) -> u16 {
        self.address.port()
    }

    /// The bound address, `host:port`.
    #[getter]
    fn address(&self) -> String {
        self.address.to_string()
    }

    /// Stops the server and waits for its thread; calling it twice is harmless.
    fn stop(&self, py: Python<'_>) {
        let handle = self.handle.lock().take();
        py.detach(move || drop(handle));
    }
}

/// The server's settings as Python's `obsagent.config.ServeSettings` holds them.
#[derive(FromPyObject)]
struct ServeSettings {
    host: String,
    port: u16,
    created: bool,
    max_requests: usize,
    header_read_timeout: f64,
    web_config_file: Option<String>,
}

/// Serves `registry` from a background thread as `settings` say.
#[pyfunction]
fn start_http_server(py: Python<'_>, registry: &PyRegistry, settings: ServeSettings) -> PyResult<PyServer> {
    let limits = serve::Limits {
        max_requests: settings.max_requests,
        header_read_timeout: seconds(settings.header_read_timeout, "header_read_timeout").py()?,
    };
    let address = serve::resolve(&settings.host, settings.port).py()?;
    let inner = registry.inner.clone();
    let options = Options { created: settings.created, ..Options::default() };
    let web =
        settings.web_config_file.map(|path| serve::WebConfig::load(std::path::Path::new(&path))).transpose().py()?;
    let handle = py.detach(move || serve::start(address, inner, options, limits, web)).py()?;
    Ok(PyServer { address: handle.address(), handle: Mutex::new(Some(handle)) })
}

/// `(is_openmetrics, content_type)` for an `Accept` header.
#[pyfunction]
#[pyo3(signature = (accept = None))]
fn choose_format(accept: Option<&str>) -> (bool, &'static str) {
    let format = encode::negotiate_among(accept, false);
    (format == encode::Format::OpenMetrics, format.content_type())
}

/// Whether an `Accept-Encoding` header allows gzip.
#[pyfunction]
#[pyo3(signature = (accept_encoding = None))]
fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    encode::accepts_gzip(accept_encoding)
}

/// gzip-compresses `data` with the GIL released.
#[pyfunction]
fn gzip<'py>(py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
    let compressed = py.detach(|| encode::gzip(data));
    PyBytes::new(py, &compressed)
}

/// Freezes the clock used for `_created` and `set_to_current_time` (None thaws it). For tests.
#[pyfunction]
#[pyo3(signature = (seconds))]
fn _freeze_time(seconds: Option<f64>) {
    crate::clock::freeze(seconds);
}

/// Adds the server functions to the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyServer>()?;
    module.add_function(wrap_pyfunction!(start_http_server, module)?)?;
    module.add_function(wrap_pyfunction!(choose_format, module)?)?;
    module.add_function(wrap_pyfunction!(accepts_gzip, module)?)?;
    module.add_function(wrap_pyfunction!(gzip, module)?)?;
    module.add_function(wrap_pyfunction!(_freeze_time, module)?)?;
    Ok(())
}
