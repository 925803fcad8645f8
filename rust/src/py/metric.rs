//! Python classes for the metric types: `Counter`, `Gauge`, `Histogram`, `Summary`, `Info`,
//! `Enum`, all sharing the `_Metric` base that holds the family and, for a child or an
//! unlabeled metric, its series.
//!
//! Classes are frozen, so an update is one fastcall, one number conversion and one atomic
//! operation, with no borrow flag. A series costs no Python memory: `labels()` looks the series up
//! in the core and makes a child object for it, except for the label sets used most recently,
//! whose children wait in a small fixed-size cache keyed by the argument strings themselves
//! (their hash is cached by Python; pointer equality first, string equality after).
//! The `time()`, `count_exceptions()` and `track_inprogress()` helpers are small Python classes
//! (`obsagent.context_managers`), called back through their methods here.

use super::error::{to_py, IntoPy};
use super::registry::family_to_py;
use crate::clock;
use crate::error::Error;
use crate::key;
use crate::metric::exemplar::{Exemplar, Time as ExemplarTime};
use crate::metric::{
    counter, gauge, histogram, native_histogram, stateset, summary, summary_quantiles, GaugeMode, Kind,
};
use crate::registry::family::Declaration;
use crate::registry::{Family, Series};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyMemoryView, PyString, PyTuple};
use pyo3::PyClass;
use smallvec::SmallVec;
use std::sync::Arc;

/// The base of every metric class: a family, and the series this object updates.
#[pyclass(module = "obsagent._native", name = "_Metric", subclass, frozen)]
pub struct PyMetric {
    pub(super) family: Arc<Family>,
    series: Option<Series>,
    /// Only on a labeled parent.
    lookup: Option<Lookup>,
}

/// Slots in a parent's cache of recent children (a power of two).
const CACHE_SLOTS: usize = 64;

/// What a labeled parent keeps to answer `labels()` fast.
struct Lookup {
    /// Label names as Python strings, for keyword calls.
    keys: Box<[Py<PyString>]>,
    /// Direct-mapped by the combined hash of the values; allocated on first use.
    cache: Mutex<Vec<Option<CachedChild>>>,
}

struct CachedChild {
    hash: isize,
    generation: u64,
    values: SmallVec<[Py<PyString>; 4]>,
    child: Py<PyAny>,
}

impl CachedChild {
    fn matches(&self, hash: isize, generation: u64, values: &[Bound<'_, PyString>]) -> bool {
        self.hash == hash
            && self.generation == generation
            && self.values.len() == values.len()
            && self.values.iter().zip(values).all(|(cached, value)| {
                cached.is(value)
                    || matches!((cached.bind(value.py()).to_str(), value.to_str()), (Ok(a), Ok(b)) if a == b)
            })
    }
}

impl PyMetric {
    fn new(kind: Kind, args: &CommonArgs<'_>) -> PyResult<PyMetric> {
        let label_names = extract_label_names(args.labelnames)?;
        let family = Family::declare(&args.declaration, kind, label_names).py()?;
        let py = args.labelnames.py();
        let (series, lookup) = if family.meta().label_names.is_empty() {
            let series = family.unlabeled().py()?;
            if let Some(seconds) = python_time_if_replaced(py)? {
                series.set_created(seconds);
            }
            (Some(series), None)
        } else {
            let keys = family.meta().label_names.iter().map(|name| PyString::intern(py, name).unbind()).collect();
            (None, Some(Lookup { keys, cache: Mutex::new(Vec::new()) }))
        };
        Ok(PyMetric { family, series, lookup })
    }

    /// The series this object updates, or the error for a labeled metric used without labels.
    #[inline]
    fn series(&self) -> PyResult<&Series> {
        self.series
            .as_ref()
            .ok_or_else(|| to_py(self.family.unlabeled().expect_err("only a labeled parent lacks a series")))
    }

    /// The label values of a `labels()` call as strings, in label order.
    fn label_values<'py>(
        &self,
        lookup: &Lookup,
        values: &Bound<'py, PyTuple>,
        by_name: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<SmallVec<[Bound<'py, PyString>; 4]>> {
        let Some(kw) = by_name.filter(|kw| !kw.is_empty()) else {
            return values.iter().map(as_string).collect();
        };
        if !values.is_empty() {
            return Err(to_py(Error::LabelUsage("Can't pass both *args and **kwargs to labels()".into())));
        }
        let mismatch = || to_py(self.family.label_names_error(kw.keys().iter().map(|k| k.to_string()).collect()));
        if kw.len() != lookup.keys.len() {
            return Err(mismatch());
        }
        let py = values.py();
        lookup.keys.iter().map(|key| as_string(kw.get_item(key.bind(py))?.ok_or_else(mismatch)?)).collect()
    }

    /// The child object for a label set: from the cache, or from the core and then cached.
    fn child<'py, T>(
        &self,
        values: &Bound<'py, PyTuple>,
        by_name: Option<&Bound<'py, PyDict>>,
        subclass: T,
    ) -> PyResult<Bound<'py, T>>
    where
        T: PyClass<BaseType = PyMetric>,
    {
        let Some(lookup) = &self.lookup else {
            return Err(to_py(if self.family.meta().label_names.is_empty() {
                self.family.label_count_error(values.len())
            } else {
                self.family.chained_labels_error()
            }));
        };
        let py = values.py();
        let strings = self.label_values(lookup, values, by_name)?;
        let mut hash: isize = 0x5f37;
        for string in &strings {
            hash = hash.wrapping_mul(1_000_003) ^ string.hash()?;
        }
        let generation = self.family.generation();
        let slot = hash as usize & (CACHE_SLOTS - 1);
        if let Some(Some(cached)) = lookup.cache.lock().get(slot) {
            if cached.matches(hash, generation, &strings) {
                return cached.child.bind(py).clone().cast_into::<T>().map_err(Into::into);
            }
        }
        let texts: SmallVec<[&str; 4]> = strings.iter().map(|s| s.to_str()).collect::<PyResult<_>>()?;
        let (series, made) = self.family.labels_or_new(&texts).py()?;
        if made {
            if let Some(seconds) = python_time_if_replaced(py)? {
                series.set_created(seconds);
            }
        }
        let child = PyMetric { family: self.family.clone(), series: Some(series), lookup: None };
        let child = Bound::new(py, PyClassInitializer::from(child).add_subclass(subclass))?;
        let mut cache = lookup.cache.lock();
        if cache.is_empty() {
            cache.resize_with(CACHE_SLOTS, || None);
        }
        let values = strings.iter().map(|s| s.clone().unbind()).collect();
        cache[slot] = Some(CachedChild { hash, generation, values, child: child.clone().into_any().unbind() });
        Ok(child)
    }

    fn kind(&self) -> &Kind {
        &self.family.meta().kind
    }
}

/// A label value as a `str`: strings as they are, anything else through `str()`, as
/// prometheus_client does.
fn as_string(value: Bound<'_, PyAny>) -> PyResult<Bound<'_, PyString>> {
    match value.cast_into::<PyString>() {
        Ok(string) => Ok(string),
        Err(err) => err.into_inner().str(),
    }
}

/// Keeps `labels` (a dict of trace labels; empty or None: no exemplar, as prometheus_client's
/// `if exemplar:`) as slot `slot`'s exemplar of `series`, observed `value` now. The update it
/// rides on is already recorded when a bad exemplar raises, as in prometheus_client.
/// Python's `time.time()` while a test has replaced it: prometheus_client reads it for
/// `_created`, exemplar times and `set_to_current_time`, where obsagent's core keeps its own
/// clock. One attribute lookup, so it stays off the paths that run per update.
fn python_time_if_replaced(py: Python<'_>) -> PyResult<Option<f64>> {
    static CLOCK: PyOnceLock<(Py<PyModule>, Py<PyAny>)> = PyOnceLock::new();
    let (time, original) = CLOCK.get_or_try_init(py, || {
        let original = py.import("obsagent.metrics")?.getattr("_TIME")?.unbind();
        Ok::<_, PyErr>((py.import("time")?.unbind(), original))
    })?;
    let current = time.bind(py).getattr(pyo3::intern!(py, "time"))?;
    if current.is(original.bind(py)) {
        Ok(None)
    } else {
        current.call0()?.extract().map(Some)
    }
}

/// Seconds since the epoch, as prometheus_client would read them (see above).
fn now_as_python_sees_it(py: Python<'_>) -> PyResult<f64> {
    Ok(python_time_if_replaced(py)?.unwrap_or_else(clock::now))
}

fn set_exemplar(
    metric: &PyMetric,
    series: &Series,
    slot: usize,
    labels: &Bound<'_, PyAny>,
    value: f64,
) -> PyResult<()> {
    if labels.is_none() || !labels.is_truthy()? {
        return Ok(());
    }
    let labels = labels.cast::<PyDict>()?;
    let pairs =
        labels.iter().map(|(k, v)| Ok((k.extract::<String>()?, v.extract::<String>()?))).collect::<PyResult<_>>()?;
    let exemplar = Exemplar::new(pairs, value, ExemplarTime::Seconds(now_as_python_sees_it(labels.py())?)).py()?;
    metric.family.set_exemplar(series, slot, exemplar);
    Ok(())
}

fn extract_label_names(labelnames: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if labelnames.is_instance_of::<PyString>() {
        return Err(to_py(Error::WrongType("labelnames must be a sequence of strings, not a single string".into())));
    }
    labelnames.try_iter()?.map(|name| name?.extract::<String>()).collect()
}

struct CommonArgs<'a> {
    declaration: Declaration<'a>,
    labelnames: &'a Bound<'a, PyAny>,
}

#[pymethods]
impl PyMetric {
    #[getter]
    fn _name(&self) -> &str {
        &self.family.meta().name
    }

    #[getter]
    fn _documentation(&self) -> &str {
        &self.family.meta().help
    }

    #[getter]
    fn _type(&self) -> &'static str {
        self.kind().type_name()
    }

    #[getter]
    fn _unit(&self) -> &str {
        &self.family.meta().unit
    }

    #[getter]
    fn _labelnames<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.family.meta().label_names.iter())
    }

    #[getter]
    fn _labelvalues<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let names = &self.family.meta().label_names;
        let pairs = self.series.as_ref().map(|s| key::parse_rendered_with(s.labels(), names)).unwrap_or_default();
        PyTuple::new(py, pairs.into_iter().map(|(_, value)| value))
    }

    /// Removes one labeled child.
    #[pyo3(signature = (*labelvalues))]
    fn remove(&self, labelvalues: &Bound<'_, PyTuple>) -> PyResult<()> {
        let strings: Vec<Bound<'_, PyString>> = labelvalues.iter().map(as_string).collect::<PyResult<_>>()?;
        let texts: Vec<&str> = strings.iter().map(|s| s.to_str()).collect::<PyResult<_>>()?;
        self.family.remove(&texts).py()
    }

    /// Removes every labeled child.
    fn clear(&self) {
        self.family.clear();
    }

    /// The family as collect() would yield it.
    #[pyo3(signature = (created = false))]
    fn _samples<'py>(&self, py: Python<'py>, created: bool) -> PyResult<Bound<'py, PyTuple>> {
        family_to_py(py, &self.family.snapshot(created))
    }

    fn _registration_names(&self) -> Vec<String> {
        self.family.registration_names()
    }

    /// Sets this series' `_created` time, seconds since the epoch (prometheus_client reads
    /// `time.time()` for it; obsagent's core keeps its own clock).
    fn _set_created(&self, seconds: f64) -> PyResult<()> {
        self.series()?.set_created(seconds);
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("obsagent.{}({})", self.kind().type_name(), self.family.meta().name)
    }
}

fn context_managers(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE.get_or_try_init(py, || py.import("obsagent.context_managers").map(Bound::unbind)).map(|m| m.bind(py))
}

/// An instance of one of the `obsagent.context_managers` classes, made with `args`.
fn helper<'py>(py: Python<'py>, class: &str, args: impl pyo3::call::PyCallArgs<'py>) -> PyResult<Bound<'py, PyAny>> {
    context_managers(py)?.getattr(class)?.call1(args)
}

/// Declares a metric class: its constructor (prometheus_client's arguments, then the type's
/// own), `labels()`, and the methods given.
macro_rules! metric_class {
    (
        $(#[$doc:meta])* $rust:ident, $python:literal,
        ($($arg:ident: $ty:ty = $default:tt),*) => $kind:expr,
        { $($methods:tt)* }
    ) => {
        $(#[$doc])*
        #[pyclass(module = "obsagent._native", name = $python, extends = PyMetric, subclass, frozen)]
        pub struct $rust;

        #[pymethods]
        impl $rust {
            #[new]
            #[pyo3(signature = (
                name, documentation, labelnames = None, namespace = "", subsystem = "", unit = "",
                registry = None, _labelvalues = None $(, $arg = $default)*
            ))]
            #[allow(clippy::too_many_arguments, unused_variables)]
            fn new<'py>(
                py: Python<'py>,
                name: &str,
                documentation: &str,
                labelnames: Option<&Bound<'py, PyAny>>,
                namespace: &str,
                subsystem: &str,
                unit: &str,
                registry: Option<&Bound<'py, PyAny>>,
                _labelvalues: Option<&Bound<'py, PyAny>>,
                $($arg: $ty),*
            ) -> PyResult<PyClassInitializer<Self>> {
                let kind: Kind = $kind;
                let empty = PyTuple::empty(py).into_any();
                let labelnames = labelnames.unwrap_or(&empty);
                let declaration = Declaration { name, documentation, namespace, subsystem, unit };
                let args = CommonArgs { declaration, labelnames };
                Ok(PyClassInitializer::from(PyMetric::new(kind, &args)?).add_subclass($rust))
            }

            #[pyo3(signature = (*labelvalues, **labelkwargs))]
            fn labels<'py>(
                slf: &Bound<'py, Self>,
                labelvalues: &Bound<'py, PyTuple>,
                labelkwargs: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, Self>> {
                slf.as_super().get().child(labelvalues, labelkwargs, $rust)
            }

            $($methods)*
        }
    };
}

metric_class! {
    /// A monotonic total.
    PyCounter, "Counter", () => Kind::Counter,
    {
        /// Increments by `amount` (default 1), which must not be negative; `exemplar` (trace
        /// labels) is kept as the total's latest exemplar, as prometheus_client keeps it.
        #[pyo3(signature = (amount = 1.0, exemplar = None))]
        fn inc(slf: &Bound<'_, Self>, amount: f64, exemplar: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
            let metric = slf.as_super().get();
            let series = metric.series()?;
            counter::inc_checked(series.cells(), amount, &metric.family.meta().name).py()?;
            match exemplar {
                None => Ok(()),
                Some(labels) => set_exemplar(metric, series, 0, labels, amount),
            }
    }

    /// The current value (for tests; prometheus_client users read it as `_value.get()`).
    fn get(slf: &Bound<'_, Self>) -> PyResult<f64> {
        Ok(counter::get(slf.as_super().get().series()?.cells()))
    }

    /// The metric itself, which has `get()`: prometheus_client's `counter._value.get()` idiom.
    #[getter]
    fn _value<'py>(slf: &Bound<'py, Self>) -> Bound<'py, Self> {
        slf.clone()
    }

    /// Back to zero, the series' `_created` moved to now.
    fn reset(slf: &Bound<'_, Self>) -> PyResult<()> {
        let series = slf.as_super().get().series()?;
        counter::reset(series.cells());
        series.set_created(crate::clock::now());
        Ok(())
    }

    #[pyo3(signature = (exception = None))]
    fn count_exceptions<'py>(
        slf: &Bound<'py, Self>,
        exception: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let exception = match exception {
            Some(exception) => exception,
            None => slf.py().get_type::<pyo3::exceptions::PyException>().into_any(),
        };
        helper(slf.py(), "ExceptionCounter", (slf, exception))
    }
    }
}

metric_class! {
    /// A value that goes up and down.
    PyGauge, "Gauge", (multiprocess_mode: &str = "all") => Kind::Gauge { mode: GaugeMode::parse(multiprocess_mode).py()? },
    {
        /// Increments by `amount` (default 1).
        #[pyo3(signature = (amount = 1.0))]
        fn inc(slf: &Bound<'_, Self>, amount: f64) -> PyResult<()> {
            gauge::add(slf.as_super().get().series()?.cells(), amount);
            Ok(())
    }

    /// Decrements by `amount` (default 1).
    #[pyo3(signature = (amount = 1.0))]
    fn dec(slf: &Bound<'_, Self>, amount: f64) -> PyResult<()> {
        gauge::add(slf.as_super().get().series()?.cells(), -amount);
        Ok(())
    }

    /// Sets the value.
    fn set(slf: &Bound<'_, Self>, value: f64) -> PyResult<()> {
        gauge::set(slf.as_super().get().series()?.cells(), value);
        Ok(())
    }

    /// The current value (for tests; prometheus_client users read it as `_value.get()`).
    fn get(slf: &Bound<'_, Self>) -> PyResult<f64> {
        Ok(gauge::get(slf.as_super().get().series()?.cells()))
    }

    /// The metric itself, which has `get()` and `set()`: prometheus_client's `gauge._value`.
    #[getter]
    fn _value<'py>(slf: &Bound<'py, Self>) -> Bound<'py, Self> {
        slf.clone()
    }

    /// Sets the value to the current Unix time.
    fn set_to_current_time(slf: &Bound<'_, Self>) -> PyResult<()> {
        gauge::set(slf.as_super().get().series()?.cells(), now_as_python_sees_it(slf.py())?);
        Ok(())
    }

    /// Reports `f()` at each scrape (NaN when it raises or returns a non-number).
    fn set_function(slf: &Bound<'_, Self>, f: Py<PyAny>) -> PyResult<()> {
        let metric = slf.as_super().get();
        let series = metric.series()?.clone();
        let value_fn = move || Python::attach(|py| f.call0(py).and_then(|v| v.extract::<f64>(py)).unwrap_or(f64::NAN));
        metric.family.set_value_fn(&series, Arc::new(value_fn));
        Ok(())
    }

    fn track_inprogress<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        helper(slf.py(), "InprogressTracker", (slf,))
    }

    fn time<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        helper(slf.py(), "Timer", (slf, "set"))
    }
    }
}

/// The kind a `Histogram(...)` asks for: classic, or native (with classic buckets alongside,
/// only `+Inf` when none were given, as client_golang does) when a bucket factor is given.
fn histogram_kind(
    buckets: Option<Vec<f64>>,
    factor: Option<f64>,
    zero_threshold: Option<f64>,
    max_bucket_number: u32,
    min_reset_duration: f64,
    max_zero_threshold: f64,
) -> crate::error::Result<Kind> {
    let Some(factor) = factor else {
        return Ok(Kind::Histogram {
            bounds: histogram::bounds(buckets.as_deref().unwrap_or(&histogram::DEFAULT_BUCKETS))?,
        });
    };
    let native = native_histogram::Config::new(
        factor,
        zero_threshold,
        max_bucket_number,
        min_reset_duration,
        max_zero_threshold,
    )?;
    let bounds = match buckets {
        Some(buckets) => histogram::bounds(&buckets)?,
        None => histogram::inf_only(),
    };
    Ok(Kind::NativeHistogram { bounds, native })
}

/// A histogram family's classic bounds.
fn classic_bounds(kind: &Kind) -> &histogram::Bounds {
    match kind {
        Kind::Histogram { bounds } | Kind::NativeHistogram { bounds, .. } => bounds,
        _ => unreachable!("a Histogram holds a histogram family"),
    }
}

/// Records one observation in a (classic or native) histogram's cells.
#[inline(always)]
fn observe_one(kind: &Kind, cells: &[std::sync::atomic::AtomicU64], value: f64) {
    match kind {
        Kind::Histogram { bounds } => histogram::observe(cells, bounds, value),
        Kind::NativeHistogram { bounds, native } => native_histogram::observe(cells, bounds, native, value, clock::now),
        _ => unreachable!("a Histogram holds a histogram family"),
    }
}

metric_class! {
    /// Observations counted in buckets.
    PyHistogram, "Histogram", (
        buckets: Option<Vec<f64>> = None,
        native_histogram_bucket_factor: Option<f64> = None,
        native_histogram_zero_threshold: Option<f64> = None,
        native_histogram_max_bucket_number: u32 = 160,
        native_histogram_min_reset_duration: f64 = 0.0,
        native_histogram_max_zero_threshold: f64 = 0.0
    ) => histogram_kind(
        buckets,
        native_histogram_bucket_factor,
        native_histogram_zero_threshold,
        native_histogram_max_bucket_number,
        native_histogram_min_reset_duration,
        native_histogram_max_zero_threshold,
    ).py()?,
    {
        #[classattr]
        const DEFAULT_BUCKETS: [f64; 15] = histogram::DEFAULT_BUCKETS;

        #[getter]
        fn _upper_bounds(slf: &Bound<'_, Self>) -> Vec<f64> {
            classic_bounds(slf.as_super().get().kind()).to_vec()
    }

    /// The native histogram's schema, or None for a classic histogram.
    #[getter]
    fn _native_histogram_schema(slf: &Bound<'_, Self>) -> Option<i32> {
        match slf.as_super().get().kind() {
            Kind::NativeHistogram { native, .. } => Some(native.schema),
            _ => None,
        }
    }

    /// Records one observation; `exemplar` (trace labels) is kept as the latest exemplar of
    /// the bucket it falls in, as prometheus_client keeps it.
    #[pyo3(signature = (amount, exemplar = None))]
    fn observe(slf: &Bound<'_, Self>, amount: f64, exemplar: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let metric = slf.as_super().get();
        let series = metric.series()?;
        observe_one(metric.kind(), series.cells(), amount);
        match exemplar {
            None => Ok(()),
            Some(labels) => {
                let slot = histogram::bucket_index(classic_bounds(metric.kind()), amount);
                set_exemplar(metric, series, slot, labels, amount)
            }
        }
    }

    /// Records every value of a buffer of numbers (a numpy array, `array.array`, ...) or of any
    /// iterable, with the GIL released while bucketing (a native histogram's values are decoded
    /// without it and recorded with it: its window moves must not race another writer).
    fn observe_many(slf: &Bound<'_, Self>, values: &Bound<'_, PyAny>) -> PyResult<()> {
        let metric = slf.as_super().get();
        let kind = metric.kind();
        let cells = metric.series()?.cells();
        let py = slf.py();
        let classic = match kind {
            Kind::Histogram { bounds } => Some(bounds),
            _ => None,
        };
        let Ok(view) = PyMemoryView::from(values) else {
            let floats: Vec<f64> = values.try_iter()?.map(|v| v?.extract::<f64>()).collect::<PyResult<_>>()?;
            match classic {
                Some(bounds) => py.detach(|| histogram::observe_many(cells, bounds, floats.into_iter())),
                None => floats.into_iter().for_each(|value| observe_one(kind, cells, value)),
            }
            return Ok(());
        };
        let format: String = view.getattr("format")?.extract()?;
        let itemsize: usize = view.getattr("itemsize")?.extract()?;
        let data = view.call_method0("tobytes")?;
        let bytes = data.cast::<PyBytes>()?.as_bytes();
        macro_rules! observe_as {
            ($t:ty) => {{
                let decode = || {
                    bytes.chunks_exact(std::mem::size_of::<$t>()).map(|c| <$t>::from_ne_bytes(c.try_into().expect("exact chunk")) as f64)
                };
                match classic {
                    Some(bounds) => py.detach(|| histogram::observe_many(cells, bounds, decode())),
                    None => {
                        let floats: Vec<f64> = py.detach(|| decode().collect());
                        floats.into_iter().for_each(|value| observe_one(kind, cells, value));
                    }
                }
            }};
        }
        match (format.trim_start_matches(['@', '=']), itemsize) {
            ("d", 8) => observe_as!(f64),
            ("f", 4) => observe_as!(f32),
            ("q" | "l", 8) => observe_as!(i64),
            ("i" | "l", 4) => observe_as!(i32),
            ("Q" | "L", 8) => observe_as!(u64),
            ("I" | "L", 4) => observe_as!(u32),
            _ => {
                return Err(to_py(Error::WrongType(format!(
                    "observe_many needs a buffer of native-endian floats or integers, got format {format:?}"
                ))))
            }
        }
        Ok(())
    }

    fn time<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        helper(slf.py(), "Timer", (slf, "observe"))
    }
    }
}

/// The kind a `Summary(...)` asks for: count and sum, with targeted quantiles when `quantiles`
/// (a dict of quantile to allowed error) names some.
fn summary_kind(quantiles: Option<Py<PyAny>>, max_age: f64, age_buckets: u32) -> PyResult<Kind> {
    let Some(quantiles) = quantiles else { return Ok(Kind::Summary) };
    let targets: Vec<(f64, f64)> = Python::attach(|py| {
        let quantiles = quantiles.bind(py);
        let items = match quantiles.cast::<PyDict>() {
            Ok(dict) => dict.items().into_any(),
            Err(_) => quantiles.clone(), // pairs, as client_golang's Objectives map reads
        };
        items.try_iter()?.map(|item| item?.extract::<(f64, f64)>()).collect::<PyResult<_>>()
    })?;
    if targets.is_empty() {
        return Ok(Kind::Summary);
    }
    Ok(Kind::QuantileSummary { quantiles: summary_quantiles::Quantiles::new(targets, max_age, age_buckets).py()? })
}

metric_class! {
    /// Count and sum of observations, and targeted quantiles when asked for.
    PySummary, "Summary", (
        quantiles: Option<Py<PyAny>> = None,
        max_age: f64 = 600.0,
        age_buckets: u32 = 5
    ) => summary_kind(quantiles, max_age, age_buckets)?,
    {
        /// Records one observation.
        fn observe(slf: &Bound<'_, Self>, amount: f64) -> PyResult<()> {
            let metric = slf.as_super().get();
            let series = metric.series()?;
            summary::observe(series.cells(), amount);
            if matches!(metric.kind(), Kind::QuantileSummary { .. }) {
                metric.family.observe_quantiles(series, amount);
            }
            Ok(())
    }

    fn time<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        helper(slf.py(), "Timer", (slf, "observe"))
    }
    }
}

metric_class! {
    /// Constant label pairs.
    PyInfo, "Info", () => Kind::Info,
    {
        /// Sets the info label pairs.
        fn info(slf: &Bound<'_, Self>, val: &Bound<'_, PyDict>) -> PyResult<()> {
            let metric = slf.as_super().get();
            if val.values().iter().any(|v| v.is_none()) {
                return Err(pyo3::exceptions::PyValueError::new_err("Label value cannot be None"));
            }
            let pairs: Vec<(String, String)> =
                val.iter().map(|(k, v)| Ok((k.extract()?, v.extract()?))).collect::<PyResult<_>>()?;
            metric.family.set_info(metric.series()?, &pairs).py()
    }
    }
}

metric_class! {
    /// One of a set of states.
    PyEnum, "Enum", (states: Option<Vec<String>> = None) => Kind::StateSet { states: stateset::States::new(states.unwrap_or_default()) },
    {
        /// Sets the current state.
        fn state(slf: &Bound<'_, Self>, state: &str) -> PyResult<()> {
            let metric = slf.as_super().get();
            let Kind::StateSet { states } = metric.kind() else { unreachable!("an Enum holds a stateset family") };
            let index = states.index(&metric.family.meta().name, state).py()?;
            stateset::set(metric.series()?.cells(), index);
            Ok(())
    }
    }
}

/// Adds the metric classes to the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyMetric>()?;
    module.add_class::<PyCounter>()?;
    module.add_class::<PyGauge>()?;
    module.add_class::<PyHistogram>()?;
    module.add_class::<PySummary>()?;
    module.add_class::<PyInfo>()?;
    module.add_class::<PyEnum>()?;
    Ok(())
}
