//! `obsagent.gpu.sample()`: the latest NVML sweep of this process's GPU sampler as a dict. The
//! sampler is the one the system collectors started, else one started here on first use; the
//! sweeps run on its own thread, so a call only copies the latest one.

use crate::collect::gpu_nvidia::{self, GpuSampler, GpuSettings, Sample, THROTTLE_REASONS};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::Arc;
use std::time::SystemTime;

/// A sampler started by `sample()` itself, kept for the life of the process.
static OWN: Mutex<Option<Arc<GpuSampler>>> = Mutex::new(None);

/// The latest GPU sample; starts sampling with `nvml_library` and `interval` if nothing in
/// this process samples yet (the first sweep is made before this returns).
#[pyfunction]
#[pyo3(signature = (nvml_library = None, interval = 1.0))]
fn gpu_sample<'py>(py: Python<'py>, nvml_library: Option<String>, interval: f64) -> PyResult<Bound<'py, PyDict>> {
    let interval = crate::clock::seconds(interval, "interval").map_err(super::error::to_py)?;
    let sampler = gpu_nvidia::current().unwrap_or_else(|| {
        let settings = GpuSettings {
            library: nvml_library.unwrap_or_else(|| gpu_nvidia::DEFAULT_LIBRARY.into()).into(),
            interval,
            pcie: false,
            procfs: "/proc".into(),
        };
        let sampler = py.detach(|| GpuSampler::start(settings));
        *OWN.lock() = Some(sampler.clone());
        sampler
    });
    to_dict(py, &sampler.latest())
}

fn to_dict<'py>(py: Python<'py>, sample: &Sample) -> PyResult<Bound<'py, PyDict>> {
    let seconds = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let dict = PyDict::new(py);
    dict.set_item("taken", sample.taken.map(seconds))?;
    let age = sample.taken.map(|t| SystemTime::now().duration_since(t).unwrap_or_default().as_secs_f64());
    dict.set_item("age_seconds", age)?;
    dict.set_item("sweep_seconds", sample.sweep_seconds)?;
    dict.set_item("sweeps", sample.sweeps)?;
    dict.set_item("driver_version", &sample.driver_version)?;
    dict.set_item("cuda_version", &sample.cuda_version)?;
    dict.set_item("count", sample.gpus)?;
    dict.set_item("error", &sample.error)?;
    let devices = PyList::empty(py);
    for device in &sample.devices {
        let entry = PyDict::new(py);
        entry.set_item("gpu", device.gpu)?;
        entry.set_item("uuid", &device.uuid)?;
        entry.set_item("name", &device.name)?;
        entry.set_item("gpu_instance", device.mig.map(|(gi, _)| gi))?;
        entry.set_item("compute_instance", device.mig.map(|(_, ci)| ci))?;
        entry.set_item("lost", device.lost)?;
        for (key, value) in [
            ("pci_bus_id", &device.pci_bus_id),
            ("vbios_version", &device.vbios_version),
            ("serial", &device.serial),
            ("compute_capability", &device.compute_capability),
        ] {
            entry.set_item(key, (!value.is_empty()).then_some(value))?;
        }
        for (field, value) in &device.values {
            entry.set_item(field.key(), value)?;
        }
        let ecc = PyDict::new(py);
        for (kind, count) in &device.ecc {
            ecc.set_item(kind, count)?;
        }
        entry.set_item("ecc_errors_total", ecc)?;
        let reasons = device.throttle.map(|bits| {
            THROTTLE_REASONS.iter().filter(|(bit, _)| bits & bit != 0).map(|(_, name)| *name).collect::<Vec<_>>()
        });
        entry.set_item("clock_throttle_reasons", reasons)?;
        let throttled = PyDict::new(py);
        for (reason, seconds) in &device.violations {
            throttled.set_item(reason, seconds)?;
        }
        entry.set_item("clock_throttle_seconds_total", throttled)?;
        let links = PyList::empty(py);
        for link in &device.nvlinks {
            let item = PyDict::new(py);
            item.set_item("link", link.link)?;
            item.set_item("active", link.active)?;
            item.set_item("transmit_bytes_total", link.transmit_bytes)?;
            item.set_item("receive_bytes_total", link.receive_bytes)?;
            let errors = PyDict::new(py);
            for (kind, count) in &link.errors {
                errors.set_item(kind, count)?;
            }
            item.set_item("errors_total", errors)?;
            links.append(item)?;
        }
        entry.set_item("nvlinks", links)?;
        match &device.xid {
            Some(xid) => {
                let counts = PyDict::new(py);
                for (code, count) in &xid.counts {
                    counts.set_item(code, count)?;
                }
                entry.set_item("xid_errors_total", counts)?;
                entry.set_item("xid_last", xid.last.map(|(code, when)| (code, seconds(when))))?;
            }
            None => {
                entry.set_item("xid_errors_total", py.None())?;
                entry.set_item("xid_last", py.None())?;
            }
        }
        let processes = PyList::empty(py);
        for process in &device.processes {
            let item = PyDict::new(py);
            item.set_item("pid", process.pid)?;
            item.set_item("process", &process.name)?;
            item.set_item("memory_used_bytes", process.used_bytes)?;
            processes.append(item)?;
        }
        entry.set_item("processes", processes)?;
        devices.append(entry)?;
    }
    dict.set_item("devices", devices)?;
    Ok(dict)
}

/// Adds `gpu_sample` to the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(gpu_sample, module)?)
}
