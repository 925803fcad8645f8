//! dcgm-exporter's names for the GPU readings (`--collector.gpu.names=dcgm`), so that NVIDIA's
//! Grafana dashboard and alerts written for dcgm-exporter work unchanged.
//!
//! Names, types, units and help are those of dcgm-exporter's `etc/default-counters.csv`
//! (MHz, MiB, mJ, ns), and of the fields it comments out there that NVML can give. Labels are
//! its own, in its order: `gpu`, `UUID`, `pci_bus_id`, `device` (`nvidia<N>`), `modelName`,
//! `GPU_I_PROFILE` and `GPU_I_ID` for a MIG device (whose other labels are its GPU's, as
//! dcgm-exporter has them), `Hostname`, `DCGM_FI_DRIVER_VERSION`. A reading a GPU doesn't
//! have is left out, as there. The profiling fields (`DCGM_FI_PROF_*`) need DCGM itself and
//! are not served (`NOT_SERVED`).

use super::{DeviceSample, Field, Sample};
use crate::metric::MetricType;
use crate::registry::{MetricFamily, Text};

/// Where a dcgm field's value comes from.
#[derive(Clone, Copy)]
enum Source {
    /// A reading, times a factor; `whole`: rounded down to a whole number, as DCGM's integers are.
    Reading(Field, f64, bool),
    /// The aggregate ECC count of this type.
    Ecc(&'static str),
    /// The value of the last XID (0 before any), for GPUs that deliver XID events.
    LastXid,
    /// Clock-event time for this reason, in ns.
    Violation(&'static str),
    /// An NVLink error counter summed over the links.
    NvlinkErrors(&'static str),
    /// NVLink data rate over all links, MB/s (DCGM serves a rate under a counter's name).
    NvlinkBandwidth,
    /// The clock-event reason bits.
    ClockEventReasons,
}

const MIB: f64 = 1.0 / (1024.0 * 1024.0);

/// `(name, type, help, source)`, in default-counters.csv's order.
const FIELDS: &[(&str, MetricType, &str, Source)] = &[
    (
        "DCGM_FI_DEV_SM_CLOCK",
        MetricType::Gauge,
        "SM clock frequency (in MHz).",
        Source::Reading(Field::SmClock, 1e-6, true),
    ),
    (
        "DCGM_FI_DEV_MEM_CLOCK",
        MetricType::Gauge,
        "Memory clock frequency (in MHz).",
        Source::Reading(Field::MemoryClock, 1e-6, true),
    ),
    (
        "DCGM_FI_DEV_MEMORY_TEMP",
        MetricType::Gauge,
        "Memory temperature (in C).",
        Source::Reading(Field::MemoryTemperature, 1.0, false),
    ),
    (
        "DCGM_FI_DEV_GPU_TEMP",
        MetricType::Gauge,
        "GPU temperature (in C).",
        Source::Reading(Field::Temperature, 1.0, false),
    ),
    ("DCGM_FI_DEV_POWER_USAGE", MetricType::Gauge, "Power draw (in W).", Source::Reading(Field::Power, 1.0, false)),
    (
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        MetricType::Counter,
        "Total energy consumption since boot (in mJ).",
        Source::Reading(Field::Energy, 1e3, true),
    ),
    (
        "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
        MetricType::Counter,
        "Total number of PCIe retries.",
        Source::Reading(Field::PcieReplays, 1.0, false),
    ),
    (
        "DCGM_FI_DEV_GPU_UTIL",
        MetricType::Gauge,
        "GPU utilization (in %).",
        Source::Reading(Field::Utilization, 1.0, false),
    ),
    (
        "DCGM_FI_DEV_MEM_COPY_UTIL",
        MetricType::Gauge,
        "Memory utilization (in %).",
        Source::Reading(Field::MemoryUtilization, 1.0, false),
    ),
    (
        "DCGM_FI_DEV_ENC_UTIL",
        MetricType::Gauge,
        "Encoder utilization (in %).",
        Source::Reading(Field::EncoderUtilization, 1.0, false),
    ),
    (
        "DCGM_FI_DEV_DEC_UTIL",
        MetricType::Gauge,
        "Decoder utilization (in %).",
        Source::Reading(Field::DecoderUtilization, 1.0, false),
    ),
    ("DCGM_FI_DEV_XID_ERRORS", MetricType::Gauge, "Value of the last XID error encountered.", Source::LastXid),
    (
        "DCGM_FI_DEV_POWER_VIOLATION",
        MetricType::Counter,
        "Throttling duration due to power constraints (in ns).",
        Source::Violation("power"),
    ),
    (
        "DCGM_FI_DEV_THERMAL_VIOLATION",
        MetricType::Counter,
        "Throttling duration due to thermal constraints (in ns).",
        Source::Violation("thermal"),
    ),
    (
        "DCGM_FI_DEV_SYNC_BOOST_VIOLATION",
        MetricType::Counter,
        "Throttling duration due to sync-boost constraints (in ns).",
        Source::Violation("sync_boost"),
    ),
    (
        "DCGM_FI_DEV_BOARD_LIMIT_VIOLATION",
        MetricType::Counter,
        "Throttling duration due to board limit constraints (in ns).",
        Source::Violation("board_limit"),
    ),
    (
        "DCGM_FI_DEV_LOW_UTIL_VIOLATION",
        MetricType::Counter,
        "Throttling duration due to low utilization (in ns).",
        Source::Violation("low_utilization"),
    ),
    (
        "DCGM_FI_DEV_RELIABILITY_VIOLATION",
        MetricType::Counter,
        "Throttling duration due to reliability constraints (in ns).",
        Source::Violation("reliability"),
    ),
    (
        "DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
        MetricType::Gauge,
        "Current clock event reasons (bitmask of DCGM_CLOCKS_EVENT_REASON_*).",
        Source::ClockEventReasons,
    ),
    (
        "DCGM_FI_DEV_FB_FREE",
        MetricType::Gauge,
        "Framebuffer memory free (in MiB).",
        Source::Reading(Field::MemoryFree, MIB, true),
    ),
    (
        "DCGM_FI_DEV_FB_USED",
        MetricType::Gauge,
        "Framebuffer memory used (in MiB).",
        Source::Reading(Field::MemoryUsed, MIB, true),
    ),
    (
        "DCGM_FI_DEV_FB_RESERVED",
        MetricType::Gauge,
        "Framebuffer memory reserved (in MiB).",
        Source::Reading(Field::MemoryReserved, MIB, true),
    ),
    (
        "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL",
        MetricType::Counter,
        "Total number of single-bit persistent ECC errors.",
        Source::Ecc("corrected"),
    ),
    (
        "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL",
        MetricType::Counter,
        "Total number of double-bit persistent ECC errors.",
        Source::Ecc("uncorrected"),
    ),
    (
        "DCGM_FI_DEV_RETIRED_SBE",
        MetricType::Counter,
        "Total number of retired pages due to single-bit errors.",
        Source::Reading(Field::RetiredPagesSingleBit, 1.0, false),
    ),
    (
        "DCGM_FI_DEV_RETIRED_DBE",
        MetricType::Counter,
        "Total number of retired pages due to double-bit errors.",
        Source::Reading(Field::RetiredPagesDoubleBit, 1.0, false),
    ),
    (
        "DCGM_FI_DEV_RETIRED_PENDING",
        MetricType::Counter,
        "Total number of pages pending retirement.",
        Source::Reading(Field::RetiredPagesPending, 1.0, false),
    ),
    (
        "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL",
        MetricType::Counter,
        "Total number of NVLink flow-control CRC errors.",
        Source::NvlinkErrors("crc_flit"),
    ),
    (
        "DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL",
        MetricType::Counter,
        "Total number of NVLink data CRC errors.",
        Source::NvlinkErrors("crc_data"),
    ),
    (
        "DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL",
        MetricType::Counter,
        "Total number of NVLink retries.",
        Source::NvlinkErrors("replay"),
    ),
    (
        "DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL",
        MetricType::Counter,
        "Total number of NVLink recovery errors.",
        Source::NvlinkErrors("recovery"),
    ),
    (
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
        MetricType::Counter,
        "Total number of NVLink bandwidth counters for all lanes.",
        Source::NvlinkBandwidth,
    ),
    (
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
        MetricType::Counter,
        "Number of remapped rows for uncorrectable errors",
        Source::Reading(Field::RemappedRowsUncorrectable, 1.0, false),
    ),
    (
        "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
        MetricType::Counter,
        "Number of remapped rows for correctable errors",
        Source::Reading(Field::RemappedRowsCorrectable, 1.0, false),
    ),
    (
        "DCGM_FI_DEV_ROW_REMAP_FAILURE",
        MetricType::Gauge,
        "Whether remapping of rows has failed",
        Source::Reading(Field::RemappedRowsFailed, 1.0, false),
    ),
];

/// dcgm-exporter's default counters that are not served, and why: the profiling fields need
/// DCGM's own profiling module, vGPU licensing a vGPU guest.
pub const NOT_SERVED: &[(&str, &str)] = &[
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "profiling (needs DCGM)"),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "profiling (needs DCGM)"),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "profiling (needs DCGM)"),
    ("DCGM_FI_PROF_PCIE_TX_BYTES", "profiling (needs DCGM)"),
    ("DCGM_FI_PROF_PCIE_RX_BYTES", "profiling (needs DCGM)"),
    ("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "vGPU guests only"),
];

/// Every name served in dcgm mode.
pub fn names() -> impl Iterator<Item = &'static str> {
    FIELDS.iter().map(|(name, ..)| *name)
}

/// `3g.20gb` from `NVIDIA A100-SXM4-40GB MIG 3g.20gb`: the profile is the name's last word.
fn mig_profile(name: &str) -> &str {
    name.rsplit_once(" MIG ").map_or("", |(_, profile)| profile)
}

/// dcgm-exporter's labels of a device; `parent` is the GPU of a MIG device.
fn labels(device: &DeviceSample, parent: &DeviceSample, hostname: &str, driver: &str) -> Vec<(Text, Text)> {
    let mut labels: Vec<(Text, Text)> = vec![
        ("gpu".into(), device.gpu.to_string().into()),
        ("UUID".into(), parent.uuid.clone().into()),
        ("pci_bus_id".into(), parent.pci_bus_id.clone().into()),
        ("device".into(), format!("nvidia{}", device.gpu).into()),
        ("modelName".into(), parent.name.clone().into()),
    ];
    if let Some((gi, _)) = device.mig {
        labels.push(("GPU_I_PROFILE".into(), mig_profile(&device.name).to_owned().into()));
        labels.push(("GPU_I_ID".into(), gi.to_string().into()));
    }
    if !hostname.is_empty() {
        labels.push(("Hostname".into(), hostname.to_owned().into()));
    }
    labels.push(("DCGM_FI_DRIVER_VERSION".into(), driver.to_owned().into()));
    labels
}

fn value(device: &DeviceSample, source: Source) -> Option<f64> {
    match source {
        Source::Reading(field, factor, whole) => {
            let value = device.values.iter().find(|(f, _)| *f == field)?.1 * factor;
            // A hair under the whole number after scaling (1e-6 * 1.98e9) is still that number.
            Some(if whole { (value + 1e-9).floor() } else { value })
        }
        Source::Ecc(kind) => device.ecc.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v),
        Source::LastXid => device.xid.as_ref().map(|x| x.last.map_or(0.0, |(xid, _)| xid as f64)),
        Source::Violation(reason) => {
            device.violations.iter().find(|(r, _)| *r == reason).map(|(_, seconds)| (seconds * 1e9).round())
        }
        Source::NvlinkErrors(kind) => {
            let counts: Vec<f64> = device
                .nvlinks
                .iter()
                .flat_map(|l| l.errors.iter().filter(|(k, _)| *k == kind))
                .map(|(_, v)| *v)
                .collect();
            (!counts.is_empty()).then(|| counts.iter().sum())
        }
        Source::NvlinkBandwidth => device.nvlink_bytes_per_second.map(|rate| rate / 1e6),
        Source::ClockEventReasons => device.throttle.map(|bits| bits as f64),
    }
}

/// The families of a sweep under dcgm-exporter's names.
pub fn families(sample: &Sample, hostname: &str) -> Vec<MetricFamily> {
    let parents: Vec<&DeviceSample> = sample
        .devices
        .iter()
        .map(|d| sample.devices.iter().find(|p| p.gpu == d.gpu && p.mig.is_none()).unwrap_or(d))
        .collect();
    let labels: Vec<Vec<(Text, Text)>> = sample
        .devices
        .iter()
        .zip(&parents)
        .map(|(device, parent)| labels(device, parent, hostname, &sample.driver_version))
        .collect();
    let mut out = Vec::new();
    for &(name, kind, help, source) in FIELDS {
        let mut family = MetricFamily::new(name, help, kind, "");
        for (device, labels) in sample.devices.iter().zip(&labels) {
            if device.lost {
                continue;
            }
            if let Some(value) = value(device, source) {
                // dcgm-exporter's counters carry no `_total`: the sample is named as the family.
                family.push_named(name, labels.clone(), value);
            }
        }
        if !family.samples.is_empty() {
            out.push(family);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::gpu_nvidia::{Link, Xid};

    #[test]
    fn units_labels_and_mig_devices_as_dcgm_exporter_has_them() {
        let gpu = DeviceSample {
            gpu: 1,
            uuid: "GPU-1".into(),
            name: "NVIDIA A100-SXM4-40GB".into(),
            pci_bus_id: "00000000:3B:00.0".into(),
            values: vec![
                (Field::SmClock, 1.41e9),
                (Field::Energy, 98765432.1),
                (Field::MemoryUsed, 10737418240.0 + 1.0),
            ],
            nvlinks: vec![Link {
                link: 0,
                active: true,
                transmit_bytes: None,
                receive_bytes: None,
                errors: vec![("crc_flit", 4.0), ("replay", 1.0)],
            }],
            xid: Some(Xid::default()),
            ..DeviceSample::default()
        };
        let mig = DeviceSample {
            gpu: 1,
            uuid: "MIG-1".into(),
            name: "NVIDIA A100-SXM4-40GB MIG 3g.20gb".into(),
            mig: Some((2, 0)),
            values: vec![(Field::MemoryUsed, 2147483648.0)],
            ..DeviceSample::default()
        };
        let sample = Sample { driver_version: "550.54.15".into(), devices: vec![gpu, mig], ..Sample::default() };
        let out = families(&sample, "host-a");
        let find = |name: &str| out.iter().find(|f| f.name == name).unwrap();
        assert_eq!(find("DCGM_FI_DEV_SM_CLOCK").samples[0].value, 1410.0);
        let energy = find("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION");
        assert_eq!((energy.kind, energy.samples[0].value), (MetricType::Counter, 98765432100.0));
        assert_eq!(&*energy.samples[0].name, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "no _total");
        let used = find("DCGM_FI_DEV_FB_USED");
        assert_eq!(used.samples.iter().map(|s| s.value).collect::<Vec<_>>(), [10240.0, 2048.0]);
        let names: Vec<(&str, &str)> = used.samples[1].labels.iter().map(|(n, v)| (&**n, &**v)).collect();
        assert_eq!(
            names,
            [
                ("gpu", "1"),
                ("UUID", "GPU-1"),
                ("pci_bus_id", "00000000:3B:00.0"),
                ("device", "nvidia1"),
                ("modelName", "NVIDIA A100-SXM4-40GB"),
                ("GPU_I_PROFILE", "3g.20gb"),
                ("GPU_I_ID", "2"),
                ("Hostname", "host-a"),
                ("DCGM_FI_DRIVER_VERSION", "550.54.15"),
            ]
        );
        assert_eq!(find("DCGM_FI_DEV_XID_ERRORS").samples[0].value, 0.0, "0 until an XID comes");
        assert_eq!(find("DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL").samples[0].value, 4.0);
        assert!(out.iter().all(|f| f.name != "DCGM_FI_DEV_GPU_UTIL"), "a reading no device has is left out");
        assert!(out.iter().all(|f| f.name != "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL"), "no rate before a second sweep");
    }
}
