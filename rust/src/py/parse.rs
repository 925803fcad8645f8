//! The text parsers' binding: the text is parsed with the GIL released (`parse::text`,
//! `parse::openmetrics`), then the families are made into Python values with it held:
//! `obsagent.samples`' `Sample`, `Timestamp`, `Exemplar`, `NativeHistogram` and `BucketSpan`.
//! Samples are made as `tuple.__new__` makes them (no Python call per line) and the names,
//! label names and short label values, repeated on most lines, become one Python string each
//! (immutable, so sharing them is safe; it also saves the caller their memory), found first
//! where the last line had them. A label dict with the last one's names is a copy of it with
//! the values that differ set, and a sample of plain values is left to no cyclic collection.
//! `StreamParser` does the same per piece of a text read in pieces.

use crate::parse::{self, Exemplar, Family, Labels, NativeHistogram, Number, ParseError, Parsed, Sample, Stamp};
use pyo3::exceptions::{PyAttributeError, PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};
use smallvec::SmallVec;
use std::collections::HashMap;
use std::os::raw::c_void;

/// Registers the parser functions.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(parse_text, module)?)?;
    module.add_function(wrap_pyfunction!(parse_openmetrics, module)?)?;
    module.add_function(wrap_pyfunction!(parse_labels, module)?)?;
    module.add_class::<StreamParser>()?;
    Ok(())
}

/// The exception prometheus_client raises for the same text.
fn to_exception(error: ParseError) -> PyErr {
    match error {
        ParseError::Value(message) => PyValueError::new_err(message),
        ParseError::Key(message) => PyKeyError::new_err(message),
        ParseError::Type(message) => PyTypeError::new_err(message),
        ParseError::Attribute(message) => PyAttributeError::new_err(message),
    }
}

/// Parses Prometheus text (0.0.4): `([(name, documentation, type, unit, [Sample, ...]), ...],
/// the exception to raise after them or None)`.
#[pyfunction]
fn parse_text<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyTuple>> {
    let parsed = py.detach(|| parse::text::parse(text));
    Builder::new(py)?.parsed(parsed)
}

/// Parses OpenMetrics text (1.0), returned as `parse_text` returns it.
#[pyfunction]
fn parse_openmetrics<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyTuple>> {
    let parsed = py.detach(|| parse::openmetrics::parse(text));
    Builder::new(py)?.parsed(parsed)
}

/// Either format's stream.
enum Format {
    Text(parse::text::Stream),
    OpenMetrics(Box<parse::openmetrics::Stream>),
}

/// A text read in pieces (`text_fd_to_metric_families`): `feed` takes the next piece and
/// returns the families completed so far as `parse_text` returns them, `finish` the rest.
/// Each piece's lines are parsed with the GIL released.
#[pyclass(module = "obsagent._native")]
struct StreamParser {
    lines: parse::LineBuffer,
    format: Format,
}

impl StreamParser {
    fn read<'py>(&mut self, py: Python<'py>, lines: &str, end: bool) -> PyResult<Bound<'py, PyTuple>> {
        let format = &mut self.format;
        let parsed = py.detach(|| match (format, end) {
            (Format::Text(stream), false) => stream.read(lines),
            (Format::Text(stream), true) => stream.end(lines),
            (Format::OpenMetrics(stream), false) => stream.read(lines),
            (Format::OpenMetrics(stream), true) => stream.end(lines),
        });
        Builder::new(py)?.parsed(parsed)
    }
}

#[pymethods]
impl StreamParser {
    #[new]
    #[pyo3(signature = (openmetrics = false))]
    fn new(openmetrics: bool) -> Self {
        let format = if openmetrics {
            Format::OpenMetrics(Box::default())
        } else {
            Format::Text(parse::text::Stream::default())
        };
        StreamParser { lines: parse::LineBuffer::default(), format }
    }

    /// The families the lines completed by `piece` complete, and the error that stopped the
    /// parse or None (then nothing more is to be fed).
    fn feed<'py>(&mut self, py: Python<'py>, piece: &str) -> PyResult<Bound<'py, PyTuple>> {
        let lines = self.lines.lines(piece);
        self.read(py, &lines, false)
    }

    /// The families the rest of the text completes, the last one included, and the error (an
    /// OpenMetrics text without `# EOF` included) or None.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let rest = self.lines.rest();
        self.read(py, &rest, true)
    }
}

/// A label set's inside as a dict, raising `ValueError` as prometheus_client's `parse_labels`.
#[pyfunction]
#[pyo3(signature = (labels_string, openmetrics = false))]
fn parse_labels<'py>(py: Python<'py>, labels_string: &str, openmetrics: bool) -> PyResult<Bound<'py, PyDict>> {
    let labels = parse::parse_labels(labels_string, openmetrics).map_err(to_exception)?;
    let dict = PyDict::new(py);
    for (name, value) in labels {
        dict.set_item(name, value)?;
    }
    Ok(dict)
}

struct Classes {
    int: Py<PyAny>,
    sample: Py<PyType>,
    timestamp: Py<PyAny>,
    exemplar: Py<PyAny>,
    native_histogram: Py<PyAny>,
    bucket_span: Py<PyAny>,
}

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();
    CLASSES.get_or_try_init(py, || {
        let samples = py.import("obsagent.samples")?;
        let builtins = py.import("builtins")?;
        Ok(Classes {
            int: builtins.getattr("int")?.unbind(),
            sample: samples.getattr("Sample")?.cast_into::<PyType>()?.unbind(),
            timestamp: samples.getattr("Timestamp")?.unbind(),
            exemplar: samples.getattr("Exemplar")?.unbind(),
            native_histogram: samples.getattr("NativeHistogram")?.unbind(),
            bucket_span: samples.getattr("BucketSpan")?.unbind(),
        })
    })
}

/// Label values up to this many bytes are shared like names (most repeat: a path, a method,
/// a bucket bound on every line of its series); longer ones are made each time.
const SHARED_VALUE_LEN: usize = 64;

/// A label set's names and values as Python strings, in order.
type LabelItems<'py> = SmallVec<[(Bound<'py, PyString>, Bound<'py, PyString>); 4]>;

/// Label positions whose last name and value are remembered (`Builder::recent`).
const RECENT_SLOTS: usize = 16;

/// Makes Python values of parsed families, one Python string per distinct name (and short
/// label value) in a parse.
struct Builder<'py> {
    py: Python<'py>,
    classes: &'py Classes,
    names: HashMap<String, Bound<'py, PyString>, foldhash::fast::RandomState>,
    last_name: Option<(String, Bound<'py, PyString>)>,
    /// The last sample's label names and values by position (name of label i at 2i, its
    /// value at 2i+1): the next line mostly repeats them, found so without hashing.
    recent: Vec<(String, Bound<'py, PyString>)>,
    /// The last label dict made and its items (unchanged: no Python code runs meanwhile).
    last_dict: Option<(Bound<'py, PyDict>, LabelItems<'py>)>,
    /// `Sample`'s `tp_alloc`, to make its instances as `tuple.__new__(Sample, fields)` does.
    sample_alloc: pyo3::ffi::allocfunc,
}

impl<'py> Builder<'py> {
    fn new(py: Python<'py>) -> PyResult<Self> {
        let classes = classes(py)?;
        // SAFETY: `Sample` is a live type object (kept by `classes`); every type has a tp_alloc
        // slot (inherited from `tuple`), and `PyType_GetSlot` reads it for heap types.
        let slot = unsafe { pyo3::ffi::PyType_GetSlot(classes.sample.as_ptr().cast(), pyo3::ffi::Py_tp_alloc) };
        if slot.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: the Py_tp_alloc slot holds an `allocfunc`.
        let sample_alloc = unsafe { std::mem::transmute::<*mut c_void, pyo3::ffi::allocfunc>(slot) };
        Ok(Builder {
            py,
            classes,
            names: HashMap::default(),
            last_name: None,
            recent: Vec::new(),
            last_dict: None,
            sample_alloc,
        })
    }

    fn parsed(mut self, parsed: Parsed<'_>) -> PyResult<Bound<'py, PyTuple>> {
        let families = PyList::empty(self.py);
        for family in parsed.families {
            families.append(self.family(family)?)?;
        }
        let error = match parsed.error {
            Some(error) => to_exception(error).into_value(self.py).into_any(),
            None => self.py.None(),
        };
        PyTuple::new(self.py, [families.into_any(), error.into_bound(self.py)])
    }

    fn name(&mut self, name: &str) -> Bound<'py, PyString> {
        // Consecutive lines mostly repeat the sample name: compare with the last one first.
        if let Some((last, string)) = &self.last_name {
            if last == name {
                return string.clone();
            }
        }
        let string = self.shared(name);
        self.last_name = Some((name.to_owned(), string.clone()));
        string
    }

    fn shared(&mut self, name: &str) -> Bound<'py, PyString> {
        if let Some(string) = self.names.get(name) {
            return string.clone();
        }
        let string = PyString::new(self.py, name);
        self.names.insert(name.to_owned(), string.clone());
        string
    }

    /// `shared(text)`, looked at first in the `recent` slot given.
    fn shared_at(&mut self, slot: usize, text: &str) -> Bound<'py, PyString> {
        if let Some((last, string)) = self.recent.get(slot) {
            if last == text {
                return string.clone();
            }
        }
        let string = self.shared(text);
        if let Some((last, recent)) = self.recent.get_mut(slot) {
            last.clear();
            last.push_str(text);
            *recent = string.clone();
        } else if slot == self.recent.len() && slot < RECENT_SLOTS {
            self.recent.push((text.to_owned(), string.clone()));
        }
        string
    }

    fn family(&mut self, family: Family<'_>) -> PyResult<Bound<'py, PyTuple>> {
        let samples = PyList::empty(self.py);
        for sample in family.samples {
            samples.append(self.sample(sample)?)?;
        }
        PyTuple::new(
            self.py,
            [
                PyString::new(self.py, &family.name).into_any(),
                PyString::new(self.py, &family.documentation).into_any(),
                PyString::new(self.py, &family.typ).into_any(),
                PyString::new(self.py, &family.unit).into_any(),
                samples.into_any(),
            ],
        )
    }

    fn labels(&mut self, labels: Labels<'_>) -> PyResult<Bound<'py, PyDict>> {
        let mut items = LabelItems::new();
        for (position, (name, value)) in labels.into_iter().enumerate() {
            let value = if value.len() <= SHARED_VALUE_LEN {
                self.shared_at(2 * position + 1, &value)
            } else {
                PyString::new(self.py, &value)
            };
            items.push((self.shared_at(2 * position, &name), value));
        }
        let dict = match &self.last_dict {
            // The same names in the same order as the last set (most lines): its copy, with the
            // values that differ set, costs less than a dict built anew.
            Some((last, last_items))
                if last_items.len() == items.len()
                    && last_items.iter().zip(&items).all(|((seen, _), (name, _))| seen.is(name)) =>
            {
                let dict = last.copy()?;
                for ((_, seen), (name, value)) in last_items.iter().zip(&items) {
                    if !seen.is(value) {
                        dict.set_item(name, value)?;
                    }
                }
                dict
            }
            _ => {
                let dict = PyDict::new(self.py);
                for (name, value) in &items {
                    dict.set_item(name, value)?;
                }
                dict
            }
        };
        self.last_dict = Some((dict.clone(), items));
        Ok(dict)
    }

    fn number(&self, number: Number) -> PyResult<Bound<'py, PyAny>> {
        Ok(match number {
            Number::Int(value) => value.into_pyobject(self.py)?.into_any(),
            Number::Float(value) => value.into_pyobject(self.py)?.into_any(),
            Number::BigInt(digits, _) => self.classes.int.bind(self.py).call1((digits,))?,
        })
    }

    fn stamp(&self, stamp: Option<Stamp>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match stamp {
            None => self.py.None().into_bound(self.py),
            Some(Stamp::Float(seconds)) => seconds.into_pyobject(self.py)?.into_any(),
            Some(Stamp::Exact { sec, nsec }) => self.classes.timestamp.bind(self.py).call1((sec, nsec))?,
        })
    }

    fn exemplar(&mut self, exemplar: Option<Box<Exemplar<'_>>>) -> PyResult<Bound<'py, PyAny>> {
        let Some(exemplar) = exemplar.map(|boxed| *boxed) else {
            return Ok(self.py.None().into_bound(self.py));
        };
        let labels = self.labels(exemplar.labels)?;
        let value = self.number(exemplar.value)?;
        let timestamp = self.stamp(exemplar.timestamp)?;
        self.classes.exemplar.bind(self.py).call1((labels, value, timestamp))
    }

    fn native_histogram(&self, histogram: Option<Box<NativeHistogram>>) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        let Some(histogram) = histogram.map(|boxed| *boxed) else {
            return Ok(py.None().into_bound(py));
        };
        let spans = |spans: Option<Vec<(i64, i64)>>| -> PyResult<Bound<'py, PyAny>> {
            match spans {
                None => Ok(py.None().into_bound(py)),
                Some(spans) => {
                    let made = spans
                        .into_iter()
                        .map(|(offset, length)| self.classes.bucket_span.bind(py).call1((offset, length)))
                        .collect::<PyResult<Vec<_>>>()?;
                    Ok(PyTuple::new(py, made)?.into_any())
                }
            }
        };
        let deltas = |deltas: Option<Vec<i64>>| -> PyResult<Bound<'py, PyAny>> {
            match deltas {
                None => Ok(py.None().into_bound(py)),
                Some(deltas) => Ok(PyTuple::new(py, deltas)?.into_any()),
            }
        };
        self.classes.native_histogram.bind(py).call1((
            self.number(histogram.count)?,
            histogram.sum,
            self.number(histogram.schema)?,
            histogram.zero_threshold,
            self.number(histogram.zero_count)?,
            spans(histogram.positive_spans)?,
            spans(histogram.negative_spans)?,
            deltas(histogram.positive_deltas)?,
            deltas(histogram.negative_deltas)?,
        ))
    }

    fn sample(&mut self, sample: Sample<'_>) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        let name = self.name(&sample.name).into_any();
        let labels = match sample.labels {
            Some(labels) => self.labels(labels)?.into_any(),
            None => py.None().into_bound(py),
        };
        let value = match sample.value {
            Some(value) => self.number(value)?,
            None => py.None().into_bound(py),
        };
        let timestamp = self.stamp(sample.timestamp)?;
        let exemplar = self.exemplar(sample.exemplar)?;
        let native_histogram = self.native_histogram(sample.native_histogram)?;
        let fields = [name, labels, value, timestamp, exemplar, native_histogram];
        // SAFETY: each field is a live object.
        let untracked = fields.iter().all(|field| unsafe { pyo3::ffi::PyObject_GC_IsTracked(field.as_ptr()) } == 0);
        // `Sample` is a `tuple` subclass without `__dict__` (a NamedTuple): an instance is its
        // type's allocation of 6 items, filled, which is what `tuple.__new__` makes, without
        // an argument tuple to build, copy and free per line.
        // SAFETY: tp_alloc returns a new reference to a zeroed tuple of `Sample` with 6 empty
        // slots (or NULL with an exception set); each `PyTuple_SetItem` steals one new
        // reference into a slot of this object, which nothing else references yet.
        unsafe {
            let sample =
                (self.sample_alloc)(self.classes.sample.as_ptr().cast(), fields.len() as pyo3::ffi::Py_ssize_t);
            if sample.is_null() {
                return Err(PyErr::fetch(py));
            }
            let sample = Bound::from_owned_ptr(py, sample);
            for (index, field) in fields.into_iter().enumerate() {
                if pyo3::ffi::PyTuple_SetItem(sample.as_ptr(), index as pyo3::ffi::Py_ssize_t, field.into_ptr()) != 0 {
                    return Err(PyErr::fetch(py));
                }
            }
            // Holding only strings, numbers, None and a dict of strings, the sample is in no
            // reference cycle: the cyclic collector need not walk it (CPython untracks a plain
            // tuple of such items itself). A parse makes as many samples as lines, which the
            // first collection after it would otherwise walk all of. The one way into a cycle
            // left is a caller putting into `sample.labels` an object that refers back to the
            // sample: that cycle would not be collected (labels are strings to every reader).
            if untracked {
                pyo3::ffi::PyObject_GC_UnTrack(sample.as_ptr().cast());
            }
            Ok(sample)
        }
    }
}
