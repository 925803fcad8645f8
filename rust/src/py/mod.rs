//! The Python binding: the only place that uses PyO3. Each class wraps one core value and each
//! method is one call into the core; every core error goes through `error::to_py`.

mod error;
mod gpu;
mod metric;
mod multiprocess;
mod parse;
mod push;
mod registry;
mod serve;

use pyo3::prelude::*;

/// Fills the `obsagent._native` module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    gpu::register(module)?;
    metric::register(module)?;
    push::register(module)?;
    registry::register(module)?;
    serve::register(module)?;
    multiprocess::register(module)?;
    parse::register(module)?;
    module.add_function(wrap_pyfunction!(validate_metric_name, module)?)?;
    module.add_function(wrap_pyfunction!(validate_label_name, module)?)?;
    Ok(())
}

/// Raises `ValueError` unless `name` is a valid metric name.
#[pyfunction]
fn validate_metric_name(name: &str) -> PyResult<()> {
    crate::key::validate_metric_name(name).map_err(error::to_py)
}

/// Raises `ValueError` unless `name` is a valid label name.
#[pyfunction]
fn validate_label_name(name: &str) -> PyResult<()> {
    crate::key::validate_label_name(name).map_err(error::to_py)
}
