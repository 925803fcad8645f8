//! The sampler: one thread per process that sweeps every GPU each interval and, between
//! sweeps, waits on NVML's event set for XID errors, so neither a scrape nor a Python call
//! ever waits on the driver. A scrape takes the latest sweep (an `Arc`, swapped under a lock).
//!
//! XID counts live in the thread, across NVML sessions, and are copied into each sweep: an
//! event is counted once when NVML delivers it, however many scrapes read it.

use super::nvml::{Device, EventSet, Identity, Nvml, SUCCESS, TIMEOUT, XID_CRITICAL_ERROR};
use super::{DeviceSample, GpuSettings, Sample, Xid};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime};

/// A GPU of the current NVML session, with what never changes in it.
struct Gpu {
    index: u32,
    device: Device,
    identity: Identity,
    /// Whether it is registered for XID events.
    xid: bool,
}

struct Session {
    driver_version: String,
    cuda_version: String,
    gpus: Vec<Gpu>,
    events: Option<EventSet>,
}

// SAFETY: NVML device handles and event sets are valid in every thread of the process until
// nvmlShutdown.
unsafe impl Send for Session {}

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
            xids: BTreeMap::new(),
            nvlink_before: BTreeMap::new(),
        };
        sampler.publish(sweeper.sweep());
        let weak = Arc::downgrade(&sampler);
        let spawned = std::thread::Builder::new().name("obsagent-gpu".into()).spawn(move || {
            let mut next = Instant::now() + sweeper.settings.interval;
            loop {
                sweeper.wait_until(next);
                next = (next + sweeper.settings.interval).max(Instant::now());
                let sample = sweeper.sweep();
                match weak.upgrade() {
                    Some(sampler) => sampler.publish(sample),
                    None => return,
                }
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
    /// `(index, identity)` of the GPUs of the last session.
    known: Vec<(u32, Identity)>,
    sweeps: u64,
    failure_logged: bool,
    /// XID events received, by GPU index.
    xids: BTreeMap<u32, Xid>,
    /// NVLink data bytes (tx + rx, all links) and when, by GPU index: for the rate dcgm serves.
    nvlink_before: BTreeMap<u32, (f64, Instant)>,
}

impl Sweeper {
    /// Waits for XID events until `deadline` (sleeps when there is no event set).
    fn wait_until(&mut self, deadline: Instant) {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(set) = self.session.as_ref().and_then(|s| s.events) else {
                std::thread::sleep(left);
                return;
            };
            let millis = left.as_millis().min(u128::from(u32::MAX)) as u32;
            if millis == 0 {
                std::thread::sleep(left);
                return;
            }
            match self.nvml.wait_event(set, millis) {
                Ok(event) => self.record(event.device, event.event_type, event.event_data),
                Err(TIMEOUT) => return,
                // The session is ending (a lost GPU): the sweep finds out; no busy loop here.
                Err(_) => {
                    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    return;
                }
            }
        }
    }

    fn record(&mut self, device: Device, event_type: u64, data: u64) {
        let Some(session) = &self.session else { return };
        let Some(gpu) = session.gpus.iter().find(|g| g.device == device) else { return };
        if event_type & XID_CRITICAL_ERROR == 0 {
            return;
        }
        let xid = self.xids.entry(gpu.index).or_default();
        *xid.counts.entry(data).or_insert(0) += 1;
        xid.last = Some((data, SystemTime::now()));
    }

    fn start_session(&self) -> std::result::Result<Session, String> {
        let nvml = &self.nvml;
        let f = &nvml.functions;
        // SAFETY: the calls below pass pointers to locals of the types NVML declares.
        unsafe {
            let code = f.init.map_or(SUCCESS, |init| init());
            if code != SUCCESS {
                return Err(format!("NVML init failed: {}", nvml.describe(code)));
            }
            let mut buf = [0 as std::ffi::c_char; 96];
            let driver_version = match f.driver_version.map(|g| g(buf.as_mut_ptr(), buf.len() as u32)) {
                Some(SUCCESS) => std::ffi::CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned(),
                _ => String::new(),
            };
            let mut cuda: std::ffi::c_int = 0;
            let cuda_version = match f.cuda_version.map(|g| g(&mut cuda)) {
                Some(SUCCESS) => format!("{}.{}", cuda / 1000, cuda % 1000 / 10),
                _ => String::new(),
            };
            let mut count: u32 = 0;
            let code = f.count.map_or(SUCCESS, |g| g(&mut count));
            if code != SUCCESS {
                return Err(format!("cannot count the GPUs: {}", nvml.describe(code)));
            }
            let mut gpus = Vec::new();
            for index in 0..count {
                let mut device: Device = std::ptr::null_mut();
                if f.handle_by_index.map(|g| g(index, &mut device)) == Some(SUCCESS) {
                    gpus.push(Gpu { index, device, identity: nvml.identity(device), xid: false });
                }
            }
            let devices: Vec<Device> = gpus.iter().map(|g| g.device).collect();
            let events = nvml.xid_events(&devices).map(|(set, registered)| {
                for (gpu, registered) in gpus.iter_mut().zip(registered) {
                    gpu.xid = registered;
                }
                set
            });
            Ok(Session { driver_version, cuda_version, gpus, events })
        }
    }

    fn end_session(&mut self) {
        if let Some(session) = self.session.take() {
            if let Some(set) = session.events {
                self.nvml.free_events(set);
            }
        }
        // SAFETY: pairs the init of the session that is ending.
        if let Some(shutdown) = self.nvml.functions.shutdown {
            unsafe { shutdown() };
        }
    }

    /// One sweep, starting an NVML session first if there is none (at start, after a failed
    /// init, after a GPU was lost).
    fn sweep(&mut self) -> Sample {
        let started = Instant::now();
        self.sweeps += 1;
        if self.session.is_none() {
            match self.start_session() {
                Ok(mut session) => {
                    // A GPU still lost doesn't say who it is: keep what it said before.
                    for gpu in session.gpus.iter_mut().filter(|g| g.identity.uuid.is_empty()) {
                        if let Some((_, identity)) = self.known.iter().find(|(index, _)| *index == gpu.index) {
                            gpu.identity = identity.clone();
                        }
                    }
                    self.known = session.gpus.iter().map(|g| (g.index, g.identity.clone())).collect();
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
        let mut sample = Sample { sweeps: self.sweeps, ..self.sweep_session(session, started) };
        self.nvlink_rates(&mut sample);
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
            self.end_session();
        }
        self.lost_before = lost;
        sample
    }

    fn sweep_session(&self, session: &Session, started: Instant) -> Sample {
        let nvml = &self.nvml;
        let settings = &self.settings;
        let mut devices = Vec::new();
        for gpu in &session.gpus {
            let id = &gpu.identity;
            let identity = || DeviceSample {
                gpu: gpu.index,
                uuid: id.uuid.clone(),
                name: id.name.clone(),
                pci_bus_id: id.pci_bus_id.clone(),
                vbios_version: id.vbios_version.clone(),
                serial: id.serial.clone(),
                compute_capability: id.compute_capability.clone(),
                ..DeviceSample::default()
            };
            let mut sample = DeviceSample {
                xid: gpu.xid.then(|| self.xids.get(&gpu.index).cloned().unwrap_or_default()),
                ..identity()
            };
            if !nvml.sweep_device(gpu.device, settings.pcie, &settings.procfs, Some(id), &mut sample) {
                // What a lost GPU answered before it went is not reported.
                devices.push(DeviceSample { lost: true, ..identity() });
                continue;
            }
            devices.push(sample);
            for (device, gi, ci) in nvml.mig_devices(gpu.device) {
                let mut mig = DeviceSample {
                    uuid: nvml.text(nvml.functions.uuid, device),
                    name: nvml.text(nvml.functions.name, device),
                    mig: Some((gi, ci)),
                    ..identity()
                };
                if nvml.sweep_device(device, settings.pcie, &settings.procfs, None, &mut mig) {
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

    /// NVLink data rate of each GPU since the last sweep (dcgm-exporter's bandwidth field).
    fn nvlink_rates(&mut self, sample: &mut Sample) {
        let now = Instant::now();
        for device in sample.devices.iter_mut().filter(|d| d.mig.is_none() && !d.nvlinks.is_empty()) {
            let bytes: f64 =
                device.nvlinks.iter().map(|l| l.transmit_bytes.unwrap_or(0.0) + l.receive_bytes.unwrap_or(0.0)).sum();
            if let Some((before, when)) = self.nvlink_before.insert(device.gpu, (bytes, now)) {
                let seconds = now.duration_since(when).as_secs_f64();
                if seconds > 0.0 && bytes >= before {
                    device.nvlink_bytes_per_second = Some((bytes - before) / seconds);
                }
            }
        }
    }
}
