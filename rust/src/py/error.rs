//! The one mapping from core errors to Python exceptions: bad input is a `ValueError` (as in
//! prometheus_client), input of the wrong type a `TypeError`, failures of the system an
//! `OSError`, a failing collector a `RuntimeError`, a name registered twice prometheus_client's
//! `DuplicateTimeseries` (a `ValueError`).

use crate::error::Error;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::PyErr;

pyo3::create_exception!(
    _native,
    DuplicateTimeseries,
    PyValueError,
    "A name registered twice in one registry (a `ValueError`, as in prometheus_client)."
);

/// Converts a core error into the Python exception a prometheus_client user expects.
pub fn to_py(err: Error) -> PyErr {
    match err {
        Error::Duplicate(_) => DuplicateTimeseries::new_err(err.to_string()),
        Error::Io(io) => PyOSError::new_err(io.to_string()),
        Error::Collect { .. } => PyRuntimeError::new_err(err.to_string()),
        Error::WrongType(message) => PyTypeError::new_err(message),
        other => PyValueError::new_err(other.to_string()),
    }
}

/// `Result` into `PyResult`.
pub trait IntoPy<T> {
    /// Maps the error with [`to_py`].
    fn py(self) -> pyo3::PyResult<T>;
}

impl<T> IntoPy<T> for crate::error::Result<T> {
    fn py(self) -> pyo3::PyResult<T> {
        self.map_err(to_py)
    }
}
