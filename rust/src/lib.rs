//! obsagent's native core: metric cells, registry, exposition, HTTP server, collectors and push.
//! The Python binding lives in `py/` (feature `python`); everything else builds without it.
//! ARCHITECTURE.md maps the modules and the paths a value takes through them.

pub mod clock;
pub mod collect;
pub mod encode;
pub mod error;
pub mod escape;
pub mod key;
pub mod log;
pub mod metric;
pub mod multiprocess;
pub mod number;
pub mod parse;
pub mod push;
pub mod region;
pub mod registry;
pub mod serve;

#[cfg(feature = "python")]
mod py;

#[cfg(feature = "python")]
#[pyo3::pymodule(name = "_native")]
fn native(module: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
    py::register(module)
}
