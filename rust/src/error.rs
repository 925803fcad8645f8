//! The core's one error type. Every message names what was wrong and with which metric, so the
//! Python layer can raise it as-is (`py/error.rs` picks the exception class from the variant).
//! No pyo3 here: the core builds and tests without Python.

use std::fmt;

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the core can refuse or fail at. Variant fields are named for what they hold.
#[allow(missing_docs)]
#[derive(Debug)]
pub enum Error {
    /// A metric name outside `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidMetricName(String),
    /// A label name outside `[a-zA-Z_][a-zA-Z0-9_]*`, or starting with `__`.
    InvalidLabelName(String),
    /// A label name the metric type reserves (`le`, `quantile`) or one given twice.
    ReservedLabelName { metric: String, label: String, reason: &'static str },
    /// `labels()` with the wrong number of values, or names that don't match.
    LabelMismatch { metric: String, expected: Vec<String>, detail: String },
    /// An update on a labeled metric without `labels()` first, or `labels()` on an unlabeled one.
    LabelUsage(String),
    /// A counter increment below zero.
    NegativeIncrement { metric: String, amount: f64 },
    /// A value that is not usable where it was given (bucket bounds, enum states, info keys).
    InvalidValue(String),
    /// A value of the wrong type (a buffer of the wrong element type, a string for a list).
    WrongType(String),
    /// Two collectors exporting the same series names.
    Duplicate(Vec<String>),
    /// A collector failed while being collected.
    Collect { collector: String, message: String },
    /// Sockets, files, threads.
    Io(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidMetricName(name) => {
                write!(f, "Invalid metric name: {name:?} (must match [a-zA-Z_:][a-zA-Z0-9_:]*)")
            }
            Error::InvalidLabelName(name) => {
                write!(f, "Invalid label name: {name:?} (must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __)")
            }
            Error::ReservedLabelName { metric, label, reason } => {
                write!(f, "Invalid label name {label:?} for {metric:?}: {reason}")
            }
            Error::LabelMismatch { metric, expected, detail } => {
                write!(f, "Incorrect labels for {metric:?}: expected {expected:?}, {detail}")
            }
            Error::LabelUsage(message) => f.write_str(message),
            Error::NegativeIncrement { metric, amount } => {
                write!(f, "Counters can only be incremented by non-negative amounts: {metric:?} got {amount}")
            }
            Error::InvalidValue(message) | Error::WrongType(message) => f.write_str(message),
            Error::Duplicate(names) => {
                write!(f, "Duplicated timeseries in CollectorRegistry: {{")?;
                for (i, name) in names.iter().enumerate() {
                    write!(f, "{}'{name}'", if i > 0 { ", " } else { "" })?;
                }
                write!(f, "}}")
            }
            Error::Collect { collector, message } => write!(f, "collector {collector} failed: {message}"),
            Error::Io(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::Io(err)
    }
}
