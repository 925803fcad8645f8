//! timex: the kernel's clock discipline state from `adjtimex(2)` (read-only: `modes` is 0), as
//! node_exporter's 17 `node_timex_*` families: sync status, offset, frequency, error bounds,
//! the status bits, tick, TAI offset and the PPS discipline. There is no file to read, so no
//! fixture: [`families`] turns one reading into families and is what the tests check.

use super::{single, Config, NodeCollector};
use crate::error::{Error, Result};
use crate::metric::MetricType;
use crate::registry::MetricFamily;

/// `adjtimex`' return value when the clock is not synchronised.
const TIME_ERROR: i32 = 5;
/// The status bit saying offsets are in nanoseconds, not microseconds.
const STA_NANO: i64 = 0x2000;
/// Scaled ppm (16-bit fraction) to a ratio, see NOTES in adjtimex(2).
const PPM16FRAC: f64 = 1_000_000.0 * 65536.0;

/// The fields of `struct timex` that are reported, widened.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reading {
    /// adjtimex's return value (the clock state).
    pub state: i32,
    /// Time offset (µs, or ns with STA_NANO).
    pub offset: i64,
    /// Frequency offset (scaled ppm).
    pub freq: i64,
    /// Maximum error (µs).
    pub maxerror: i64,
    /// Estimated error (µs).
    pub esterror: i64,
    /// Clock command/status bits.
    pub status: i64,
    /// PLL time constant.
    pub constant: i64,
    /// Microseconds between clock ticks.
    pub tick: i64,
    /// PPS frequency (scaled ppm).
    pub ppsfreq: i64,
    /// PPS jitter (µs, or ns with STA_NANO).
    pub jitter: i64,
    /// PPS interval duration (seconds, log2).
    pub shift: i64,
    /// PPS stability (scaled ppm).
    pub stabil: i64,
    /// PPS count of jitter limit exceeded events.
    pub jitcnt: i64,
    /// PPS count of calibration intervals.
    pub calcnt: i64,
    /// PPS count of calibration errors.
    pub errcnt: i64,
    /// PPS count of stability limit exceeded events.
    pub stbcnt: i64,
    /// TAI offset (seconds).
    pub tai: i64,
}

/// Reads the clock state now.
pub fn read_clock() -> Result<Reading> {
    // SAFETY: a zeroed timex with modes 0 asks for a read only; the kernel fills our struct.
    let mut t: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut t) };
    if state < 0 {
        let err = std::io::Error::last_os_error();
        // Not allowed to read the clock (a seccomp profile): node_exporter's "no data".
        if err.kind() == std::io::ErrorKind::PermissionDenied {
            return Err(super::no_data(format!("adjtimex: {err}")));
        }
        return Err(Error::Io(std::io::Error::new(err.kind(), format!("adjtimex: {err}"))));
    }
    Ok(Reading {
        state,
        offset: t.offset as i64,
        freq: t.freq as i64,
        maxerror: t.maxerror as i64,
        esterror: t.esterror as i64,
        status: i64::from(t.status),
        constant: t.constant as i64,
        tick: t.tick as i64,
        ppsfreq: t.ppsfreq as i64,
        jitter: t.jitter as i64,
        shift: i64::from(t.shift),
        stabil: t.stabil as i64,
        jitcnt: t.jitcnt as i64,
        calcnt: t.calcnt as i64,
        errcnt: t.errcnt as i64,
        stbcnt: t.stbcnt as i64,
        tai: i64::from(t.tai),
    })
}

/// node_exporter's families for one reading, in its order.
pub fn families(r: &Reading) -> Vec<MetricFamily> {
    let divisor = if r.status & STA_NANO != 0 { 1e9 } else { 1e6 };
    let gauge = |name: &str, help: &str, value: f64| single(name.to_owned(), help.to_owned(), MetricType::Gauge, value);
    let counter = |name: &str, help: &str, value: f64| {
        let mut family = MetricFamily::new(name.to_owned(), help.to_owned(), MetricType::Counter, "");
        family.push("_total", Vec::new(), value);
        family
    };
    let synced = if r.state == TIME_ERROR { 0.0 } else { 1.0 };
    vec![
        gauge("node_timex_sync_status", "Is clock synchronized to a reliable server (1 = yes, 0 = no).", synced),
        gauge(
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            r.offset as f64 / divisor,
        ),
        gauge(
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            1.0 + r.freq as f64 / PPM16FRAC,
        ),
        gauge("node_timex_maxerror_seconds", "Maximum error in seconds.", r.maxerror as f64 / 1e6),
        gauge("node_timex_estimated_error_seconds", "Estimated error in seconds.", r.esterror as f64 / 1e6),
        gauge("node_timex_status", "Value of the status array bits.", r.status as f64),
        gauge("node_timex_loop_time_constant", "Phase-locked loop time constant.", r.constant as f64),
        gauge("node_timex_tick_seconds", "Seconds between clock ticks.", r.tick as f64 / 1e6),
        gauge("node_timex_pps_frequency_hertz", "Pulse per second frequency.", r.ppsfreq as f64 / PPM16FRAC),
        gauge("node_timex_pps_jitter_seconds", "Pulse per second jitter.", r.jitter as f64 / divisor),
        gauge("node_timex_pps_shift_seconds", "Pulse per second interval duration.", r.shift as f64),
        gauge(
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            r.stabil as f64 / PPM16FRAC,
        ),
        counter("node_timex_pps_jitter", "Pulse per second count of jitter limit exceeded events.", r.jitcnt as f64),
        counter("node_timex_pps_calibration", "Pulse per second count of calibration intervals.", r.calcnt as f64),
        counter("node_timex_pps_error", "Pulse per second count of calibration errors.", r.errcnt as f64),
        counter(
            "node_timex_pps_stability_exceeded",
            "Pulse per second count of stability limit exceeded events.",
            r.stbcnt as f64,
        ),
        gauge("node_timex_tai_offset_seconds", "International Atomic Time (TAI) offset.", r.tai as f64),
    ]
}

struct Timex;

/// Builds the collector.
pub fn build(_config: &Config) -> Result<Box<dyn NodeCollector>> {
    Ok(Box::new(Timex))
}

impl NodeCollector for Timex {
    fn update(&self, out: &mut Vec<MetricFamily>) -> Result<()> {
        out.extend(families(&read_clock()?));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_a_reading_as_node_exporter() {
        let micro = Reading {
            state: 0,
            offset: 1500,
            freq: 65536 * 10,
            maxerror: 250_000,
            tick: 10_000,
            stbcnt: 3,
            ..Reading::default()
        };
        let out = families(&micro);
        let get = |out: &[MetricFamily], name: &str| out.iter().find(|f| f.name == name).unwrap().samples[0].value;
        assert_eq!(out.len(), 17);
        assert_eq!(get(&out, "node_timex_sync_status"), 1.0);
        assert_eq!(get(&out, "node_timex_offset_seconds"), 0.0015);
        assert_eq!(get(&out, "node_timex_frequency_adjustment_ratio"), 1.00001);
        assert_eq!(get(&out, "node_timex_maxerror_seconds"), 0.25);
        assert_eq!(get(&out, "node_timex_tick_seconds"), 0.01);
        let stability = out.iter().find(|f| f.name == "node_timex_pps_stability_exceeded").unwrap();
        assert_eq!(
            (stability.kind, stability.samples[0].name.as_ref()),
            (MetricType::Counter, "node_timex_pps_stability_exceeded_total")
        );
        let nano = Reading { state: TIME_ERROR, offset: 1500, status: STA_NANO, ..micro };
        let out = families(&nano);
        assert_eq!(get(&out, "node_timex_sync_status"), 0.0);
        assert_eq!(get(&out, "node_timex_offset_seconds"), 1.5e-6);
    }

    #[test]
    fn reads_this_machine_clock() {
        let reading = read_clock().unwrap();
        assert!(reading.tick > 0, "the kernel always has a tick length: {reading:?}");
        assert!(reading.state >= 0);
    }
}
