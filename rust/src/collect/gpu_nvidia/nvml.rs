//! The NVML binding: the library loaded with dlopen, each function looked up by name, and the
//! reads of one sweep of one device.
//!
//! Every call answers an [`Answer`]: a value, absent (the device doesn't support it, or this
//! driver's library doesn't export it: left out, never 0), or lost (the GPU fell off the bus).
//! Structs are NVML's own layouts (`nvml.h`); only what obsagent reads is declared.

use super::{DeviceSample, Field, Link, Process};
use crate::error::{Error, Result};
use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub(super) type Device = *mut c_void;
pub(super) type EventSet = *mut c_void;
type Return = c_int;

pub(super) const SUCCESS: Return = 0;
const INSUFFICIENT_SIZE: Return = 7;
pub(super) const TIMEOUT: Return = 10;
const GPU_IS_LOST: Return = 15;
/// `nvmlEventTypeXidCriticalError`.
pub(super) const XID_CRITICAL_ERROR: c_ulonglong = 0x8;
/// `NVML_NVLINK_MAX_LINKS` of recent drivers.
const MAX_LINKS: c_uint = 36;
/// `NVML_FI_DEV_MEMORY_TEMP`, `NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX` / `_RX` (KiB, per link).
const FIELD_MEMORY_TEMPERATURE: c_uint = 82;
const FIELD_NVLINK_DATA_TX: c_uint = 138;
const FIELD_NVLINK_DATA_RX: c_uint = 139;

#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(super) struct Utilization {
    gpu: c_uint,
    memory: c_uint,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(super) struct Memory {
    total: c_ulonglong,
    free: c_ulonglong,
    used: c_ulonglong,
}

/// `nvmlMemory_v2_t`: the one with the memory the driver reserves.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(super) struct MemoryV2 {
    version: c_uint,
    total: c_ulonglong,
    reserved: c_ulonglong,
    free: c_ulonglong,
    used: c_ulonglong,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(super) struct Bar1Memory {
    total: c_ulonglong,
    free: c_ulonglong,
    used: c_ulonglong,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(super) struct ViolationTime {
    reference_time: c_ulonglong,
    violation_time: c_ulonglong,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct PciInfo {
    bus_id_legacy: [c_char; 16],
    domain: c_uint,
    bus: c_uint,
    device: c_uint,
    pci_device_id: c_uint,
    pci_subsystem_id: c_uint,
    bus_id: [c_char; 32],
}

/// `nvmlFieldValue_t`; the value is a union of 8 bytes read by `value_type`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(super) struct FieldValue {
    field_id: c_uint,
    scope_id: c_uint,
    timestamp: i64,
    latency_usec: i64,
    value_type: c_int,
    code: Return,
    value: u64,
}

impl FieldValue {
    fn number(&self) -> Option<f64> {
        let bits = self.value;
        match self.value_type {
            0 => Some(f64::from_bits(bits)),
            1 => Some(f64::from(bits as u32)),
            2 | 3 => Some(bits as f64),
            4 => Some(bits as i64 as f64),
            5 => Some(f64::from(bits as u32 as i32)),
            6 => Some(f64::from(bits as u16)),
            _ => None,
        }
    }
}

/// `nvmlEventData_t`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct EventData {
    pub device: Device,
    pub event_type: c_ulonglong,
    pub event_data: c_ulonglong,
    gpu_instance_id: c_uint,
    compute_instance_id: c_uint,
}

impl Default for EventData {
    fn default() -> Self {
        EventData {
            device: std::ptr::null_mut(),
            event_type: 0,
            event_data: 0,
            gpu_instance_id: 0,
            compute_instance_id: 0,
        }
    }
}

/// `nvmlProcessInfo_t` as `nvmlDeviceGetComputeRunningProcesses_v3` fills it.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(super) struct ProcessInfo {
    pid: c_uint,
    used_gpu_memory: c_ulonglong,
    gpu_instance_id: c_uint,
    compute_instance_id: c_uint,
}

/// Declares the NVML functions used, each looked up by name when the library is loaded.
macro_rules! nvml_functions {
    ($($field:ident = $symbol:literal ($($arg:ty),*);)*) => {
        pub(super) struct Functions {
            $(pub(super) $field: Option<unsafe extern "C" fn($($arg),*) -> Return>,)*
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
    vbios_version = "nvmlDeviceGetVbiosVersion"(Device, *mut c_char, c_uint);
    serial = "nvmlDeviceGetSerial"(Device, *mut c_char, c_uint);
    pci_info = "nvmlDeviceGetPciInfo_v3"(Device, *mut PciInfo);
    compute_capability = "nvmlDeviceGetCudaComputeCapability"(Device, *mut c_int, *mut c_int);
    utilization = "nvmlDeviceGetUtilizationRates"(Device, *mut Utilization);
    encoder = "nvmlDeviceGetEncoderUtilization"(Device, *mut c_uint, *mut c_uint);
    decoder = "nvmlDeviceGetDecoderUtilization"(Device, *mut c_uint, *mut c_uint);
    memory = "nvmlDeviceGetMemoryInfo"(Device, *mut Memory);
    memory_v2 = "nvmlDeviceGetMemoryInfo_v2"(Device, *mut MemoryV2);
    bar1 = "nvmlDeviceGetBAR1MemoryInfo"(Device, *mut Bar1Memory);
    temperature = "nvmlDeviceGetTemperature"(Device, c_int, *mut c_uint);
    power = "nvmlDeviceGetPowerUsage"(Device, *mut c_uint);
    power_limit = "nvmlDeviceGetEnforcedPowerLimit"(Device, *mut c_uint);
    power_default_limit = "nvmlDeviceGetPowerManagementDefaultLimit"(Device, *mut c_uint);
    power_limit_range = "nvmlDeviceGetPowerManagementLimitConstraints"(Device, *mut c_uint, *mut c_uint);
    energy = "nvmlDeviceGetTotalEnergyConsumption"(Device, *mut c_ulonglong);
    clock = "nvmlDeviceGetClockInfo"(Device, c_int, *mut c_uint);
    max_clock = "nvmlDeviceGetMaxClockInfo"(Device, c_int, *mut c_uint);
    fan = "nvmlDeviceGetFanSpeed"(Device, *mut c_uint);
    performance_state = "nvmlDeviceGetPerformanceState"(Device, *mut c_int);
    ecc = "nvmlDeviceGetTotalEccErrors"(Device, c_int, c_int, *mut c_ulonglong);
    remapped_rows = "nvmlDeviceGetRemappedRows"(Device, *mut c_uint, *mut c_uint, *mut c_uint, *mut c_uint);
    retired_pages = "nvmlDeviceGetRetiredPages"(Device, c_int, *mut c_uint, *mut c_ulonglong);
    retired_pending = "nvmlDeviceGetRetiredPagesPendingStatus"(Device, *mut c_int);
    throttle = "nvmlDeviceGetCurrentClocksEventReasons"(Device, *mut c_ulonglong);
    throttle_before_r535 = "nvmlDeviceGetCurrentClocksThrottleReasons"(Device, *mut c_ulonglong);
    violation = "nvmlDeviceGetViolationStatus"(Device, c_int, *mut ViolationTime);
    processes = "nvmlDeviceGetComputeRunningProcesses_v3"(Device, *mut c_uint, *mut ProcessInfo);
    pcie = "nvmlDeviceGetPcieThroughput"(Device, c_int, *mut c_uint);
    pcie_replays = "nvmlDeviceGetPcieReplayCounter"(Device, *mut c_uint);
    pcie_generation = "nvmlDeviceGetCurrPcieLinkGeneration"(Device, *mut c_uint);
    pcie_max_generation = "nvmlDeviceGetMaxPcieLinkGeneration"(Device, *mut c_uint);
    pcie_width = "nvmlDeviceGetCurrPcieLinkWidth"(Device, *mut c_uint);
    pcie_max_width = "nvmlDeviceGetMaxPcieLinkWidth"(Device, *mut c_uint);
    nvlink_state = "nvmlDeviceGetNvLinkState"(Device, c_uint, *mut c_int);
    nvlink_errors = "nvmlDeviceGetNvLinkErrorCounter"(Device, c_uint, c_int, *mut c_ulonglong);
    field_values = "nvmlDeviceGetFieldValues"(Device, c_int, *mut FieldValue);
    mig_mode = "nvmlDeviceGetMigMode"(Device, *mut c_uint, *mut c_uint);
    mig_count = "nvmlDeviceGetMaxMigDeviceCount"(Device, *mut c_uint);
    mig_by_index = "nvmlDeviceGetMigDeviceHandleByIndex"(Device, c_uint, *mut Device);
    gpu_instance = "nvmlDeviceGetGpuInstanceId"(Device, *mut c_uint);
    compute_instance = "nvmlDeviceGetComputeInstanceId"(Device, *mut c_uint);
    event_set_create = "nvmlEventSetCreate"(*mut EventSet);
    event_set_free = "nvmlEventSetFree"(EventSet);
    register_events = "nvmlDeviceRegisterEvents"(Device, c_ulonglong, EventSet);
    event_set_wait = "nvmlEventSetWait_v2"(EventSet, *mut EventData, c_uint);
    event_set_wait_v1 = "nvmlEventSetWait"(EventSet, *mut EventData, c_uint);
}

/// The loaded library. It is never unloaded: the sampler thread may outlive a collector.
pub(super) struct Nvml {
    pub(super) functions: Functions,
    error_string: Option<unsafe extern "C" fn(Return) -> *const c_char>,
}

// SAFETY: NVML is thread-safe; the struct holds only function pointers into it.
unsafe impl Send for Nvml {}
unsafe impl Sync for Nvml {}

/// What one NVML call said.
#[derive(Clone, Copy)]
pub(super) enum Answer<T> {
    Value(T),
    /// Not supported by this device, or not exported by this library: left out.
    Absent,
    Lost,
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

/// What never changes in an NVML session, read once at its start.
#[derive(Default, Clone)]
pub(super) struct Identity {
    pub name: String,
    pub uuid: String,
    pub pci_bus_id: String,
    pub vbios_version: String,
    pub serial: String,
    pub compute_capability: String,
    /// The NVLink links the GPU has (active or not).
    pub links: Vec<u32>,
}

impl Nvml {
    pub(super) fn open(library: &Path) -> Result<Nvml> {
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

    pub(super) fn describe(&self, code: Return) -> String {
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

    pub(super) fn text(
        &self,
        f: Option<unsafe extern "C" fn(Device, *mut c_char, c_uint) -> Return>,
        device: Device,
    ) -> String {
        let mut buf = [0 as c_char; 256];
        // SAFETY: NVML writes at most `len` bytes, NUL-terminated, into our buffer.
        let code = f.map(|f| unsafe { f(device, buf.as_mut_ptr(), buf.len() as c_uint) });
        match self.ask(code, || unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()) {
            Answer::Value(text) => text,
            _ => String::new(),
        }
    }

    /// The name, UUID, PCI bus id, VBIOS, serial, compute capability and NVLink links of a GPU.
    pub(super) fn identity(&self, device: Device) -> Identity {
        let f = &self.functions;
        let mut identity = Identity {
            name: self.text(f.name, device),
            uuid: self.text(f.uuid, device),
            vbios_version: self.text(f.vbios_version, device),
            serial: self.text(f.serial, device),
            ..Identity::default()
        };
        // SAFETY: pointers to locals of the declared types.
        unsafe {
            let mut pci = PciInfo {
                bus_id_legacy: [0; 16],
                domain: 0,
                bus: 0,
                device: 0,
                pci_device_id: 0,
                pci_subsystem_id: 0,
                bus_id: [0; 32],
            };
            if f.pci_info.map(|g| g(device, &mut pci)) == Some(SUCCESS) {
                pci.bus_id[31] = 0;
                identity.pci_bus_id = CStr::from_ptr(pci.bus_id.as_ptr()).to_string_lossy().into_owned();
            }
            let (mut major, mut minor): (c_int, c_int) = (0, 0);
            if f.compute_capability.map(|g| g(device, &mut major, &mut minor)) == Some(SUCCESS) {
                identity.compute_capability = format!("{major}.{minor}");
            }
            let mut active: c_int = 0;
            for link in 0..MAX_LINKS {
                if f.nvlink_state.map(|g| g(device, link, &mut active)) == Some(SUCCESS) {
                    identity.links.push(link);
                }
            }
        }
        identity
    }

    /// Reads a device's values into `out`; false when the device is lost. `gpu`: the readings
    /// of a whole GPU (PCIe, NVLink, row remapping, ...) too, which MIG devices don't have.
    pub(super) fn sweep_device(
        &self,
        device: Device,
        pcie_throughput: bool,
        procfs: &Path,
        gpu: Option<&Identity>,
        out: &mut DeviceSample,
    ) -> bool {
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
            if pcie_throughput {
                let kib = |v: c_uint| f64::from(v) * 1024.0;
                answers.push((Field::PcieTx, self.ask(f.pcie.map(|g| g(device, 0, &mut v)), || kib(v))));
                answers.push((Field::PcieRx, self.ask(f.pcie.map(|g| g(device, 1, &mut v)), || kib(v))));
            }
            if let Some(identity) = gpu {
                self.sweep_gpu(device, identity, &mut answers, out, &mut lost);
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
                    name: process_name(procfs, info.pid),
                    used_bytes: info.used_gpu_memory as f64,
                })),
                Answer::Absent => {}
                Answer::Lost => lost = true,
            }
        }
        !lost
    }

    /// The readings of a whole GPU: encoder/decoder, memory temperature, reserved and BAR1
    /// memory, power limits, clocks, PCIe link, row remapping, retired pages, clock-event
    /// durations and NVLink.
    ///
    /// SAFETY: `device` is a GPU handle of the current session.
    unsafe fn sweep_gpu(
        &self,
        device: Device,
        identity: &Identity,
        answers: &mut Vec<(Field, Answer<f64>)>,
        out: &mut DeviceSample,
        lost: &mut bool,
    ) {
        let f = &self.functions;
        let (mut v, mut period): (c_uint, c_uint) = (0, 0);
        answers.push((
            Field::EncoderUtilization,
            self.ask(f.encoder.map(|g| g(device, &mut v, &mut period)), || v.into()),
        ));
        answers.push((
            Field::DecoderUtilization,
            self.ask(f.decoder.map(|g| g(device, &mut v, &mut period)), || v.into()),
        ));
        let mut memory =
            MemoryV2 { version: (std::mem::size_of::<MemoryV2>() as c_uint) | 2 << 24, ..MemoryV2::default() };
        let memory = self.ask(f.memory_v2.map(|g| g(device, &mut memory)), || memory);
        answers.push((Field::MemoryReserved, memory.map(|m| m.reserved as f64)));
        let mut bar1 = Bar1Memory::default();
        let bar1 = self.ask(f.bar1.map(|g| g(device, &mut bar1)), || bar1);
        answers.push((Field::Bar1Used, bar1.map(|m| m.used as f64)));
        answers.push((Field::Bar1Total, bar1.map(|m| m.total as f64)));
        answers.push((Field::Bar1Free, bar1.map(|m| m.free as f64)));
        let watts = |mw: c_uint| f64::from(mw) / 1e3;
        answers
            .push((Field::PowerDefaultLimit, self.ask(f.power_default_limit.map(|g| g(device, &mut v)), || watts(v))));
        let (mut low, mut high): (c_uint, c_uint) = (0, 0);
        let range = self.ask(f.power_limit_range.map(|g| g(device, &mut low, &mut high)), || (low, high));
        answers.push((Field::PowerMinLimit, range.map(|(low, _)| watts(low))));
        answers.push((Field::PowerMaxLimit, range.map(|(_, high)| watts(high))));
        let hz = |mhz: c_uint| f64::from(mhz) * 1e6;
        answers.push((Field::GraphicsClock, self.ask(f.clock.map(|g| g(device, 0, &mut v)), || hz(v))));
        answers.push((Field::VideoClock, self.ask(f.clock.map(|g| g(device, 3, &mut v)), || hz(v))));
        for (kind, field) in [
            (0, Field::MaxGraphicsClock),
            (1, Field::MaxSmClock),
            (2, Field::MaxMemoryClock),
            (3, Field::MaxVideoClock),
        ] {
            answers.push((field, self.ask(f.max_clock.map(|g| g(device, kind, &mut v)), || hz(v))));
        }
        for (call, field) in [
            (f.pcie_replays, Field::PcieReplays),
            (f.pcie_generation, Field::PcieLinkGeneration),
            (f.pcie_max_generation, Field::PcieLinkMaxGeneration),
            (f.pcie_width, Field::PcieLinkWidth),
            (f.pcie_max_width, Field::PcieLinkMaxWidth),
        ] {
            answers.push((field, self.ask(call.map(|g| g(device, &mut v)), || v.into())));
        }
        let (mut correctable, mut uncorrectable, mut pending, mut failure): (c_uint, c_uint, c_uint, c_uint) =
            (0, 0, 0, 0);
        let rows = self.ask(
            f.remapped_rows.map(|g| g(device, &mut correctable, &mut uncorrectable, &mut pending, &mut failure)),
            || (correctable, uncorrectable, pending, failure),
        );
        answers.push((Field::RemappedRowsCorrectable, rows.map(|r| r.0.into())));
        answers.push((Field::RemappedRowsUncorrectable, rows.map(|r| r.1.into())));
        answers.push((Field::RemappedRowsPending, rows.map(|r| r.2.into())));
        answers.push((Field::RemappedRowsFailed, rows.map(|r| r.3.into())));
        for (cause, field) in [(0, Field::RetiredPagesSingleBit), (1, Field::RetiredPagesDoubleBit)] {
            // A count of 0 asks for the count only; "insufficient size" then comes with it.
            let mut pages: c_uint = 0;
            let code = f.retired_pages.map(|g| g(device, cause, &mut pages, std::ptr::null_mut()));
            let code = code.map(|c| if c == INSUFFICIENT_SIZE { SUCCESS } else { c });
            answers.push((field, self.ask(code, || pages.into())));
        }
        let mut flag: c_int = 0;
        answers.push((
            Field::RetiredPagesPending,
            self.ask(f.retired_pending.map(|g| g(device, &mut flag)), || flag.into()),
        ));
        for (policy, reason) in VIOLATION_POLICIES {
            let mut time = ViolationTime::default();
            match self.ask(f.violation.map(|g| g(device, policy, &mut time)), || time.violation_time as f64 / 1e9) {
                Answer::Value(seconds) => out.violations.push((reason, seconds)),
                Answer::Absent => {}
                Answer::Lost => *lost = true,
            }
        }
        // One call for memory temperature and every link's throughput counters.
        let mut fields = vec![FieldValue { field_id: FIELD_MEMORY_TEMPERATURE, ..FieldValue::default() }];
        for &link in &identity.links {
            fields.push(FieldValue { field_id: FIELD_NVLINK_DATA_TX, scope_id: link, ..FieldValue::default() });
            fields.push(FieldValue { field_id: FIELD_NVLINK_DATA_RX, scope_id: link, ..FieldValue::default() });
        }
        let code = f.field_values.map(|g| g(device, fields.len() as c_int, fields.as_mut_ptr()));
        let read = |index: usize| match code {
            Some(SUCCESS) if fields[index].code == SUCCESS => fields[index].number(),
            _ => None,
        };
        match code {
            Some(GPU_IS_LOST) => *lost = true,
            _ => {
                if let Some(celsius) = read(0) {
                    out.values.push((Field::MemoryTemperature, celsius));
                }
            }
        }
        for (position, &link) in identity.links.iter().enumerate() {
            let mut active: c_int = 0;
            let state = self.ask(f.nvlink_state.map(|g| g(device, link, &mut active)), || active == 1);
            let active = match state {
                Answer::Value(active) => active,
                Answer::Absent => continue,
                Answer::Lost => {
                    *lost = true;
                    continue;
                }
            };
            let mut entry = Link {
                link,
                active,
                transmit_bytes: read(1 + 2 * position).map(|kib| kib * 1024.0),
                receive_bytes: read(2 + 2 * position).map(|kib| kib * 1024.0),
                errors: Vec::new(),
            };
            for (counter, kind) in NVLINK_ERRORS {
                let mut count: c_ulonglong = 0;
                if let Answer::Value(count) =
                    self.ask(f.nvlink_errors.map(|g| g(device, link, counter, &mut count)), || count as f64)
                {
                    entry.errors.push((kind, count));
                }
            }
            out.nvlinks.push(entry);
        }
    }

    /// The MIG devices of a GPU in MIG mode, with their instance ids.
    pub(super) fn mig_devices(&self, gpu: Device) -> Vec<(Device, u32, u32)> {
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

    /// An event set with every GPU that takes XID events registered, and those GPUs; `None`
    /// when no GPU (or this library) has them.
    pub(super) fn xid_events(&self, gpus: &[Device]) -> Option<(EventSet, Vec<bool>)> {
        let f = &self.functions;
        let (create, free, register) = (f.event_set_create?, f.event_set_free?, f.register_events?);
        f.event_set_wait.or(f.event_set_wait_v1)?;
        let mut set: EventSet = std::ptr::null_mut();
        // SAFETY: the set is NVML's, freed here when no GPU registers.
        unsafe {
            if create(&mut set) != SUCCESS {
                return None;
            }
            let registered: Vec<bool> =
                gpus.iter().map(|&device| register(device, XID_CRITICAL_ERROR, set) == SUCCESS).collect();
            if !registered.contains(&true) {
                free(set);
                return None;
            }
            Some((set, registered))
        }
    }

    /// Waits up to `timeout_ms` for an event of `set`.
    pub(super) fn wait_event(&self, set: EventSet, timeout_ms: u32) -> std::result::Result<EventData, Return> {
        let mut data = EventData::default();
        // SAFETY: a set this session created; NVML fills `data`.
        let f = &self.functions;
        let code =
            f.event_set_wait.or(f.event_set_wait_v1).map_or(TIMEOUT, |g| unsafe { g(set, &mut data, timeout_ms) });
        if code == SUCCESS {
            Ok(data)
        } else {
            Err(code)
        }
    }

    pub(super) fn free_events(&self, set: EventSet) {
        // SAFETY: a set this session created, freed once.
        if let Some(free) = self.functions.event_set_free {
            unsafe { free(set) };
        }
    }
}

/// `nvmlPerfPolicyType_t` values read as clock-event durations, and their label values.
pub const VIOLATION_POLICIES: [(c_int, &str); 6] =
    [(0, "power"), (1, "thermal"), (2, "sync_boost"), (3, "board_limit"), (4, "low_utilization"), (5, "reliability")];

/// `nvmlNvLinkErrorCounter_t` values read, and their label values.
pub const NVLINK_ERRORS: [(c_int, &str); 4] = [(0, "replay"), (1, "recovery"), (2, "crc_flit"), (3, "crc_data")];

/// `comm` of a process, empty when it is gone or in another PID namespace.
fn process_name(procfs: &Path, pid: u32) -> String {
    std::fs::read_to_string(procfs.join(pid.to_string()).join("comm"))
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_default()
}
