//! gpu: NVIDIA GPUs through NVML, as `nvidia_gpu_*` or, with `--collector.gpu.names=dcgm`,
//! under dcgm-exporter's names (`dcgm.rs`).
//!
//! NVML is loaded at run time with dlopen (`libnvidia-ml.so.1`, or `--collector.gpu.nvml-library`),
//! so nothing of NVIDIA's is needed to build, and one wheel serves machines with and without a
//! GPU (`nvml.rs`). A background thread sweeps every device each `--collector.gpu.interval` and
//! waits for XID events in between (`sampler.rs`); a scrape only formats the latest sweep, so
//! it never waits on the driver (NVML calls can block for milliseconds, PCIe throughput for
//! ~20 ms, and that one is behind `--collector.gpu.pcie`). What never changes (names, UUIDs,
//! PCI bus ids, NVLink links) is read once per NVML session.
//!
//! What can go wrong is reported, never fatal: no library or an NVML init failure is one log
//! line and `nvidia_gpu_count 0`; a field a GPU does not support is left out, never 0; a GPU that
//! falls off the bus (`NVML_ERROR_GPU_IS_LOST`) is reported as `nvidia_gpu_lost 1` and NVML is
//! initialised again at the next sweep, until the GPU is back.

pub mod dcgm;
mod nvml;
mod sampler;

pub use nvml::{NVLINK_ERRORS, VIOLATION_POLICIES};
pub use sampler::{current, GpuSampler};

use super::{Config, NodeCollector, Paths};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// The library NVML's own tools load.
pub const DEFAULT_LIBRARY: &str = "libnvidia-ml.so.1";

/// The sample name of a family: counters end in `_total`.
macro_rules! sample_name {
    (Counter, $name:literal) => {
        concat!($name, "_total")
    };
    (Gauge, $name:literal) => {
        $name
    };
}

/// Declares the per-device readings: variant, type, family name, help.
macro_rules! gpu_fields {
    ($($variant:ident: $kind:ident $name:literal, $help:literal;)*) => {
        /// The per-device values, in exposition order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Field {
            $(#[doc = concat!("`", sample_name!($kind, $name), "`")] $variant,)*
        }

        impl Field {
            /// Every field, in exposition order.
            pub const ALL: &'static [Field] = &[$(Field::$variant,)*];

            /// `(family name, sample name, help, type)`.
            pub fn describe(self) -> (&'static str, &'static str, &'static str, MetricType) {
                match self {
                    $(Field::$variant => ($name, sample_name!($kind, $name), $help, MetricType::$kind),)*
                }
            }
        }
    };
}

gpu_fields! {
    Utilization: Gauge "nvidia_gpu_utilization_percent",
        "Percent of time over the last sample period during which a kernel was running on the GPU.";
    MemoryUtilization: Gauge "nvidia_gpu_memory_utilization_percent",
        "Percent of time over the last sample period during which device memory was read or written.";
    EncoderUtilization: Gauge "nvidia_gpu_encoder_utilization_percent",
        "Percent of time over the last sample period during which the video encoder was busy.";
    DecoderUtilization: Gauge "nvidia_gpu_decoder_utilization_percent",
        "Percent of time over the last sample period during which the video decoder was busy.";
    MemoryUsed: Gauge "nvidia_gpu_memory_used_bytes", "Device memory in use.";
    MemoryTotal: Gauge "nvidia_gpu_memory_total_bytes", "Device memory in all.";
    MemoryFree: Gauge "nvidia_gpu_memory_free_bytes", "Device memory free.";
    MemoryReserved: Gauge "nvidia_gpu_memory_reserved_bytes", "Device memory the driver and firmware reserve.";
    Bar1Used: Gauge "nvidia_gpu_bar1_used_bytes", "BAR1 memory (device memory mapped for the CPU and peers) in use.";
    Bar1Total: Gauge "nvidia_gpu_bar1_total_bytes", "BAR1 memory in all.";
    Bar1Free: Gauge "nvidia_gpu_bar1_free_bytes", "BAR1 memory free.";
    Temperature: Gauge "nvidia_gpu_temperature_celsius", "GPU core temperature.";
    MemoryTemperature: Gauge "nvidia_gpu_memory_temperature_celsius", "Device memory (HBM) temperature.";
    Power: Gauge "nvidia_gpu_power_watts", "Power drawn by the board.";
    PowerLimit: Gauge "nvidia_gpu_power_limit_watts", "Power limit the driver enforces.";
    PowerDefaultLimit: Gauge "nvidia_gpu_power_default_limit_watts", "Power limit the board has by default.";
    PowerMinLimit: Gauge "nvidia_gpu_power_min_limit_watts", "Lowest power limit that can be set.";
    PowerMaxLimit: Gauge "nvidia_gpu_power_max_limit_watts", "Highest power limit that can be set.";
    Energy: Counter "nvidia_gpu_energy_joules", "Energy consumed since the driver was loaded.";
    SmClock: Gauge "nvidia_gpu_sm_clock_hz", "SM clock frequency.";
    MemoryClock: Gauge "nvidia_gpu_memory_clock_hz", "Memory clock frequency.";
    GraphicsClock: Gauge "nvidia_gpu_graphics_clock_hz", "Graphics clock frequency.";
    VideoClock: Gauge "nvidia_gpu_video_clock_hz", "Video encoder/decoder clock frequency.";
    MaxGraphicsClock: Gauge "nvidia_gpu_graphics_max_clock_hz", "Highest graphics clock frequency.";
    MaxSmClock: Gauge "nvidia_gpu_sm_max_clock_hz", "Highest SM clock frequency.";
    MaxMemoryClock: Gauge "nvidia_gpu_memory_max_clock_hz", "Highest memory clock frequency.";
    MaxVideoClock: Gauge "nvidia_gpu_video_max_clock_hz", "Highest video clock frequency.";
    FanSpeed: Gauge "nvidia_gpu_fan_speed_percent", "Intended fan speed, percent of the maximum.";
    PerformanceState: Gauge "nvidia_gpu_performance_state", "Performance state, 0 (P0, maximum) to 15 (P15, minimum).";
    PcieTx: Gauge "nvidia_gpu_pcie_transmit_bytes_per_second", "PCIe transmit throughput over the last 20 ms.";
    PcieRx: Gauge "nvidia_gpu_pcie_receive_bytes_per_second", "PCIe receive throughput over the last 20 ms.";
    PcieReplays: Counter "nvidia_gpu_pcie_replays", "PCIe replays (retransmissions after link errors).";
    PcieLinkGeneration: Gauge "nvidia_gpu_pcie_link_generation", "PCIe link generation now.";
    PcieLinkMaxGeneration: Gauge "nvidia_gpu_pcie_link_max_generation", "Highest PCIe link generation of GPU and system.";
    PcieLinkWidth: Gauge "nvidia_gpu_pcie_link_width", "PCIe lanes in use now.";
    PcieLinkMaxWidth: Gauge "nvidia_gpu_pcie_link_max_width", "Most PCIe lanes of GPU and system.";
    RemappedRowsCorrectable: Counter "nvidia_gpu_remapped_rows_correctable",
        "Memory rows remapped after correctable errors.";
    RemappedRowsUncorrectable: Counter "nvidia_gpu_remapped_rows_uncorrectable",
        "Memory rows remapped after uncorrectable errors.";
    RemappedRowsPending: Gauge "nvidia_gpu_remapped_rows_pending",
        "Whether a row remapping waits for the GPU to be reset (1) or not (0).";
    RemappedRowsFailed: Gauge "nvidia_gpu_remapped_rows_failed",
        "Whether a row remapping has failed (1: the GPU needs service) or not (0).";
    RetiredPagesSingleBit: Counter "nvidia_gpu_retired_pages_single_bit_ecc",
        "Memory pages retired after multiple single-bit ECC errors.";
    RetiredPagesDoubleBit: Counter "nvidia_gpu_retired_pages_double_bit_ecc",
        "Memory pages retired after a double-bit ECC error.";
    RetiredPagesPending: Gauge "nvidia_gpu_retired_pages_pending",
        "Whether a page retirement waits for the GPU to be reset (1) or not (0).";
}

impl Field {
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

/// One NVLink link of a GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// Its number.
    pub link: u32,
    /// Whether it is up.
    pub active: bool,
    /// Data sent since the driver was loaded.
    pub transmit_bytes: Option<f64>,
    /// Data received since the driver was loaded.
    pub receive_bytes: Option<f64>,
    /// Error counters by type (`replay`, `recovery`, `crc_flit`, `crc_data`).
    pub errors: Vec<(&'static str, f64)>,
}

/// The XID errors NVML delivered for a GPU since sampling started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Xid {
    /// Events by XID.
    pub counts: BTreeMap<u64, u64>,
    /// The last XID and when it came.
    pub last: Option<(u64, SystemTime)>,
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
    /// PCI bus id (`00000000:18:00.0`), the parent's for a MIG device; empty when unknown.
    pub pci_bus_id: String,
    /// VBIOS version, empty when unknown.
    pub vbios_version: String,
    /// Board serial number, empty when unknown.
    pub serial: String,
    /// CUDA compute capability (`9.0`), empty when unknown.
    pub compute_capability: String,
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
    /// Time the clocks were held down, by reason (`VIOLATION_POLICIES`), in seconds.
    pub violations: Vec<(&'static str, f64)>,
    /// NVLink links.
    pub nvlinks: Vec<Link>,
    /// NVLink data rate, all links, since the sweep before.
    pub nvlink_bytes_per_second: Option<f64>,
    /// XID errors; `None` when the GPU doesn't deliver XID events.
    pub xid: Option<Xid>,
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

/// The names the readings are served under (`--collector.gpu.names`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// `nvidia_gpu_*`, the default.
    Nvidia,
    /// dcgm-exporter's `DCGM_FI_*` names, units and labels.
    Dcgm,
}

impl Names {
    /// `nvidia` or `dcgm`; anything else is a clear error.
    pub fn parse(text: &str) -> Result<Names> {
        match text {
            "nvidia" => Ok(Names::Nvidia),
            "dcgm" => Ok(Names::Dcgm),
            other => {
                Err(Error::InvalidValue(format!("--collector.gpu.names: {other:?} is not a naming (nvidia or dcgm)")))
            }
        }
    }
}

struct GpuCollector {
    sampler: std::sync::Arc<GpuSampler>,
    names: Names,
    /// The `Hostname` label of dcgm names, read once.
    hostname: String,
}

/// Builds the collector and starts its sampler.
pub fn build(config: &Config) -> Result<Box<dyn NodeCollector>> {
    let names = if config.gpu_names_dcgm { Names::Dcgm } else { Names::Nvidia };
    let hostname = if names == Names::Dcgm { hostname(&config.paths) } else { String::new() };
    Ok(Box::new(GpuCollector { sampler: GpuSampler::start(GpuSettings::from_config(config)), names, hostname }))
}

/// The host's name as the kernel has it, empty when unknown.
fn hostname(paths: &Paths) -> String {
    std::fs::read_to_string(paths.proc("sys/kernel/hostname")).map(|s| s.trim_end().to_owned()).unwrap_or_default()
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

fn seconds_since_epoch(time: SystemTime) -> f64 {
    time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// The families of a sweep under `nvidia_gpu_*` names.
pub fn families(sample: &Sample, now: SystemTime) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    let mut count = MetricFamily::new("nvidia_gpu_count", "Number of NVIDIA GPUs NVML reports.", MetricType::Gauge, "");
    count.push("", Vec::new(), sample.gpus as f64);
    out.push(count);
    if sample.devices.is_empty() {
        return out;
    }
    let labels: Vec<Vec<(Text, Text)>> = sample.devices.iter().map(device_labels).collect();
    let help = "GPU facts: driver and CUDA versions, PCI bus id, VBIOS, serial and compute capability, 1 per device.";
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
        for (name, value) in [
            ("pci_bus_id", &device.pci_bus_id),
            ("vbios_version", &device.vbios_version),
            ("serial", &device.serial),
            ("compute_capability", &device.compute_capability),
        ] {
            if !value.is_empty() {
                all.push((name.into(), value.clone().into()));
            }
        }
        info.push("", all, 1.0);
        if device.mig.is_none() {
            lost.push("", labels.clone(), if device.lost { 1.0 } else { 0.0 });
        }
    }
    out.push(info);
    out.push(lost);
    for &field in Field::ALL {
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
    let new = |name: &'static str, help: &'static str, kind| MetricFamily::new(name, help, kind, "");
    let mut ecc = new(
        "nvidia_gpu_ecc_errors",
        "ECC errors since the GPU was first used (aggregate counters), by type.",
        MetricType::Counter,
    );
    let mut throttle = new(
        "nvidia_gpu_clock_throttle_reasons",
        "Whether each reason is holding the clocks down now (NVML clock event reasons).",
        MetricType::Gauge,
    );
    let mut throttle_time = new(
        "nvidia_gpu_clock_throttle_seconds",
        "Time the clocks were held down since the driver was loaded, by reason (NVML violation status).",
        MetricType::Counter,
    );
    let mut link_active =
        new("nvidia_gpu_nvlink_active", "Whether each NVLink link is up (1) or down (0).", MetricType::Gauge);
    let mut link_tx = new("nvidia_gpu_nvlink_transmit_bytes", "NVLink data sent, per link.", MetricType::Counter);
    let mut link_rx = new("nvidia_gpu_nvlink_receive_bytes", "NVLink data received, per link.", MetricType::Counter);
    let mut link_errors = new("nvidia_gpu_nvlink_errors", "NVLink errors per link, by type.", MetricType::Counter);
    let mut xid = new(
        "nvidia_gpu_xid_errors",
        "XID errors NVML reported since obsagent started, by XID (GPUs that deliver XID events only).",
        MetricType::Counter,
    );
    let mut xid_last =
        new("nvidia_gpu_xid_last_timestamp_seconds", "When the last XID error came (Unix time).", MetricType::Gauge);
    let mut processes =
        new("nvidia_gpu_process_memory_used_bytes", "Device memory held by each process.", MetricType::Gauge);
    for (device, labels) in sample.devices.iter().zip(&labels) {
        for (kind, value) in &device.ecc {
            ecc.push_named("nvidia_gpu_ecc_errors_total", with(labels, "type", *kind), *value);
        }
        if let Some(bits) = device.throttle {
            for (bit, reason) in THROTTLE_REASONS {
                throttle.push("", with(labels, "reason", reason), if bits & bit != 0 { 1.0 } else { 0.0 });
            }
        }
        for (reason, seconds) in &device.violations {
            throttle_time.push_named(
                "nvidia_gpu_clock_throttle_seconds_total",
                with(labels, "reason", *reason),
                *seconds,
            );
        }
        for link in &device.nvlinks {
            let per_link = with(labels, "link", link.link.to_string());
            link_active.push("", per_link.clone(), if link.active { 1.0 } else { 0.0 });
            if let Some(bytes) = link.transmit_bytes {
                link_tx.push("_total", per_link.clone(), bytes);
            }
            if let Some(bytes) = link.receive_bytes {
                link_rx.push("_total", per_link.clone(), bytes);
            }
            for (kind, count) in &link.errors {
                let mut all = per_link.clone();
                all.push(("type".into(), (*kind).into()));
                link_errors.push("_total", all, *count);
            }
        }
        if let Some(errors) = &device.xid {
            for (code, count) in &errors.counts {
                xid.push("_total", with(labels, "xid", code.to_string()), *count as f64);
            }
            if let Some((_, when)) = errors.last {
                xid_last.push("", labels.clone(), seconds_since_epoch(when));
            }
        }
        for process in &device.processes {
            let mut all = with(labels, "pid", process.pid.to_string());
            all.push(("process".into(), process.name.clone().into()));
            processes.push("", all, process.used_bytes);
        }
    }
    out.extend(
        [ecc, throttle, throttle_time, link_active, link_tx, link_rx, link_errors, xid, xid_last, processes]
            .into_iter()
            .filter(|f| !f.samples.is_empty()),
    );
    out.extend(sampler_families(sample, now));
    out
}

/// `obsagent_gpu_sample_age_seconds` and `obsagent_gpu_sweep_duration_seconds`, in both namings.
fn sampler_families(sample: &Sample, now: SystemTime) -> Vec<MetricFamily> {
    let Some(taken) = sample.taken else { return Vec::new() };
    let help = "Seconds since the GPU sample being served was taken.";
    let age = now.duration_since(taken).unwrap_or_default().as_secs_f64();
    let mut age_family = MetricFamily::new("obsagent_gpu_sample_age_seconds", help, MetricType::Gauge, "");
    age_family.push("", Vec::new(), age);
    let help = "How long the last sweep of every GPU through NVML took.";
    let mut sweep = MetricFamily::new("obsagent_gpu_sweep_duration_seconds", help, MetricType::Gauge, "");
    sweep.push("", Vec::new(), sample.sweep_seconds);
    vec![age_family, sweep]
}

impl NodeCollector for GpuCollector {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        let sample = self.sampler.latest();
        match self.names {
            Names::Nvidia => out.extend(families(&sample, SystemTime::now())),
            Names::Dcgm => {
                out.extend(dcgm::families(&sample, &self.hostname));
                out.extend(sampler_families(&sample, SystemTime::now()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::TempTree;
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Instant;

    /// The stand-in NVML library built into a directory of its own, answering from `fixture`;
    /// the directory goes when the tree is dropped, so a test holds it while its sampler runs.
    fn stand_in(fixture: &str, extra: &str) -> (TempTree, PathBuf) {
        let tree = TempTree::new("nvml");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("tests/fixtures/gpu").join(fixture)).unwrap();
        tree.write("nvml-fixture.txt", text + extra);
        let library = tree.path("libnvidia-ml.so.1");
        let status = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&library)
            .arg(root.join("tests/nvml_standin/nvml.c"))
            .status()
            .expect("a C compiler (cc)");
        assert!(status.success());
        (tree, library)
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
        let (_tree, library) = stand_in("two_gpus.txt", "");
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
        let (_tree, library) = stand_in("init_failure.txt", "");
        let failing = GpuSampler::start(settings(library));
        let sample = failing.latest();
        assert_eq!(sample.error.as_deref(), Some("NVML init failed: Driver Not Loaded (NVML error 9)"));
    }

    #[test]
    fn new_readings_are_read_and_left_out_where_a_gpu_has_none() {
        let (_tree, library) = stand_in("two_gpus.txt", "");
        let sampler = GpuSampler::start(settings(library));
        let sample = sampler.latest();
        let (h100, a100) = (&sample.devices[0], &sample.devices[1]);
        assert_eq!(value(h100, Field::MemoryTemperature), Some(71.0));
        assert_eq!(value(a100, Field::MemoryTemperature), None, "NOT_SUPPORTED is left out");
        assert_eq!(value(h100, Field::EncoderUtilization), Some(12.0));
        assert_eq!(value(h100, Field::MemoryReserved), Some(633339904.0));
        assert_eq!(value(h100, Field::PowerMinLimit), Some(200.0));
        assert_eq!(value(h100, Field::MaxVideoClock), Some(1.98e9));
        assert_eq!(value(a100, Field::PcieLinkWidth), Some(8.0));
        assert_eq!(value(a100, Field::RemappedRowsUncorrectable), Some(2.0));
        assert_eq!(value(a100, Field::RetiredPagesDoubleBit), Some(1.0));
        assert_eq!(value(h100, Field::RetiredPagesDoubleBit), None);
        assert_eq!(h100.violations[0], ("power", 1.5));
        assert!(a100.violations.is_empty() && a100.nvlinks.is_empty() && a100.xid.is_none());
        assert_eq!(h100.nvlinks.iter().map(|l| l.link).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(h100.nvlinks[1].transmit_bytes, Some(1073741824.0));
        assert_eq!(h100.nvlinks[1].errors, [("replay", 1.0), ("recovery", 0.0), ("crc_flit", 4.0), ("crc_data", 0.0)]);
        assert_eq!(h100.xid, Some(Xid::default()), "XID events registered, none yet");
        assert_eq!((h100.pci_bus_id.as_str(), h100.compute_capability.as_str()), ("00000000:18:00.0", "9.0"));
        let mig = &sample.devices[2];
        assert_eq!((mig.pci_bus_id.as_str(), mig.nvlinks.len()), ("00000000:3B:00.0", 0));
    }

    #[test]
    fn xid_events_are_counted_once_and_state_changes_show_at_the_next_sweep() {
        let (_tree, library) = stand_in("two_gpus.txt", "watch=1\n");
        let events = library.with_file_name("xids");
        let fixture = library.with_file_name("nvml-fixture.txt");
        std::fs::write(&events, "").unwrap();
        let text = std::fs::read_to_string(&fixture).unwrap();
        std::fs::write(&fixture, format!("{text}xid_events={}\n", events.display())).unwrap();
        let sampler = GpuSampler::start(settings(library));
        std::fs::write(&events, "0 79\n0 79\n1 48\n0 13\n").unwrap();
        let counted = |s: &Sample| s.devices[0].xid.as_ref().map_or(0, |x| x.counts.values().sum::<u64>());
        let sample = wait_for(&sampler, |s| counted(s) == 3);
        let xid = sample.devices[0].xid.clone().unwrap();
        assert_eq!(xid.counts.into_iter().collect::<Vec<_>>(), [(13, 1), (79, 2)]);
        assert_eq!(xid.last.map(|(code, _)| code), Some(13));
        assert!(sample.devices[1].xid.is_none(), "an event for a GPU not registered is not counted");
        let later = wait_for(&sampler, |s| s.sweeps > sample.sweeps + 3);
        assert_eq!(counted(&later), 3, "each event is counted once");

        let text = std::fs::read_to_string(&fixture).unwrap();
        std::fs::write(&fixture, format!("{text}gpu0.nvlink2.state=0\ngpu1.remapped.uncorrectable=3\n")).unwrap();
        let changed = wait_for(&sampler, |s| {
            s.devices.len() > 1 && value(&s.devices[1], Field::RemappedRowsUncorrectable) == Some(3.0)
        });
        assert!(!changed.devices[0].nvlinks[2].active, "the link that went down shows at the next sweep");
        assert!(changed.devices[0].nvlinks[1].active);
    }
}
