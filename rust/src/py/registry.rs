//! The native half of `CollectorRegistry`: native metrics, the collectors built into the core and
//! collectors written in Python, in registration order, encoded with the GIL released.
//!
//! A Python collector is called back (attaching to the interpreter) when the registry is
//! encoded, from `generate_latest` or from the server's thread alike. If it raises, the
//! exception is kept and re-raised as it was by `encode()`, so `generate_latest` fails the way
//! prometheus_client's does.

use super::error::{to_py, IntoPy};
use super::metric::PyMetric;
use crate::collect::process::{Pid, ProcessCollector};
use crate::collect::{Config, NodeCollectors, Paths, FACTORIES};
use crate::encode::{self, Escaping, Format};
use crate::error::{Error, Result};
use crate::metric::exemplar::{Exemplar, Time};
use crate::metric::MetricType;
use crate::registry::snapshot::{NativeHistogramValue, Number};
use crate::registry::{guard, Collector, Entry, MetricFamily, Options, Registry, Sample};
use parking_lot::Mutex;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyList, PyString, PyTuple};
use std::sync::Arc;

/// A collector object written in Python: anything with a `collect()` yielding metric families.
struct PythonCollector {
    object: Py<PyAny>,
    /// What its `describe()` (or `collect()`) named, for the duplicate check.
    names: Vec<String>,
    raised: Mutex<Option<PyErr>>,
    /// What a native histogram value of its last `collect()` raised, for the encoder that
    /// writes it to fail with.
    deferred: Mutex<Option<PyErr>>,
}

/// A `Metric` object (what `collect()` yields) as a core family. A native histogram value that
/// cannot be written fails only what writes it (OpenMetrics 2.0, as in prometheus_client): with
/// `deferred`, its exception is kept there and the value marked unwritable; without, it is raised.
fn metric_family(metric: &Bound<'_, PyAny>, mut deferred: Option<&mut Option<PyErr>>) -> PyResult<MetricFamily> {
    let mut family = MetricFamily::new(
        metric.getattr("name")?.extract::<String>()?,
        metric.getattr("documentation")?.extract::<String>()?,
        MetricType::parse(&metric.getattr("type")?.extract::<String>()?).py()?,
        metric.getattr("unit").and_then(|u| u.extract::<String>()).unwrap_or_default(),
    );
    // Interned: the names are looked up once per sample, the most a collector's scrape does.
    let py = metric.py();
    for sample in metric.getattr("samples")?.try_iter()? {
        let (sample, index) = (sample?, family.samples.len());
        if let Some(exemplar) = sample.getattr(intern!(py, "exemplar")).ok().filter(|e| !e.is_none()) {
            let exemplar = exemplar_from_py(&exemplar)?;
            family.exemplars.push((family.samples.len(), Arc::new(exemplar)));
        }
        if let Some(native) = sample.getattr(intern!(py, "native_histogram")).ok().filter(|n| !n.is_none()) {
            let value = match (native_histogram_from_py(&native), deferred.as_deref_mut()) {
                (Ok(value), _) => value,
                (Err(err), None) => return Err(err),
                (Err(err), Some(kept)) => {
                    let value = NativeHistogramValue::unwritable(err.to_string());
                    kept.get_or_insert(err);
                    value
                }
            };
            family.native_histograms.push((family.samples.len(), Arc::new(value)));
        }
        let labels = sample.getattr(intern!(py, "labels"))?;
        let mut labels: Vec<(crate::registry::Text, crate::registry::Text)> = match labels.is_none() {
            true => Vec::new(), // a parsed native histogram sample's (prometheus_client's parser)
            false => labels
                .cast::<PyDict>()?
                .iter()
                .map(|(k, v)| Ok((k.extract::<String>()?.into(), label_value(&v)?.into())))
                .collect::<PyResult<_>>()?,
        };
        // prometheus_client writes a sample's labels sorted by name, in every text format.
        labels.sort_by(|(a, _), (b, _)| a.cmp(b));
        family.samples.push(Sample {
            name: sample.getattr(intern!(py, "name"))?.extract::<String>()?.into(),
            labels,
            value: match sample.getattr(intern!(py, "value"))? {
                value if value.is_none() && family.native_histograms.last().is_some_and(|(at, _)| *at == index) => 0.0,
                value => as_float(&value)?,
            },
            timestamp: match sample.getattr(intern!(py, "timestamp"))? {
                timestamp if timestamp.is_none() => None,
                timestamp if timestamp.is_exact_instance_of::<PyFloat>() => Some(timestamp.extract()?),
                timestamp => {
                    let seconds = as_float(&timestamp)?; // an int or a `Timestamp`
                    family.timestamp_texts.push((index, timestamp.str()?.to_str()?.into()));
                    Some(seconds)
                }
            },
        });
    }
    Ok(family)
}

/// A `NativeHistogram` (prometheus_client's, or anything with its fields) as plain data.
/// prometheus_client writes each field with `str()`: what it cannot write (spans without their
/// deltas, a span that is not a pair, one not iterable) raises what it raises, a `TypeError`
/// or `IndexError`.
fn native_histogram_from_py(native: &Bound<'_, PyAny>) -> PyResult<NativeHistogramValue> {
    let py = native.py();
    let number = |name: &Bound<'_, PyString>| number_from_py(&native.getattr(name)?);
    let spans = |name: &Bound<'_, PyString>| -> PyResult<Vec<(Number, Number)>> {
        let spans = native.getattr(name)?;
        if !spans.is_truthy()? {
            return Ok(Vec::new());
        }
        spans
            .try_iter()?
            .map(|span| {
                let span = span?;
                Ok((number_from_py(&span.get_item(0)?)?, number_from_py(&span.get_item(1)?)?))
            })
            .collect()
    };
    // Deltas are read where their spans are present (prometheus_client reads them only then).
    let deltas = |name: &Bound<'_, PyString>, spans: &[(Number, Number)]| -> PyResult<Vec<Number>> {
        if spans.is_empty() {
            return Ok(Vec::new());
        }
        native.getattr(name)?.try_iter()?.map(|delta| number_from_py(&delta?)).collect()
    };
    let (negative_spans, positive_spans) = (spans(intern!(py, "neg_spans"))?, spans(intern!(py, "pos_spans"))?);
    let exemplars = match native.getattr(intern!(py, "nh_exemplars"))? {
        exemplars if !exemplars.is_truthy()? => Vec::new(),
        exemplars => exemplars.try_iter()?.map(|e| Ok(Arc::new(exemplar_from_py(&e?)?))).collect::<PyResult<_>>()?,
    };
    Ok(NativeHistogramValue {
        count: number(intern!(py, "count_value"))?,
        sum: number(intern!(py, "sum_value"))?,
        schema: number(intern!(py, "schema"))?,
        zero_threshold: number(intern!(py, "zero_threshold"))?,
        zero_count: number(intern!(py, "zero_count"))?,
        negative_deltas: deltas(intern!(py, "neg_deltas"), &negative_spans)?,
        positive_deltas: deltas(intern!(py, "pos_deltas"), &positive_spans)?,
        negative_spans,
        positive_spans,
        exemplars,
        unwritable: None,
    })
}

/// A number as `str()` prints it: an `int` as an integer, a `float` as a float, anything else
/// as its `str()` (prometheus_client writes every field with `str()`, whatever it is).
fn number_from_py(value: &Bound<'_, PyAny>) -> PyResult<Number> {
    if value.is_exact_instance_of::<pyo3::types::PyInt>() {
        if let Ok(integer) = value.extract::<i64>() {
            return Ok(Number::Integer(integer));
        }
    } else if value.is_exact_instance_of::<PyFloat>() {
        return Ok(Number::Float(value.extract()?));
    }
    Ok(Number::Text(value.str()?.to_str()?.into()))
}

/// A sample's label value, which must be a `str`: anything else is the `AttributeError`
/// prometheus_client's exposition raises for it (it calls `str` methods on the value).
fn label_value(value: &Bound<'_, PyAny>) -> PyResult<String> {
    value.extract::<String>().map_err(|_| {
        let kind = value.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        pyo3::exceptions::PyAttributeError::new_err(format!("label value {value} is a {kind}, not a str"))
    })
}

/// A custom collector's exemplar: an `Exemplar` (labels, value, maybe a timestamp), or bare labels.
fn exemplar_from_py(exemplar: &Bound<'_, PyAny>) -> PyResult<Exemplar> {
    let pairs = |labels: &Bound<'_, PyAny>| -> PyResult<Vec<(String, String)>> {
        let labels = labels.cast::<PyDict>()?;
        labels.iter().map(|(k, v)| Ok((k.extract::<String>()?, v.extract::<String>()?))).collect()
    };
    if exemplar.is_instance_of::<PyDict>() {
        let mut bare = Exemplar::unchecked(pairs(exemplar)?, f64::NAN, Time::None);
        bare.labels_only = true;
        return Ok(bare);
    }
    let time = match exemplar.getattr("timestamp")? {
        time if time.is_none() => Time::None,
        time if time.is_exact_instance_of::<PyFloat>() => Time::Seconds(time.extract()?),
        time => Time::Text(time.str()?.to_str()?.into()), // a `Timestamp` or an int: as `str()` prints it
    };
    Ok(Exemplar::unchecked(pairs(&exemplar.getattr("labels")?)?, as_float(&exemplar.getattr("value")?)?, time))
}

/// An exemplar as Python sees it: `obsagent.samples.Exemplar`, or the bare labels it was given as.
fn exemplar_to_py<'py>(py: Python<'py>, exemplar: &Exemplar) -> PyResult<Bound<'py, PyAny>> {
    static CLASS: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let labels = PyDict::new(py);
    for (name, value) in &exemplar.labels {
        labels.set_item(name, value)?;
    }
    if exemplar.labels_only {
        return Ok(labels.into_any());
    }
    let class = CLASS.get_or_try_init(py, || py.import("obsagent.samples")?.getattr("Exemplar").map(Bound::unbind))?;
    class.bind(py).call1((labels, exemplar.value, exemplar.time.seconds()))
}

/// A sample value as Python's `float()` reads it (numbers, and strings such as `"1.5"`), raising
/// what `float()` raises, as prometheus_client's exposition does.
fn as_float(value: &Bound<'_, PyAny>) -> PyResult<f64> {
    match value.extract::<f64>() {
        Ok(number) => Ok(number),
        Err(_) => value.py().get_type::<PyFloat>().call1((value,))?.extract(),
    }
}

/// `err` with the metric it came from appended to its `args`, as prometheus_client raises it.
fn with_metric(py: Python<'_>, err: PyErr, metric: &Bound<'_, PyAny>) -> PyErr {
    let value = err.value(py);
    if let Ok(args) = value.getattr("args").and_then(|a| a.extract::<Vec<Py<PyAny>>>()) {
        let mut args: Vec<Bound<'_, PyAny>> = args.into_iter().map(|a| a.into_bound(py)).collect();
        if args.is_empty() {
            args.push(PyString::new(py, "").into_any());
        }
        args.push(metric.clone());
        if let Ok(tuple) = PyTuple::new(py, args) {
            let _ = value.setattr("args", tuple);
        }
    }
    err
}

impl PythonCollector {
    fn collect_with(&self, py: Python<'_>, out: &mut Vec<MetricFamily>) -> PyResult<()> {
        let mut deferred = None;
        for metric in self.object.bind(py).call_method0("collect")?.try_iter()? {
            let metric = metric?;
            let mut kept = None;
            out.push(metric_family(&metric, Some(&mut kept)).map_err(|err| with_metric(py, err, &metric))?);
            if let Some(err) = kept {
                deferred.get_or_insert(with_metric(py, err, &metric));
            }
        }
        *self.deferred.lock() = deferred;
        Ok(())
    }
}

/// Families that never change, served without calling back into Python.
struct Constant(Vec<MetricFamily>);

impl Collector for Constant {
    fn names(&self) -> Vec<String> {
        self.0.iter().map(|f| f.name.to_string()).collect()
    }

    fn collect(&self, _: &Options, out: &mut Vec<MetricFamily>) -> Result<()> {
        out.extend(self.0.iter().cloned());
        Ok(())
    }
}

/// prometheus_client's `python_gc_*` counters, read from `gc.get_stats()` by the core: the
/// same numbers as a Python `collect()`, without building metric objects in Python at every
/// scrape (the default registry of every process has this collector).
struct GcCollector;

impl GcCollector {
    fn collect_with(py: Python<'_>, out: &mut Vec<MetricFamily>) -> PyResult<()> {
        const FAMILIES: [(&str, &str, &str, &str); 3] = [
            (
                "collected",
                "python_gc_objects_collected",
                "python_gc_objects_collected_total",
                "Objects collected during gc",
            ),
            (
                "uncollectable",
                "python_gc_objects_uncollectable",
                "python_gc_objects_uncollectable_total",
                "Uncollectable objects found during GC",
            ),
            (
                "collections",
                "python_gc_collections",
                "python_gc_collections_total",
                "Number of times this generation was collected",
            ),
        ];
        static GET_STATS: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
        let get_stats = GET_STATS.get_or_try_init(py, || py.import("gc")?.getattr("get_stats").map(Bound::unbind))?;
        let stats = get_stats.bind(py).call0()?;
        let stats: Vec<Bound<'_, PyDict>> = stats.extract()?;
        for (key, name, sample, help) in FAMILIES {
            let mut family = MetricFamily::new(name, help, MetricType::Counter, "");
            for (generation, stat) in stats.iter().enumerate() {
                let value: f64 = stat.get_item(key)?.map(|v| v.extract()).transpose()?.unwrap_or(0.0);
                family.push_named(sample, vec![("generation".into(), generation.to_string().into())], value);
            }
            out.push(family);
        }
        Ok(())
    }
}

impl Collector for GcCollector {
    fn names(&self) -> Vec<String> {
        let families = ["python_gc_objects_collected", "python_gc_objects_uncollectable", "python_gc_collections"];
        families.iter().flat_map(|n| [n.to_string(), format!("{n}_total")]).collect()
    }

    fn collect(&self, _: &Options, out: &mut Vec<MetricFamily>) -> Result<()> {
        keep_thread_state();
        Python::attach(|py| {
            Self::collect_with(py, out)
                .map_err(|err| Error::Collect { collector: "GCCollector".into(), message: err.to_string() })
        })
    }
}

/// Gives a thread that Python did not start (the server's render threads) a Python thread
/// state that lasts as long as the thread. Without it, every attach makes a thread state and
/// frees it again, which cost more than the gc collector's own work. A thread that already has
/// one (any Python thread, even detached) is left alone.
fn keep_thread_state() {
    struct Kept {
        gil_state: pyo3::ffi::PyGILState_STATE,
        thread_state: *mut pyo3::ffi::PyThreadState,
    }
    impl Drop for Kept {
        fn drop(&mut self) {
            // SAFETY: undoes `keep_thread_state` on the thread that did it, if Python is still up.
            unsafe {
                if pyo3::ffi::Py_IsInitialized() != 0 {
                    pyo3::ffi::PyEval_RestoreThread(self.thread_state);
                    pyo3::ffi::PyGILState_Release(self.gil_state);
                }
            }
        }
    }
    thread_local! {
        static KEPT: std::cell::RefCell<Option<Kept>> = const { std::cell::RefCell::new(None) };
    }
    KEPT.with_borrow_mut(|kept| {
        // SAFETY: on a thread with no thread state, Ensure makes one and takes the GIL; SaveThread
        // releases the GIL but keeps the state, so later attaches only take the GIL.
        if kept.is_none() && unsafe { pyo3::ffi::PyGILState_GetThisThreadState() }.is_null() {
            let gil_state = unsafe { pyo3::ffi::PyGILState_Ensure() };
            let thread_state = unsafe { pyo3::ffi::PyEval_SaveThread() };
            *kept = Some(Kept { gil_state, thread_state });
        }
    });
}

impl Collector for PythonCollector {
    fn runs_foreign_code(&self) -> bool {
        true
    }

    fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn collect(&self, _: &Options, out: &mut Vec<MetricFamily>) -> Result<()> {
        keep_thread_state();
        Python::attach(|py| {
            self.collect_with(py, out).map_err(|err| {
                let error = Error::Collect {
                    collector: self.object.bind(py).repr().map(|r| r.to_string()).unwrap_or_default(),
                    message: err.to_string(),
                };
                *self.raised.lock() = Some(err);
                error
            })
        })
    }
}

/// The system collectors' settings as Python's `obsagent.config.CollectorSettings` holds them.
#[derive(FromPyObject)]
struct CollectorSettings {
    collectors: Vec<String>,
    procfs: String,
    sysfs: String,
    rootfs: String,
    textfile_directory: Option<String>,
    filesystem_mount_points_exclude: Option<String>,
    filesystem_fs_types_exclude: Option<String>,
    filesystem_mount_points_include: Option<String>,
    filesystem_fs_types_include: Option<String>,
    netdev_device_exclude: Option<String>,
    netdev_device_include: Option<String>,
    diskstats_device_exclude: Option<String>,
    diskstats_device_include: Option<String>,
    gpu_nvml_library: Option<String>,
    gpu_interval: f64,
    gpu_pcie: bool,
    gpu_names: String,
    netstat_fields: Option<String>,
    vmstat_fields: Option<String>,
    netclass_ignored_devices: Option<String>,
    netclass_ignore_invalid_speed: bool,
    arp_device_include: Option<String>,
    arp_device_exclude: Option<String>,
    tapestats_ignored_devices: Option<String>,
    ipvs_backend_labels: Option<String>,
    bcache_priority_stats: bool,
    cpu_info: bool,
    cpu_info_flags_include: Option<String>,
    cpu_info_bugs_include: Option<String>,
    virtual_memory_max: bool,
}

impl CollectorSettings {
    /// The core's configuration, and the collectors to run.
    fn config(self) -> Result<(Config, Vec<String>)> {
        let config = Config {
            paths: Paths { procfs: self.procfs.into(), sysfs: self.sysfs.into(), rootfs: self.rootfs.into() },
            textfile_directory: self.textfile_directory.map(Into::into),
            filesystem_mount_points_exclude: self.filesystem_mount_points_exclude,
            filesystem_fs_types_exclude: self.filesystem_fs_types_exclude,
            filesystem_mount_points_include: self.filesystem_mount_points_include,
            filesystem_fs_types_include: self.filesystem_fs_types_include,
            netdev_device_exclude: self.netdev_device_exclude,
            netdev_device_include: self.netdev_device_include,
            diskstats_device_exclude: self.diskstats_device_exclude,
            diskstats_device_include: self.diskstats_device_include,
            gpu_nvml_library: self.gpu_nvml_library.map(Into::into),
            gpu_interval: Some(crate::clock::seconds(self.gpu_interval, "--collector.gpu.interval")?),
            gpu_pcie: self.gpu_pcie,
            gpu_names_dcgm: crate::collect::gpu_nvidia::Names::parse(&self.gpu_names)?
                == crate::collect::gpu_nvidia::Names::Dcgm,
            netstat_fields: self.netstat_fields,
            vmstat_fields: self.vmstat_fields,
            netclass_ignored_devices: self.netclass_ignored_devices,
            netclass_ignore_invalid_speed: self.netclass_ignore_invalid_speed,
            arp_device_include: self.arp_device_include,
            arp_device_exclude: self.arp_device_exclude,
            tapestats_ignored_devices: self.tapestats_ignored_devices,
            ipvs_backend_labels: self.ipvs_backend_labels,
            bcache_priority_stats: self.bcache_priority_stats,
            cpu_info: self.cpu_info,
            cpu_info_flags_include: self.cpu_info_flags_include,
            cpu_info_bugs_include: self.cpu_info_bugs_include,
            cpufreq_enabled: false,
            virtual_memory_max: self.virtual_memory_max,
        };
        Ok((config, self.collectors))
    }
}

/// A collector implemented in the core: the process collector or the system collectors.
#[pyclass(module = "obsagent._native", name = "Collector", frozen)]
pub struct PyNativeCollector {
    collector: Arc<dyn Collector>,
}

impl PyNativeCollector {
    fn of(collector: impl Collector + 'static) -> PyNativeCollector {
        PyNativeCollector { collector: Arc::new(collector) }
    }
}

#[pymethods]
impl PyNativeCollector {
    /// prometheus_client's `process_*` metrics for `pid` (default: this process).
    #[staticmethod]
    #[pyo3(signature = (procfs = "/proc", pid = None))]
    fn process(procfs: &str, pid: Option<u32>) -> Self {
        let paths = Paths { procfs: procfs.into(), ..Paths::default() };
        let pid = pid.map_or(Pid::SelfProcess, Pid::Fixed);
        PyNativeCollector::of(ProcessCollector::new(paths, pid))
    }

    /// `obsagent_series_dropped_total{metric}`, once a metric has reached its series limit.
    #[staticmethod]
    fn series_dropped() -> Self {
        PyNativeCollector::of(guard::DroppedSeries)
    }

    /// `obsagent_remote_write_*{url}` for every remote writer of the process.
    #[staticmethod]
    fn remote_write() -> Self {
        PyNativeCollector::of(crate::push::sender::SelfMetrics)
    }

    /// prometheus_client's `python_gc_*` counters of this interpreter.
    #[staticmethod]
    fn gc() -> Self {
        PyNativeCollector::of(GcCollector)
    }

    /// The node_exporter-compatible system collectors `settings` name, set up as they say.
    #[staticmethod]
    fn node(settings: CollectorSettings) -> PyResult<Self> {
        let (config, enabled) = settings.config().py()?;
        Ok(PyNativeCollector::of(NodeCollectors::new(&config, &enabled).py()?))
    }

    /// Every process' metrics in the multiprocess directory `path`, merged.
    #[staticmethod]
    fn multiprocess(path: std::path::PathBuf) -> PyResult<Self> {
        Ok(PyNativeCollector::of(crate::multiprocess::Aggregator::new(&path).py()?))
    }

    /// These `Metric` objects as they are now, served as constants from then on.
    #[staticmethod]
    fn constant(metrics: &Bound<'_, PyAny>) -> PyResult<Self> {
        let families: Vec<MetricFamily> =
            metrics.try_iter()?.map(|m| metric_family(&m?, None)).collect::<PyResult<_>>()?;
        Ok(PyNativeCollector::of(Constant(families)))
    }

    /// Every collector's families now, as `(name, documentation, type, unit, samples)`.
    fn collect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let mut families = Vec::new();
        self.collector.collect(&Options::default(), &mut families).py()?;
        PyList::new(py, families.iter().map(|f| family_to_py(py, f)).collect::<PyResult<Vec<_>>>()?)
    }
}

/// Sets how many series a labeled metric may hold before new label sets go to its overflow
/// series (`__overflow__`), for every metric (default 100,000).
#[pyfunction]
fn set_series_limit(limit: usize) {
    guard::set_series_limit(limit);
}

/// Sets how many bytes a label value may have (default 4096); a longer one is a `ValueError`.
#[pyfunction]
fn set_label_value_limit(limit: usize) {
    guard::set_label_value_limit(limit);
}

/// `(name, enabled_by_default)` for every system collector, in exposition order.
#[pyfunction]
fn node_collectors() -> Vec<(&'static str, bool)> {
    FACTORIES.iter().map(|f| (f.name, f.enabled_by_default)).collect()
}

/// Raises `ValueError` unless `name` is a metric name a client may register under the
/// validation scheme in force (any non-empty UTF-8 name, or the classic charset).
#[pyfunction]
fn check_metric_name(name: &str) -> PyResult<()> {
    crate::key::check_metric_name(name).py()
}

/// Raises `ValueError` unless `name` is a label name a client may use under the scheme in force.
#[pyfunction]
fn check_label_name(name: &str) -> PyResult<()> {
    crate::key::check_label_name(name).py()
}

/// Turns legacy name validation on or off for the whole process.
#[pyfunction]
fn set_legacy_validation(legacy: bool) {
    crate::key::set_legacy_validation(legacy);
}

/// Registered collectors, in order, and what encodes them.
#[pyclass(module = "obsagent._native", name = "Registry", frozen)]
pub struct PyRegistry {
    pub(super) inner: Arc<Registry>,
    python: Mutex<Vec<Arc<PythonCollector>>>,
}

impl PyRegistry {
    fn entry_for(&self, collector: &Bound<'_, PyAny>) -> Option<Entry> {
        if let Ok(metric) = collector.cast::<PyMetric>() {
            return Some(Entry::Family(metric.get().family.clone()));
        }
        if let Ok(native) = collector.cast::<PyNativeCollector>() {
            return Some(Entry::Collector(native.get().collector.clone()));
        }
        let python = self.python.lock();
        python.iter().find(|c| c.object.is(collector)).map(|c| Entry::Collector(c.clone() as Arc<dyn Collector>))
    }

    /// Re-raises what a Python collector raised during the last encode, if it did, else what one
    /// of its native histogram values raised (the encode failed writing it).
    fn raised(&self, err: Error) -> PyErr {
        let python = self.python.lock();
        let raised = python.iter().find_map(|c| c.raised.lock().take());
        let deferred = || python.iter().find_map(|c| c.deferred.lock().take());
        match (&err, raised) {
            (_, Some(raised)) => raised,
            (Error::WrongType(_), None) => deferred().unwrap_or_else(|| to_py(err)),
            (_, None) => to_py(err),
        }
    }
}

#[pymethods]
impl PyRegistry {
    #[new]
    fn new() -> Self {
        PyRegistry { inner: Arc::new(Registry::new()), python: Mutex::default() }
    }

    /// Registers a native metric or collector under their own names, or a
    /// Python collector under `names` (from its `describe()` or `collect()`).
    #[pyo3(signature = (collector, names = None))]
    fn register(&self, collector: &Bound<'_, PyAny>, names: Option<Vec<String>>) -> PyResult<()> {
        if let Ok(metric) = collector.cast::<PyMetric>() {
            return self.inner.register_family(metric.get().family.clone()).py();
        }
        if let Ok(native) = collector.cast::<PyNativeCollector>() {
            return self.inner.register(Entry::Collector(native.get().collector.clone())).py();
        }
        let object = collector.clone().unbind();
        let names = names.unwrap_or_default();
        let python = Arc::new(PythonCollector { object, names, raised: Mutex::new(None), deferred: Mutex::new(None) });
        self.inner.register(Entry::Collector(python.clone())).py()?;
        self.python.lock().push(python);
        Ok(())
    }

    /// Unregisters a collector; a `KeyError` when it was not registered here.
    fn unregister(&self, collector: &Bound<'_, PyAny>) -> PyResult<()> {
        let removed = self.entry_for(collector).is_some_and(|entry| self.inner.unregister(&entry));
        if !removed {
            return Err(pyo3::exceptions::PyKeyError::new_err(format!("{} is not registered", collector.repr()?)));
        }
        self.python.lock().retain(|c| !c.object.is(collector));
        Ok(())
    }

    /// Every family in registration order: `(name, documentation, type, unit, samples)` tuples,
    /// and what a Python collector's `collect()` yields as it is, unchecked, as prometheus_client's
    /// `registry.collect()` gives it (a scrape checks it as it encodes it).
    #[pyo3(signature = (created = false))]
    fn collect<'py>(&self, py: Python<'py>, created: bool) -> PyResult<Bound<'py, PyList>> {
        let options = Options { created, ..Options::default() };
        let python = self.python.lock().clone();
        let out = PyList::empty(py);
        for entry in self.inner.entries() {
            let mut families = Vec::new();
            match entry {
                Entry::Collector(collector) => {
                    let own = python.iter().find(|c| std::ptr::addr_eq(Arc::as_ptr(&collector), Arc::as_ptr(*c)));
                    if let Some(own) = own {
                        for metric in own.object.bind(py).call_method0("collect")?.try_iter()? {
                            out.append(metric?)?;
                        }
                        continue;
                    }
                    collector.collect(&options, &mut families).map_err(|err| self.raised(err))?;
                }
                Entry::Family(family) => families.push(family.snapshot(options.created)),
            }
            for family in &families {
                out.append(family_to_py(py, family)?)?;
            }
        }
        Ok(out)
    }

    /// Renders text (or OpenMetrics, or delimited protobuf) with the GIL released, names outside
    /// the classic charset written as `escaping` says (a `ValueError` for an unknown scheme).
    /// `openmetrics_2`: OpenMetrics 2.0.0, with native histogram samples.
    #[pyo3(signature = (openmetrics = false, created = false, escaping = "underscores", protobuf = false, openmetrics_2 = false))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        openmetrics: bool,
        created: bool,
        escaping: &str,
        protobuf: bool,
        openmetrics_2: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let format = match (protobuf, openmetrics) {
            (true, _) => Format::Protobuf,
            (false, true) => Format::OpenMetrics,
            (false, false) => Format::Text,
        };
        let escaping = parse_escaping(escaping)?;
        let inner = self.inner.clone();
        let options = Options { created, ..Options::default() };
        let body = py
            .detach(move || {
                let exposition = encode::Exposition { escaping, openmetrics_2, ..encode::Exposition::plain(format) };
                encode::encode_exposition(&inner, &exposition, &options)
            })
            .map_err(|err| self.raised(err))?;
        Ok(PyBytes::new(py, &body))
    }
}

/// The escaping scheme called `name`; a `ValueError` naming the four when there is none.
fn parse_escaping(name: &str) -> PyResult<Escaping> {
    Escaping::parse(name).ok_or_else(|| {
        let known: Vec<&str> = Escaping::ALL.iter().map(|e| e.name()).collect();
        pyo3::exceptions::PyValueError::new_err(format!("Unknown escaping scheme {name:?}: expected one of {known:?}"))
    })
}

/// `name` as `escaping` writes a metric name (`label`: a label name), prometheus_client's
/// `escape_metric_name` and `escape_label_name`.
#[pyfunction]
#[pyo3(signature = (name, escaping = "underscores", label = false))]
fn escape_name(name: &str, escaping: &str, label: bool) -> PyResult<String> {
    let escaping = parse_escaping(escaping)?;
    let mut out = Vec::with_capacity(name.len() + 2);
    if label {
        crate::escape::label_name(&mut out, name, escaping);
    } else {
        crate::escape::metric_name(&mut out, name, escaping);
    }
    Ok(String::from_utf8(out).expect("escaping keeps UTF-8"))
}

/// A family as the tuple `collect()` returns: `(name, documentation, type, unit, samples)`, each
/// sample `(name, labels, value, timestamp)`.
pub(super) fn family_to_py<'py>(py: Python<'py>, family: &MetricFamily) -> PyResult<Bound<'py, PyTuple>> {
    let samples = PyList::empty(py);
    for (index, sample) in family.samples.iter().enumerate() {
        let labels = PyDict::new(py);
        for (name, value) in &sample.labels {
            labels.set_item(&**name, &**value)?;
        }
        match family.exemplar(index) {
            None => samples.append((&*sample.name, labels, sample.value, sample.timestamp))?,
            Some(exemplar) => {
                let exemplar = exemplar_to_py(py, exemplar)?;
                samples.append((&*sample.name, labels, sample.value, sample.timestamp, exemplar))?
            }
        }
    }
    PyTuple::new(
        py,
        [
            family.name.as_ref().into_pyobject(py)?.into_any(),
            family.help.as_ref().into_pyobject(py)?.into_any(),
            family.kind.name().into_pyobject(py)?.into_any(),
            family.unit.as_ref().into_pyobject(py)?.into_any(),
            samples.into_any(),
        ],
    )
}

/// Adds the registry classes to the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyRegistry>()?;
    module.add("DuplicateTimeseries", module.py().get_type::<super::error::DuplicateTimeseries>())?;
    module.add_class::<PyNativeCollector>()?;
    module.add_function(wrap_pyfunction!(node_collectors, module)?)?;
    module.add_function(wrap_pyfunction!(set_series_limit, module)?)?;
    module.add_function(wrap_pyfunction!(set_label_value_limit, module)?)?;
    module.add_function(wrap_pyfunction!(check_metric_name, module)?)?;
    module.add_function(wrap_pyfunction!(check_label_name, module)?)?;
    module.add_function(wrap_pyfunction!(set_legacy_validation, module)?)?;
    module.add_function(wrap_pyfunction!(escape_name, module)?)?;
    Ok(())
}
