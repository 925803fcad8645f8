//! gpu: NVIDIA GPUs through NVML, `nvidia_gpu_*`.
//!
//! NVML is loaded at run time with dlopen (`libnvidia-ml.so.1`, or `--collector.gpu.nvml-library`),
//! so nothing of NVIDIA's is needed to build, and one wheel serves machines with and without a
//! GPU. A background thread sweeps every device each `--collector.gpu.interval`; a scrape only
//! formats the latest sweep, so it never waits on the driver (NVML calls can block for
//! milliseconds, PCIe throughput for ~20 ms, and that one is behind `--collector.gpu.pcie`).
//! Names and UUIDs are read once per NVML session.
//!
//! What can go wrong is reported, never fatal: no library or an NVML init failure is one log
//! line and `nvidia_gpu_count 0`; a field a GPU does not support is left out; a GPU that falls
//! off the bus (`NVML_ERROR_GPU_IS_LOST`) is reported as `nvidia_gpu_lost 1` and NVML is
//! initialised again at the next sweep, until the GPU is back.

use super::{Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use parking_lot::Mutex;
use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

/// The library NVML's own tools load.
pub const DEFAULT_LIBRARY: &str = "libnvidia-ml.so.1";

type Device = *mut c_void;
type Return = c_int;

const SUCCESS: Return = 0;
const INSUFFICIENT_SIZE: Return = 7;
const GPU_IS_LOST: Return = 15;

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Utilization {
    gpu: c_uint,
    memory: c_uint,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Memory {
    total: c_ulonglong,
    free: c_ulonglong,
    used: c_ulonglong,
}

/// `nvmlProcessInfo_t` as `nvmlDeviceGetComputeRunningProcesses_v3` fills it.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct ProcessInfo {
    pid: c_uint,
    used_gpu_memory: c_ulonglong,
    gpu_instance_id: c_uint,
    compute_instance_id: c_uint,
}

/// Declares the NVML functions used, each looked up by name when the library is loaded.
macro_rules! nvml_functions {
    ($($field:ident = $symbol:literal ($($arg:ty),*);)*) => {
        struct Functions {
            $($field: Option<unsafe extern "C" fn($($arg),*) -> Return>,)*
        }

        impl Functions {
            /// SAFETY: `library` is a live dlopen handle; each symbol has the declared signature.
            unsafe fn load(library: *mut c_void) -> Functions {
                Functions {
                    $($field: {
                        let symbol = libc::dlsym(library, concat!($symbol, "\0").as_ptr().cast());
                        (!symbol.is_null()).then(|| {
                            std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($arg),*) -> Return>(symbol)
                        })
                    },)*
                }
            }
        }
    };
}

nvml_functions! {
    init = "nvmlInit_v2"();
    shutdown = "nvmlShutdown"();
    driver_version = "nvmlSystemGetDriverVersion"(*mut c_char, c_uint);
    cuda_version = "nvmlSystemGetCudaDriverVersion_v2"(*mut c_int);
    count = "nvmlDeviceGetCount_v2"(*mut c_uint);
    handle_by_index = "nvmlDeviceGetHandleByIndex_v2"(c_uint, *mut Device);
    name = "nvmlDeviceGetName"(Device, *mut c_char, c_uint);
    uuid = "nvmlDeviceGetUUID"(Device, *mut c_char, c_uint);
    utilization = "nvmlDeviceGetUtilizationRates"(Device, *mut Utilization);
    memory = "nvmlDeviceGetMemoryInfo"(Device, *mut Memory);
    temperature = "nvmlDeviceGetTemperature"(Device, c_int, *mut c_uint);
    power = "nvmlDeviceGetPowerUsage"(Device, *mut c_uint);
    power_limit = "nvmlDeviceGetEnforcedPowerLimit"(Device, *mut c_uint);
    energy = "nvmlDeviceGetTotalEnergyConsumption"(Device, *mut c_ulonglong);
    clock = "nvmlDeviceGetClockInfo"(Device, c_int, *mut c_uint);
    fan = "nvmlDeviceGetFanSpeed"(Device, *mut c_uint);
    performance_state = "nvmlDeviceGetPerformanceState"(Device, *mut c_int);
    ecc = "nvmlDeviceGetTotalEccErrors"(Device, c_int, c_int, *mut c_ulonglong);
    throttle = "nvmlDeviceGetCurrentClocksEventReasons"(Device, *mut c_ulonglong);
    throttle_before_r535 = "nvmlDeviceGetCurrentClocksThrottleReasons"(Device, *mut c_ulonglong);
    processes = "nvmlDeviceGetComputeRunningProcesses_v3"(Device, *mut c_uint, *mut ProcessInfo);
    pcie = "nvmlDeviceGetPcieThroughput"(Device, c_int, *mut c_uint);
    mig_mode = "nvmlDeviceGetMigMode"(Device, *mut c_uint, *mut c_uint);
    mig_count = "nvmlDeviceGetMaxMigDeviceCount"(Device, *mut c_uint);
    mig_by_index = "nvmlDeviceGetMigDeviceHandleByIndex"(Device, c_uint, *mut Device);
    gpu_instance = "nvmlDeviceGetGpuInstanceId"(Device, *mut c_uint);
    compute_instance = "nvmlDeviceGetComputeInstanceId"(Device, *mut c_uint);
}

/// The loaded library. It is never unloaded: the sampler thread may outlive a collector.
struct Nvml {
    functions: Functions,
    error_string: Option<unsafe extern "C" fn(Return) -> *const c_char>,
}

// SAFETY: NVML is thread-safe; the struct holds only function pointers into it.
unsafe impl Send for Nvml {}
unsafe impl Sync for Nvml {}

/// What one NVML call said.
#[derive(Clone, Copy)]
enum Answer<T> {
    Value(T),
    /// Not supported by this device, or not exported by this library: left out.
    Absent,
    Lost,
}

impl Nvml {
    fn open(library: &Path) -> Result<Nvml> {
        let path = CString::new(library.as_os_str().as_bytes())
            .map_err(|_| Error::InvalidValue(format!("NVML library path {library:?} holds a NUL byte")))?;
        // SAFETY: dlopen/dlsym/dlerror on a NUL-terminated path; the symbols are NVML's.
        unsafe {
            let handle = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            if handle.is_null() {
                let reason = libc::dlerror();
                let reason = if reason.is_null() { "unknown".into() } else { CStr::from_ptr(reason).to_string_lossy() };
                return Err(Error::InvalidValue(format!("cannot load NVML from {}: {reason}", library.display())));
            }
            let functions = Functions::load(handle);
            let error_string = libc::dlsym(handle, c"nvmlErrorString".as_ptr());
            let error_string = (!error_string.is_null()).then(|| {
                std::mem::transmute::<*mut c_void, unsafe extern "C" fn(Return) -> *const c_char>(error_string)
            });
            let nvml = Nvml { functions, error_string };
            let f = &nvml.functions;
            if f.init.is_none() || f.count.is_none() || f.handle_by_index.is_none() {
                return Err(Error::InvalidValue(format!("{} is not an NVML library", library.display())));
            }
            Ok(nvml)
        }
    }

    fn describe(&self, code: Return) -> String {
        // SAFETY: nvmlErrorString returns a static string for any code.
        let text = self.error_string.map(|f| unsafe { f(code) }).filter(|p| !p.is_null());
        let text = text.map(|p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned());
        format!("{} (NVML error {code})", text.unwrap_or_else(|| "unknown error".into()))
    }

    /// Maps the code of a call (`None`: not in this library) to an [`Answer`].
    fn ask<T>(&self, code: Option<Return>, value: impl FnOnce() -> T) -> Answer<T> {
        match code {
            Some(SUCCESS) => Answer::Value(value()),
            Some(GPU_IS_LOST) => Answer::Lost,
            _ => Answer::Absent,
        }
    }

    fn text(&self, f: Option<unsafe extern "C" fn(Device, *mut c_char, c_uint) -> Return>, device: Device) -> String {
        let mut buf = [0 as c_char; 256];
        // SAFETY: NVML writes at most `len` bytes, NUL-terminated, into our buffer.
        let code = f.map(|f| unsafe { f(device, buf.as_mut_ptr(), buf.len() as c_uint) });
        match self.ask(code, || unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()) {
            Answer::Value(text) => text,
            _ => String::new(),
        }
    }

    /// Starts an NVML session: versions, and every GPU with its name and UUID.
    fn start_session(&self) -> std::result::Result<Session, String> {
        let f = &self.functions;
        // SAFETY: the calls below pass pointers to locals of the types NVML declares.
        unsafe {
            let code = f.init.map_or(SUCCESS, |init| init());
            if code != SUCCESS {
                return Err(format!("NVML init failed: {}", self.describe(code)));
            }
            let mut buf = [0 as c_char; 96];
            let driver_version = match f.driver_version.map(|g| g(buf.as_mut_ptr(), buf.len() as c_uint)) {
                Some(SUCCESS) => CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned(),
                _ => String::new(),
            };
            let mut cuda: c_int = 0;
            let cuda_version = match f.cuda_version.map(|g| g(&mut cuda)) {
                Some(SUCCESS) => format!("{}.{}", cuda / 1000, cuda % 1000 / 10),
                _ => String::new(),
            };
            let mut count: c_uint = 0;
            let code = f.count.map_or(SUCCESS, |g| g(&mut count));
            if code != SUCCESS {
                return Err(format!("cannot count the GPUs: {}", self.describe(code)));
            }
            let mut gpus = Vec::new();
            for index in 0..count {
                let mut device: Device = std::ptr::null_mut();
                if f.handle_by_index.map(|g| g(index, &mut device)) == Some(SUCCESS) {
                    gpus.push(Gpu { index, device, name: self.text(f.name, device), uuid: self.text(f.uuid, device) });
                }
            }
            Ok(Session { driver_version, cuda_version, gpus })
        }
    }

    fn end_session(&self) {
        // SAFETY: pairs the init of the session that is ending.
        if let Some(shutdown) = self.functions.shutdown {
            unsafe { shutdown() };
        }
    }

    /// Reads a device's values into `out`; false when the device is lost.
    fn sweep_device(&self, device: Device, settings: &GpuSettings, out: &mut DeviceSample) -> bool {
        let f = &self.functions;
        let mut answers: Vec<(Field, Answer<f64>)> = Vec::with_capacity(Field::ALL.len());
        let mut lost = false;
        // SAFETY: each call gets the device handle NVML gave and pointers to locals it fills.
        unsafe {
            let mut rates = Utilization::default();
            let rates = self.ask(f.utilization.map(|g| g(device, &mut rates)), || rates);
            answers.push((Field::Utilization, rates.map(|r| r.gpu.into())));
            answers.push((Field::MemoryUtilization, rates.map(|r| r.memory.into())));
            let mut memory = Memory::default();
            let memory = self.ask(f.memory.map(|g| g(device, &mut memory)), || memory);
            answers.push((Field::MemoryUsed, memory.map(|m| m.used as f64)));
            answers.push((Field::MemoryTotal, memory.map(|m| m.total as f64)));
            answers.push((Field::MemoryFree, memory.map(|m| m.free as f64)));
            let mut v: c_uint = 0;
            answers.push((Field::Temperature, self.ask(f.temperature.map(|g| g(device, 0, &mut v)), || v.into())));
            answers.push((Field::Power, self.ask(f.power.map(|g| g(device, &mut v)), || f64::from(v) / 1e3)));
            answers
                .push((Field::PowerLimit, self.ask(f.power_limit.map(|g| g(device, &mut v)), || f64::from(v) / 1e3)));
            let mut wide: c_ulonglong = 0;
            answers.push((Field::Energy, self.ask(f.energy.map(|g| g(device, &mut wide)), || wide as f64 / 1e3)));
            answers.push((Field::SmClock, self.ask(f.clock.map(|g| g(device, 1, &mut v)), || f64::from(v) * 1e6)));
            answers.push((Field::MemoryClock, self.ask(f.clock.map(|g| g(device, 2, &mut v)), || f64::from(v) * 1e6)));
            answers.push((Field::FanSpeed, self.ask(f.fan.map(|g| g(device, &mut v)), || v.into())));
            let mut state: c_int = 0;
            let state = self.ask(f.performance_state.map(|g| g(device, &mut state)), || state.into());
            answers.push((Field::PerformanceState, state));
            if settings.pcie {
                let kib = |v: c_uint| f64::from(v) * 1024.0;
                answers.push((Field::PcieTx, self.ask(f.pcie.map(|g| g(device, 0, &mut v)), || kib(v))));
                answers.push((Field::PcieRx, self.ask(f.pcie.map(|g| g(device, 1, &mut v)), || kib(v))));
            }
            for (field, answer) in answers {
                match answer {
                    Answer::Value(value) => out.values.push((field, value)),
                    Answer::Absent => {}
                    Answer::Lost => lost = true,
                }
            }
            for (error_type, name) in [(0, "corrected"), (1, "uncorrected")] {
                // Counter type 1: aggregate, the lifetime count (volatile ones reset at driver load).
                match self.ask(f.ecc.map(|g| g(device, error_type, 1, &mut wide)), || wide as f64) {
                    Answer::Value(count) => out.ecc.push((name, count)),
                    Answer::Absent => {}
                    Answer::Lost => lost = true,
                }
            }
            match self.ask(f.throttle.or(f.throttle_before_r535).map(|g| g(device, &mut wide)), || wide) {
                Answer::Value(reasons) => out.throttle = Some(reasons),
                Answer::Absent => {}
                Answer::Lost => lost = true,
            }
            let mut infos = [ProcessInfo::default(); 64];
            let mut count = infos.len() as c_uint;
            let code = f.processes.map(|g| g(device, &mut count, infos.as_mut_ptr()));
            // More processes than we have room for: the first 64 are reported.
            let code = code.map(|c| if c == INSUFFICIENT_SIZE { SUCCESS } else { c });
            match self.ask(code, || &infos[..(count as usize).min(infos.len())]) {
                Answer::Value(infos) => out.processes.extend(infos.iter().map(|info| Process {
                    pid: info.pid,
                    name: process_name(&settings.procfs, info.pid),
                    used_bytes: info.used_gpu_memory as f64,
                })),
                Answer::Absent => {}
                Answer::Lost => lost = true,
            }
        }
        !lost
    }

    /// The MIG devices of a GPU in MIG mode, with their instance ids.
    fn mig_devices(&self, gpu: Device) -> Vec<(Device, u32, u32)> {
        let f = &self.functions;
        let mut devices = Vec::new();
        // SAFETY: pointers to locals of the declared types.
        unsafe {
            let (mut current, mut pending, mut count): (c_uint, c_uint, c_uint) = (0, 0, 0);
            if f.mig_mode.map(|g| g(gpu, &mut current, &mut pending)) != Some(SUCCESS) || current != 1 {
                return devices;
            }
            if f.mig_count.map(|g| g(gpu, &mut count)) != Some(SUCCESS) {
                return devices;
            }
            for index in 0..count {
                let mut mig: Device = std::ptr::null_mut();
                if f.mig_by_index.map(|g| g(gpu, index, &mut mig)) != Some(SUCCESS) {
                    continue; // an empty slot
                }
                let (mut gi, mut ci): (c_uint, c_uint) = (0, 0);
                f.gpu_instance.map(|g| g(mig, &mut gi));
                f.compute_instance.map(|g| g(mig, &mut ci));
                devices.push((mig, gi, ci));
            }
        }
        devices
    }
}

impl<T> Answer<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Answer::Value(v) => Answer::Value(f(v)),
            Answer::Absent => Answer::Absent,
            Answer::Lost => Answer::Lost,
        }
    }
}

/// `comm` of a process, empty when it is gone or in another PID namespace.
fn process_name(procfs: &Path, pid: u32) -> String {
    std::fs::read_to_string(procfs.join(pid.to_string()).join("comm"))
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_default()
}

/// A GPU of the current NVML session, with what never changes in it.
struct Gpu {
    index: u32,
    device: Device,
    name: String,
    uuid: String,
}

struct Session {
    driver_version: String,
    cuda_version: String,
    gpus: Vec<Gpu>,
}

// SAFETY: NVML device handles are valid in every thread of the process until nvmlShutdown.
unsafe impl Send for Session {}

/// The per-device values, in exposition order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `nvidia_gpu_utilization_percent`
    Utilization,
    /// `nvidia_gpu_memory_utilization_percent`
    MemoryUtilization,
    /// `nvidia_gpu_memory_used_bytes`
    MemoryUsed,
    /// `nvidia_gpu_memory_total_bytes`
    MemoryTotal,
    /// `nvidia_gpu_memory_free_bytes`
    MemoryFree,
    /// `nvidia_gpu_temperature_celsius`
    Temperature,
    /// `nvidia_gpu_power_watts`
    Power,
    /// `nvidia_gpu_power_limit_watts`
    PowerLimit,
    /// `nvidia_gpu_energy_joules_total`
    Energy,
    /// `nvidia_gpu_sm_clock_hz`
    SmClock,
    /// `nvidia_gpu_memory_clock_hz`
    MemoryClock,
    /// `nvidia_gpu_fan_speed_percent`
    FanSpeed,
    /// `nvidia_gpu_performance_state`
    PerformanceState,
    /// `nvidia_gpu_pcie_transmit_bytes_per_second`
    PcieTx,
    /// `nvidia_gpu_pcie_receive_bytes_per_second`
    PcieRx,
}

impl Field {
    const ALL: [Field; 15] = [
        Field::Utilization,
        Field::MemoryUtilization,
        Field::MemoryUsed,
        Field::MemoryTotal,
        Field::MemoryFree,
        Field::Temperature,
        Field::Power,
        Field::PowerLimit,
        Field::Energy,
        Field::SmClock,
        Field::MemoryClock,
        Field::FanSpeed,
        Field::PerformanceState,
        Field::PcieTx,
        Field::PcieRx,
    ];

    /// `(family name, sample name, help, type)`.
    pub fn describe(self) -> (&'static str, &'static str, &'static str, MetricType) {
        match self {
            Field::Utilization => (
                "nvidia_gpu_utilization_percent",
                "nvidia_gpu_utilization_percent",
                "Percent of time over the last sample period during which a kernel was running on the GPU.",
                MetricType::Gauge,
            ),
            Field::MemoryUtilization => (
                "nvidia_gpu_memory_utilization_percent",
                "nvidia_gpu_memory_utilization_percent",
                "Percent of time over the last sample period during which device memory was read or written.",
                MetricType::Gauge,
            ),
            Field::MemoryUsed => (
                "nvidia_gpu_memory_used_bytes",
                "nvidia_gpu_memory_used_bytes",
                "Device memory in use.",
                MetricType::Gauge,
            ),
            Field::MemoryTotal => (
                "nvidia_gpu_memory_total_bytes",
                "nvidia_gpu_memory_total_bytes",
                "Device memory in all.",
                MetricType::Gauge,
            ),
            Field::MemoryFree => (
                "nvidia_gpu_memory_free_bytes",
                "nvidia_gpu_memory_free_bytes",
                "Device memory free.",
                MetricType::Gauge,
            ),
            Field::Temperature => (
                "nvidia_gpu_temperature_celsius",
                "nvidia_gpu_temperature_celsius",
                "GPU core temperature.",
                MetricType::Gauge,
            ),
            Field::Power => {
                ("nvidia_gpu_power_watts", "nvidia_gpu_power_watts", "Power drawn by the board.", MetricType::Gauge)
            }
            Field::PowerLimit => (
                "nvidia_gpu_power_limit_watts",
                "nvidia_gpu_power_limit_watts",
                "Power limit the driver enforces.",
                MetricType::Gauge,
            ),
            Field::Energy => (
                "nvidia_gpu_energy_joules",
                "nvidia_gpu_energy_joules_total",
                "Energy consumed since the driver was loaded.",
                MetricType::Counter,
            ),
            Field::SmClock => {
                ("nvidia_gpu_sm_clock_hz", "nvidia_gpu_sm_clock_hz", "SM clock frequency.", MetricType::Gauge)
            }
            Field::MemoryClock => (
                "nvidia_gpu_memory_clock_hz",
                "nvidia_gpu_memory_clock_hz",
                "Memory clock frequency.",
                MetricType::Gauge,
            ),
            Field::FanSpeed => (
                "nvidia_gpu_fan_speed_percent",
                "nvidia_gpu_fan_speed_percent",
                "Intended fan speed, percent of the maximum.",
                MetricType::Gauge,
            ),
            Field::PerformanceState => (
                "nvidia_gpu_performance_state",
                "nvidia_gpu_performance_state",
                "Performance state, 0 (P0, maximum) to 15 (P15, minimum).",
                MetricType::Gauge,
            ),
            Field::PcieTx => (
                "nvidia_gpu_pcie_transmit_bytes_per_second",
                "nvidia_gpu_pcie_transmit_bytes_per_second",
                "PCIe transmit throughput over the last 20 ms.",
                MetricType::Gauge,
            ),
            Field::PcieRx => (
                "nvidia_gpu_pcie_receive_bytes_per_second",
                "nvidia_gpu_pcie_receive_bytes_per_second",
                "PCIe receive throughput over the last 20 ms.",
                MetricType::Gauge,
            ),
        }
    }

    /// The key of this field in `obsagent.gpu.sample()`.
    pub fn key(self) -> &'static str {
        self.describe().1.strip_prefix("nvidia_gpu_").unwrap_or_default()
    }
}

/// NVML's clock event (throttle) reason bits and their label values.
pub const THROTTLE_REASONS: [(u64, &str); 9] = [
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
];

/// A process using a device.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    /// Its PID.
    pub pid: u32,
    /// Its `comm`, empty when unknown.
    pub name: String,
    /// Device memory it holds.
    pub used_bytes: f64,
}

/// One device in a sweep: a GPU, or a MIG device of one.
#[derive(Debug, Clone, Default)]
pub struct DeviceSample {
    /// Index of the GPU (of the parent GPU, for a MIG device).
    pub gpu: u32,
    /// `GPU-...` or `MIG-...`.
    pub uuid: String,
    /// Product name.
    pub name: String,
    /// GPU and compute instance ids of a MIG device.
    pub mig: Option<(u32, u32)>,
    /// Whether the GPU fell off the bus; its values are then left out.
    pub lost: bool,
    /// The values it reported.
    pub values: Vec<(Field, f64)>,
    /// Lifetime ECC error counts by type.
    pub ecc: Vec<(&'static str, f64)>,
    /// Clock event reason bits.
    pub throttle: Option<u64>,
    /// Processes holding device memory.
    pub processes: Vec<Process>,
}

/// One sweep of every device.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// When the sweep ended.
    pub taken: Option<SystemTime>,
    /// How long the sweep took.
    pub sweep_seconds: f64,
    /// Sweeps made since the sampler started, this one included.
    pub sweeps: u64,
    /// Driver version, empty when unknown.
    pub driver_version: String,
    /// CUDA driver API version (`12.4`), empty when unknown.
    pub cuda_version: String,
    /// GPUs found (MIG devices not counted).
    pub gpus: usize,
    /// GPUs, each followed by its MIG devices.
    pub devices: Vec<DeviceSample>,
    /// Why there is no data (no library, init failure), when there is none.
    pub error: Option<String>,
}

/// How the sampler is set up.
#[derive(Debug, Clone)]
pub struct GpuSettings {
    /// The NVML library to load.
    pub library: PathBuf,
    /// Time between sweeps.
    pub interval: Duration,
    /// Whether to read PCIe throughput (blocks ~20 ms per device in NVML).
    pub pcie: bool,
    /// Where process names are read.
    pub procfs: PathBuf,
}

impl GpuSettings {
    fn from_config(config: &Config) -> GpuSettings {
        GpuSettings {
            library: config.gpu_nvml_library.clone().unwrap_or_else(|| DEFAULT_LIBRARY.into()),
            interval: config.gpu_interval.filter(|i| !i.is_zero()).unwrap_or(Duration::from_secs(1)),
            pcie: config.gpu_pcie,
            procfs: config.paths.procfs.clone(),
        }
    }
}

/// Sweeps the GPUs on its own thread and keeps the latest sweep.
pub struct GpuSampler {
    latest: Mutex<Arc<Sample>>,
    /// The process whose thread sweeps: a forked child has no such thread.
    pid: u32,
}

impl GpuSampler {
    /// Loads NVML and makes the first sweep here, so that the first scrape has it and what
    /// went wrong is logged before the daemon says it listens; then sweeps on a thread that
    /// ends after the sampler is dropped.
    pub fn start(settings: GpuSettings) -> Arc<GpuSampler> {
        let nvml = Nvml::open(&settings.library);
        let first = match &nvml {
            Ok(_) => Sample::default(),
            Err(err) => {
                crate::log::info("no NVIDIA GPU data", &[("collector", "gpu"), ("error", &err.to_string())]); // most machines have no GPU
                Sample { error: Some(err.to_string()), ..Sample::default() }
            }
        };
        let sampler = Arc::new(GpuSampler { latest: Mutex::new(Arc::new(first)), pid: std::process::id() });
        *CURRENT.lock() = Arc::downgrade(&sampler);
        let Ok(nvml) = nvml else { return sampler };
        let mut sweeper = Sweeper {
            nvml,
            settings,
            session: None,
            lost_before: Vec::new(),
            known: Vec::new(),
            sweeps: 0,
            failure_logged: false,
        };
        sampler.publish(sweeper.sweep());
        let weak = Arc::downgrade(&sampler);
        let spawned = std::thread::Builder::new().name("obsagent-gpu".into()).spawn(move || loop {
            let started = Instant::now();
            std::thread::sleep(sweeper.settings.interval.saturating_sub(started.elapsed()));
            let sample = sweeper.sweep();
            match weak.upgrade() {
                Some(sampler) => sampler.publish(sample),
                None => return,
            }
        });
        if let Err(err) = spawned {
            sampler.publish(Sample { error: Some(format!("cannot start the GPU thread: {err}")), ..Sample::default() });
        }
        sampler
    }

    /// The latest sweep.
    pub fn latest(&self) -> Arc<Sample> {
        self.latest.lock().clone()
    }

    fn publish(&self, sample: Sample) {
        *self.latest.lock() = Arc::new(sample);
    }
}

/// The sampler started last in this process, for `obsagent.gpu.sample()`.
static CURRENT: Mutex<Weak<GpuSampler>> = Mutex::new(Weak::new());

/// The sampler started last in this process, if it still runs (not one a parent started
/// before forking this process: its thread stayed in the parent).
pub fn current() -> Option<Arc<GpuSampler>> {
    CURRENT.lock().upgrade().filter(|sampler| sampler.pid == std::process::id())
}

/// The sampler thread's state between sweeps.
struct Sweeper {
    nvml: Nvml,
    settings: GpuSettings,
    session: Option<Session>,
    /// GPUs lost at the last sweep.
    lost_before: Vec<u32>,
    /// `(index, uuid, name)` of the GPUs of the last session.
    known: Vec<(u32, String, String)>,
    sweeps: u64,
    failure_logged: bool,
}

impl Sweeper {
    /// One sweep, starting an NVML session first if there is none (at start, after a failed
    /// init, after a GPU was lost).
    fn sweep(&mut self) -> Sample {
        let started = Instant::now();
        self.sweeps += 1;
        if self.session.is_none() {
            match self.nvml.start_session() {
                Ok(mut session) => {
                    // A GPU still lost doesn't say its name: keep what it said before.
                    for gpu in session.gpus.iter_mut().filter(|g| g.uuid.is_empty()) {
                        if let Some((_, uuid, name)) = self.known.iter().find(|(index, ..)| *index == gpu.index) {
                            (gpu.uuid, gpu.name) = (uuid.clone(), name.clone());
                        }
                    }
                    self.known = session.gpus.iter().map(|g| (g.index, g.uuid.clone(), g.name.clone())).collect();
                    self.session = Some(session);
                }
                Err(err) => {
                    if !self.failure_logged {
                        crate::log::warn("no NVIDIA GPU data", &[("collector", "gpu"), ("error", &err)]);
                        self.failure_logged = true;
                    }
                    return Sample { error: Some(err), sweeps: self.sweeps, ..Sample::default() };
                }
            }
        }
        let Some(session) = &self.session else { return Sample::default() };
        let sample = Sample { sweeps: self.sweeps, ..sweep(&self.nvml, session, &self.settings, started) };
        let lost: Vec<u32> = sample.devices.iter().filter(|d| d.lost).map(|d| d.gpu).collect();
        for device in sample.devices.iter().filter(|d| d.mig.is_none()) {
            if device.lost && !self.lost_before.contains(&device.gpu) {
                let message =
                    format!("GPU {} ({}) is lost; NVML is started again at each sweep", device.gpu, device.uuid);
                crate::log::error("GPU lost", &[("collector", "gpu"), ("error", &message)]);
            } else if !device.lost && self.lost_before.contains(&device.gpu) {
                let message = format!("GPU {} ({}) answers again", device.gpu, device.uuid);
                crate::log::info("GPU back", &[("collector", "gpu"), ("detail", &message)]);
            }
        }
        if !lost.is_empty() {
            self.nvml.end_session();
            self.session = None;
        }
        self.lost_before = lost;
        sample
    }
}

fn sweep(nvml: &Nvml, session: &Session, settings: &GpuSettings, started: Instant) -> Sample {
    let mut devices = Vec::new();
    for gpu in &session.gpus {
        let identity = || DeviceSample {
            gpu: gpu.index,
            uuid: gpu.uuid.clone(),
            name: gpu.name.clone(),
            ..DeviceSample::default()
        };
        let mut sample = identity();
        if !nvml.sweep_device(gpu.device, settings, &mut sample) {
            // What a lost GPU answered before it went is not reported.
            devices.push(DeviceSample { lost: true, ..identity() });
            continue;
        }
        devices.push(sample);
        for (device, gi, ci) in nvml.mig_devices(gpu.device) {
            let mut mig = DeviceSample {
                gpu: gpu.index,
                uuid: nvml.text(nvml.functions.uuid, device),
                name: nvml.text(nvml.functions.name, device),
                mig: Some((gi, ci)),
                ..DeviceSample::default()
            };
            if nvml.sweep_device(device, settings, &mut mig) {
                devices.push(mig);
            }
        }
    }
    Sample {
        taken: Some(SystemTime::now()),
        sweep_seconds: started.elapsed().as_secs_f64(),
        driver_version: session.driver_version.clone(),
        cuda_version: session.cuda_version.clone(),
        gpus: session.gpus.len(),
        devices,
        ..Sample::default()
    }
}

struct GpuCollector {
    sampler: Arc<GpuSampler>,
}

/// Builds the collector and starts its sampler.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(GpuCollector { sampler: GpuSampler::start(GpuSettings::from_config(config)) }))
}

/// The identifying labels of a device.
fn device_labels(device: &DeviceSample) -> Vec<(Text, Text)> {
    let mut labels: Vec<(Text, Text)> = vec![
        ("gpu".into(), device.gpu.to_string().into()),
        ("uuid".into(), device.uuid.clone().into()),
        ("name".into(), device.name.clone().into()),
    ];
    if let Some((gi, ci)) = device.mig {
        labels.push(("gpu_instance".into(), gi.to_string().into()));
        labels.push(("compute_instance".into(), ci.to_string().into()));
    }
    labels
}

fn with(labels: &[(Text, Text)], name: &'static str, value: impl Into<Text>) -> Vec<(Text, Text)> {
    let mut labels = labels.to_vec();
    labels.push((name.into(), value.into()));
    labels
}

/// The families of a sweep, as exposed.
pub fn families(sample: &Sample, now: SystemTime) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    let mut count = MetricFamily::new("nvidia_gpu_count", "Number of NVIDIA GPUs NVML reports.", MetricType::Gauge, "");
    count.push("", Vec::new(), sample.gpus as f64);
    out.push(count);
    if sample.devices.is_empty() {
        return out;
    }
    let labels: Vec<Vec<(Text, Text)>> = sample.devices.iter().map(device_labels).collect();
    let help = "GPU facts: driver and CUDA versions, 1 per device.";
    let mut info = MetricFamily::new("nvidia_gpu_info", help, MetricType::Gauge, "");
    let mut lost = MetricFamily::new(
        "nvidia_gpu_lost",
        "Whether the GPU fell off the bus (NVML_ERROR_GPU_IS_LOST).",
        MetricType::Gauge,
        "",
    );
    for (device, labels) in sample.devices.iter().zip(&labels) {
        let mut all = with(labels, "driver_version", sample.driver_version.clone());
        all.push(("cuda_version".into(), sample.cuda_version.clone().into()));
        info.push("", all, 1.0);
        if device.mig.is_none() {
            lost.push("", labels.clone(), if device.lost { 1.0 } else { 0.0 });
        }
    }
    out.push(info);
    out.push(lost);
    for field in Field::ALL {
        let (name, sample_name, help, kind) = field.describe();
        let mut family = MetricFamily::new(name, help, kind, "");
        for (device, labels) in sample.devices.iter().zip(&labels) {
            if let Some((_, value)) = device.values.iter().find(|(f, _)| *f == field) {
                family.push_named(sample_name, labels.clone(), *value);
            }
        }
        if !family.samples.is_empty() {
            out.push(family);
        }
    }
    let help = "ECC errors since the GPU was first used (aggregate counters), by type.";
    let mut ecc = MetricFamily::new("nvidia_gpu_ecc_errors", help, MetricType::Counter, "");
    let help = "Whether each reason is holding the clocks down now (NVML clock event reasons).";
    let mut throttle = MetricFamily::new("nvidia_gpu_clock_throttle_reasons", help, MetricType::Gauge, "");
    let help = "Device memory held by each process.";
    let mut processes = MetricFamily::new("nvidia_gpu_process_memory_used_bytes", help, MetricType::Gauge, "");
    for (device, labels) in sample.devices.iter().zip(&labels) {
        for (kind, value) in &device.ecc {
            ecc.push_named("nvidia_gpu_ecc_errors_total", with(labels, "type", *kind), *value);
        }
        if let Some(bits) = device.throttle {
            for (bit, reason) in THROTTLE_REASONS {
                throttle.push("", with(labels, "reason", reason), if bits & bit != 0 { 1.0 } else { 0.0 });
            }
        }
        for process in &device.processes {
            let mut all = with(labels, "pid", process.pid.to_string());
            all.push(("process".into(), process.name.clone().into()));
            processes.push("", all, process.used_bytes);
        }
    }
    out.extend([ecc, throttle, processes].into_iter().filter(|f| !f.samples.is_empty()));
    if let Some(taken) = sample.taken {
        let help = "Seconds since the GPU sample being served was taken.";
        let age = now.duration_since(taken).unwrap_or_default().as_secs_f64();
        let mut family = MetricFamily::new("obsagent_gpu_sample_age_seconds", help, MetricType::Gauge, "");
        family.push("", Vec::new(), age);
        out.push(family);
        let help = "How long the last sweep of every GPU through NVML took.";
        let mut family = MetricFamily::new("obsagent_gpu_sweep_duration_seconds", help, MetricType::Gauge, "");
        family.push("", Vec::new(), sample.sweep_seconds);
        out.push(family);
    }
    out
}

impl NodeCollector for GpuCollector {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        out.extend(families(&self.sampler.latest(), SystemTime::now()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stand-in NVML library built into a directory of its own, answering from `fixture`.
    fn stand_in(fixture: &str, extra: &str) -> PathBuf {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("obsagent-nvml-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("tests/fixtures/gpu").join(fixture)).unwrap();
        std::fs::write(dir.join("nvml-fixture.txt"), text + extra).unwrap();
        let library = dir.join("libnvidia-ml.so.1");
        let status = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&library)
            .arg(root.join("tests/nvml_standin/nvml.c"))
            .status()
            .expect("a C compiler (cc)");
        assert!(status.success());
        library
    }

    fn settings(library: PathBuf) -> GpuSettings {
        GpuSettings { library, interval: Duration::from_millis(50), pcie: false, procfs: "/proc".into() }
    }

    fn value(device: &DeviceSample, field: Field) -> Option<f64> {
        device.values.iter().find(|(f, _)| *f == field).map(|(_, v)| *v)
    }

    #[test]
    fn families_units_labels_and_left_out_fields() {
        let gpu = DeviceSample {
            gpu: 0,
            uuid: "GPU-1".into(),
            name: "H100".into(),
            values: vec![(Field::Power, 512.345), (Field::Energy, 98765.4321)],
            ecc: vec![("corrected", 3.0)],
            throttle: Some(0x5),
            processes: vec![Process { pid: 42, name: "python".into(), used_bytes: 1024.0 }],
            ..DeviceSample::default()
        };
        let mig = DeviceSample { gpu: 0, uuid: "MIG-1".into(), mig: Some((1, 0)), ..DeviceSample::default() };
        let taken = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let sample = Sample { taken: Some(taken), gpus: 1, devices: vec![gpu, mig], ..Sample::default() };
        let out = families(&sample, taken + Duration::from_millis(250));
        let find = |name: &str| out.iter().find(|f| f.name == name);
        assert_eq!(find("nvidia_gpu_count").unwrap().samples[0].value, 1.0);
        let energy = find("nvidia_gpu_energy_joules").unwrap();
        assert_eq!(
            (energy.kind, energy.samples[0].name.as_ref()),
            (MetricType::Counter, "nvidia_gpu_energy_joules_total")
        );
        assert!(find("nvidia_gpu_fan_speed_percent").is_none(), "a field no device reported is left out");
        let throttle = find("nvidia_gpu_clock_throttle_reasons").unwrap();
        let on: Vec<&str> =
            throttle.samples.iter().filter(|s| s.value == 1.0).map(|s| &*s.labels.last().unwrap().1).collect();
        assert_eq!(on, ["gpu_idle", "sw_power_cap"]);
        let info = find("nvidia_gpu_info").unwrap();
        let names: Vec<&str> = info.samples[1].labels.iter().map(|(n, _)| &**n).collect();
        assert_eq!(
            names,
            ["gpu", "uuid", "name", "gpu_instance", "compute_instance", "driver_version", "cuda_version"]
        );
        assert_eq!(find("nvidia_gpu_lost").unwrap().samples.len(), 1, "MIG devices have no lost flag of their own");
        assert_eq!(find("obsagent_gpu_sample_age_seconds").unwrap().samples[0].value, 0.25);
        let nothing = families(&Sample::default(), taken);
        assert_eq!(nothing.len(), 1);
        assert_eq!((&*nothing[0].name, nothing[0].samples[0].value), ("nvidia_gpu_count", 0.0));
    }

    #[test]
    fn samples_the_stand_in_library_and_survives_a_lost_gpu() {
        let library = stand_in("two_gpus.txt", "");
        let marker = library.with_file_name("lost");
        let fixture = library.with_file_name("nvml-fixture.txt");
        let text = std::fs::read_to_string(&fixture).unwrap();
        std::fs::write(&fixture, format!("{text}gpu1.lost_if={}\n", marker.display())).unwrap();
        let sampler = GpuSampler::start(settings(library));
        let sample = sampler.latest();
        assert_eq!(
            (sample.gpus, sample.driver_version.as_str(), sample.cuda_version.as_str()),
            (2, "550.54.15", "12.4")
        );
        let uuids: Vec<&str> = sample.devices.iter().map(|d| d.uuid.as_str()).collect();
        assert_eq!(
            uuids[1..],
            [
                "GPU-0a1b2c3d-4e5f-6789-abcd-ef0123456789",
                "MIG-11111111-2222-3333-4444-555555555555",
                "MIG-66666666-7777-8888-9999-000000000000"
            ]
        );
        let h100 = &sample.devices[0];
        assert_eq!(value(h100, Field::Power), Some(512.345));
        assert_eq!(value(h100, Field::Energy), Some(98765432.1));
        assert_eq!(value(h100, Field::SmClock), Some(1.98e9));
        assert_eq!(value(h100, Field::FanSpeed), None, "NOT_SUPPORTED is left out");
        assert_eq!(h100.processes.iter().map(|p| p.pid).collect::<Vec<_>>(), [4242, 4343]);
        assert_eq!(sample.devices[2].mig, Some((1, 0)));
        assert_eq!(value(&sample.devices[2], Field::MemoryUsed), Some(8589934592.0));
        assert_eq!(value(&sample.devices[1], Field::Utilization), None);

        std::fs::write(&marker, "").unwrap();
        let lost = wait_for(&sampler, |s| s.devices.iter().any(|d| d.lost));
        let a100 = lost.devices.iter().find(|d| d.gpu == 1).unwrap();
        assert!(a100.lost && a100.values.is_empty());
        assert_eq!(value(&lost.devices[0], Field::Temperature), Some(64.0), "the other GPU is still reported");
        std::fs::remove_file(&marker).unwrap();
        let back = wait_for(&sampler, |s| s.devices.len() == 4 && !s.devices.iter().any(|d| d.lost));
        assert_eq!(value(&back.devices[1], Field::Temperature), Some(48.0));
    }

    fn wait_for(sampler: &GpuSampler, done: impl Fn(&Sample) -> bool) -> Arc<Sample> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let sample = sampler.latest();
            if done(&sample) || Instant::now() > deadline {
                return sample;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn no_library_or_a_failed_init_is_no_gpu() {
        let missing = GpuSampler::start(settings("/nonexistent/libnvidia-ml.so.1".into()));
        let sample = missing.latest();
        assert_eq!(sample.gpus, 0);
        assert!(sample.error.as_deref().unwrap().contains("cannot load NVML"), "{:?}", sample.error);
        let failing = GpuSampler::start(settings(stand_in("init_failure.txt", "")));
        let sample = failing.latest();
        assert_eq!(sample.error.as_deref(), Some("NVML init failed: Driver Not Loaded (NVML error 9)"));
    }
}
