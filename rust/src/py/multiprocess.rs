//! Multiprocess mode from Python: turning it on, the fork hooks `obsagent.multiprocess`
//! registers with `os.register_at_fork`, and folding exited processes on demand.

use super::error::IntoPy;
use crate::error::Error;
use crate::multiprocess::Aggregator;
use crate::region::writer;
use pyo3::prelude::*;
use std::path::PathBuf;

/// Turns multiprocess mode on with `directory`; returns this process' file.
#[pyfunction]
fn multiprocess_enable(directory: PathBuf) -> PyResult<PathBuf> {
    writer::enable(&directory).map_err(Error::Io).py()
}

/// The directory in use, or None when multiprocess mode is off.
#[pyfunction]
fn multiprocess_directory() -> Option<PathBuf> {
    writer::directory()
}

/// Called just before `fork()`.
#[pyfunction]
fn multiprocess_before_fork() {
    writer::before_fork();
}

/// Called in the parent after `fork()`.
#[pyfunction]
fn multiprocess_after_fork_in_parent() {
    writer::after_fork_in_parent();
}

/// Called in the child after `fork()`: gives it a file of its own.
#[pyfunction]
fn multiprocess_after_fork_in_child() -> PyResult<()> {
    writer::after_fork_in_child().map_err(Error::Io).py()
}

/// Called at interpreter exit (`atexit`): the series of metrics Python tears down stay in this
/// process' file, so that readers count them among the retired totals.
#[pyfunction]
fn multiprocess_at_exit() {
    writer::process_exiting();
}

/// Folds the files of exited processes in `directory` into its retired totals.
#[pyfunction]
fn multiprocess_fold_exited(py: Python<'_>, directory: PathBuf) -> PyResult<()> {
    py.detach(|| Aggregator::new(&directory)?.fold_exited()).py()
}

/// Adds the multiprocess functions to the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(multiprocess_enable, module)?)?;
    module.add_function(wrap_pyfunction!(multiprocess_directory, module)?)?;
    module.add_function(wrap_pyfunction!(multiprocess_before_fork, module)?)?;
    module.add_function(wrap_pyfunction!(multiprocess_after_fork_in_parent, module)?)?;
    module.add_function(wrap_pyfunction!(multiprocess_after_fork_in_child, module)?)?;
    module.add_function(wrap_pyfunction!(multiprocess_at_exit, module)?)?;
    module.add_function(wrap_pyfunction!(multiprocess_fold_exited, module)?)?;
    Ok(())
}
