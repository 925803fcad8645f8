//! The metric kinds, one file each: a kind's cell layout, its updates (one atomic operation
//! each), how its cells merge across processes, and what a series of it reads as at a scrape
//! (a typed [`Reading`]) and the sample lines that reading makes ([`Line`]).
//!
//! Everything downstream consumes those types, never strings: the text and OpenMetrics encoders
//! write a series' lines from [`Kind::visit`], which hands over the kind's own small reading
//! (so a scrape's per-line loop is compiled once per kind; see [`SampleLines`]); the Python
//! `collect()` and remote write walk [`Reading::lines`]; the protobuf encoder reads the
//! [`Reading`] itself; the multiprocess reader calls [`Kind::merge`]. So adding a field to a
//! kind (an exemplar slot, say) touches that kind's file and one place per wire format.
//!
//! A series' values are a block of [`AtomicU64`] cells (see `region`). Writers use `Relaxed`: a
//! reader may see one cell of a series a moment before another (a histogram's `_sum` may lag
//! its buckets by one observation, which Prometheus tolerates), but never a torn cell.

pub mod counter;
pub mod exemplar;
pub mod gauge;
pub mod histogram;
pub mod info;
pub mod native_histogram;
pub mod stateset;
pub mod summary;
pub mod summary_quantiles;

use crate::error::{Error, Result};
pub use gauge::GaugeMode;
use std::sync::atomic::{AtomicU64, Ordering};

/// A family's type as the exposition formats name it: the native kinds, and what other
/// collectors (Python `collect()`, textfiles) may also declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Monotonic total.
    Counter,
    /// Value that goes up and down.
    Gauge,
    /// Classic histogram.
    Histogram,
    /// A histogram whose values may go down.
    GaugeHistogram,
    /// Count and sum (and quantiles, from other collectors).
    Summary,
    /// Constant label pairs.
    Info,
    /// A set of boolean states.
    StateSet,
    /// No type given (text 0.0.4's `untyped`).
    Unknown,
}

impl MetricType {
    /// Every type by its OpenMetrics name.
    const NAMES: [(&'static str, MetricType); 8] = [
        ("counter", MetricType::Counter),
        ("gauge", MetricType::Gauge),
        ("histogram", MetricType::Histogram),
        ("gaugehistogram", MetricType::GaugeHistogram),
        ("summary", MetricType::Summary),
        ("info", MetricType::Info),
        ("stateset", MetricType::StateSet),
        ("unknown", MetricType::Unknown),
    ];

    /// The OpenMetrics name (prometheus_client's `Metric.type`).
    pub fn name(self) -> &'static str {
        MetricType::NAMES.iter().find(|(_, t)| *t == self).map_or("unknown", |(name, _)| name)
    }

    /// The type named `name` (`untyped` is `unknown`, as prometheus_client reads it).
    pub fn parse(name: &str) -> Result<MetricType> {
        match name {
            "untyped" => Ok(MetricType::Unknown),
            _ => MetricType::NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| *t)
                .ok_or_else(|| Error::InvalidValue(format!("Invalid metric type: {name:?}"))),
        }
    }
}

/// What a native family holds, with the per-kind facts fixed at creation.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Monotonic total.
    Counter,
    /// Value that goes up and down, merged across processes by `mode`.
    Gauge {
        /// How values from several processes become one.
        mode: GaugeMode,
    },
    /// Classic histogram.
    Histogram {
        /// Upper bounds, ending with `+Inf`.
        bounds: histogram::Bounds,
    },
    /// A native histogram (client_golang's), with classic buckets alongside.
    NativeHistogram {
        /// Classic upper bounds, ending with `+Inf` (only `+Inf` when none were asked for).
        bounds: histogram::Bounds,
        /// Schema, zero bucket, limits.
        native: native_histogram::Config,
    },
    /// Count and sum of observations (no quantiles, as prometheus_client).
    Summary,
    /// Count, sum and targeted quantiles over a sliding window (client_golang's summary).
    QuantileSummary {
        /// The targets and the window.
        quantiles: summary_quantiles::Quantiles,
    },
    /// Constant labels with value 1; the current label set is an index into the family's table.
    Info,
    /// One of a fixed set of states (prometheus_client's Enum, OpenMetrics' stateset).
    StateSet {
        /// The states, in order.
        states: stateset::States,
    },
}

impl Kind {
    /// A gauge as prometheus_client makes it by default (`multiprocess_mode="all"`).
    pub const GAUGE: Kind = Kind::Gauge { mode: GaugeMode::All };

    /// How many cells one series of this kind occupies.
    pub fn cells(&self) -> usize {
        match self {
            Kind::Counter => counter::CELLS,
            Kind::Gauge { mode } => mode.cells(),
            Kind::Histogram { bounds } => histogram::cells(bounds),
            Kind::NativeHistogram { bounds, native } => native_histogram::cells(bounds, native),
            Kind::Summary | Kind::QuantileSummary { .. } => summary::CELLS,
            Kind::Info => info::CELLS,
            Kind::StateSet { .. } => stateset::CELLS,
        }
    }

    /// The type it is exposed as.
    pub fn metric_type(&self) -> MetricType {
        match self {
            Kind::Counter => MetricType::Counter,
            Kind::Gauge { .. } => MetricType::Gauge,
            Kind::Histogram { .. } | Kind::NativeHistogram { .. } => MetricType::Histogram,
            Kind::Summary | Kind::QuantileSummary { .. } => MetricType::Summary,
            Kind::Info => MetricType::Info,
            Kind::StateSet { .. } => MetricType::StateSet,
        }
    }

    /// The type name prometheus_client uses (and OpenMetrics' `# TYPE`).
    pub fn type_name(&self) -> &'static str {
        self.metric_type().name()
    }

    /// Whether its series have a `_created` time.
    pub fn has_created(&self) -> bool {
        matches!(
            self,
            Kind::Counter
                | Kind::Histogram { .. }
                | Kind::NativeHistogram { .. }
                | Kind::Summary
                | Kind::QuantileSummary { .. }
        )
    }

    /// The sample-name suffixes it exposes, for prometheus_client's duplicate-name check.
    pub fn suffixes(&self) -> &'static [&'static str] {
        match self {
            Kind::Counter => &["_total", "_created"],
            Kind::Summary | Kind::QuantileSummary { .. } => &["_sum", "_count", "_created"],
            Kind::Histogram { .. } | Kind::NativeHistogram { .. } => &["_bucket", "_sum", "_count", "_created"],
            Kind::Info => &["_info"],
            Kind::Gauge { .. } | Kind::StateSet { .. } => &[],
        }
    }

    /// Why `label` may not be a label name of family `name` of this kind, if it may not.
    pub fn reserved_label(&self, name: &str, label: &str) -> Option<&'static str> {
        match (self, label) {
            (Kind::Histogram { .. } | Kind::NativeHistogram { .. }, "le") => Some("reserved for histogram buckets"),
            (Kind::Summary | Kind::QuantileSummary { .. }, "quantile") => Some("reserved for summary quantiles"),
            (Kind::StateSet { .. }, _) if label == name => Some("an Enum's label may not share its name"),
            _ => None,
        }
    }

    /// Checks what the kind needs of a family named `name` with unit `unit`.
    pub fn validate(&self, name: &str, unit: &str) -> Result<()> {
        if !unit.is_empty() && matches!(self, Kind::Info | Kind::StateSet { .. }) {
            return Err(Error::InvalidValue(format!("Metric name is of a type that cannot have a unit: {name}")));
        }
        match self {
            Kind::StateSet { states } if states.is_empty() => {
                Err(Error::InvalidValue(format!("Enum {name:?} needs at least one state")))
            }
            _ => Ok(()),
        }
    }

    /// Exemplar slots per series: one for a counter's total, one per histogram bucket (the
    /// samples OpenMetrics lets carry one), none for the other kinds.
    pub fn exemplar_slots(&self) -> usize {
        match self {
            Kind::Counter => 1,
            Kind::Histogram { bounds } | Kind::NativeHistogram { bounds, .. } => bounds.len(),
            _ => 0,
        }
    }

    /// The exemplar slot whose exemplar sample line `line` shows, if any.
    #[inline(always)]
    pub fn exemplar_slot(&self, line: usize) -> Option<usize> {
        (line < self.exemplar_slots()).then_some(line)
    }

    /// Whether its families live in the multiprocess file: those whose values add up or merge
    /// across processes (Info and Enum stay process-local, as prometheus_client keeps them).
    pub fn shareable(&self) -> bool {
        !matches!(self, Kind::Info | Kind::StateSet { .. })
    }

    /// Whether an exited process' values are kept in the retired totals.
    pub fn retires(&self) -> bool {
        match self {
            Kind::Gauge { mode } => !mode.live_only(),
            kind => kind.shareable(),
        }
    }

    /// What a series of this kind in family `name` reads as, from its `cells`; `scratch` holds a
    /// histogram's running totals, `info_pairs` finds an Info's label pairs by their index.
    #[inline(always)]
    pub fn read<'a>(
        &'a self,
        name: &'a str,
        cells: &[AtomicU64],
        scratch: &'a mut Vec<u64>,
        info_pairs: impl FnOnce(usize) -> Box<str>,
    ) -> Reading<'a> {
        match self {
            Kind::Counter => Reading::Counter(counter::read(cells)),
            Kind::Gauge { .. } => Reading::Gauge(gauge::get(cells)),
            Kind::Histogram { bounds } => Reading::Histogram(histogram::read(cells, bounds, scratch)),
            Kind::NativeHistogram { bounds, native } => {
                Reading::NativeHistogram(native_histogram::read(cells, bounds, native, scratch))
            }
            // The quantiles are not in the cells: `Family::read` adds them.
            Kind::Summary | Kind::QuantileSummary { .. } => Reading::Summary(summary::read(cells)),
            Kind::Info => Reading::Info(info_pairs(info::index(cells))),
            Kind::StateSet { states } => Reading::StateSet(stateset::read(cells, name, states)),
        }
    }

    /// Hands `visitor` the sample lines of a series of this kind, read from its `cells` as the
    /// kind's own small reading (held in registers), so that the visitor's per-line loop is
    /// compiled once per kind. `read` gives the every-kind [`Reading`] for the kinds whose reading
    /// needs the family's side state (an Info's table, a summary's windows) or its own room (a
    /// native histogram's buckets). A scrape's hot loop: see [`SampleLines`] for why.
    #[inline(always)]
    pub fn visit<'a, V: LinesVisitor>(
        &'a self,
        name: &'a str,
        cells: &[AtomicU64],
        scratch: &'a mut Vec<u64>,
        read: impl FnOnce(&'a mut Vec<u64>) -> Reading<'a>,
        visitor: &mut V,
    ) {
        match self {
            Kind::Counter => visitor.visit(&counter::read(cells)),
            Kind::Gauge { .. } => visitor.visit(&gauge::Reading(gauge::get(cells))),
            Kind::Histogram { bounds } => visitor.visit(&histogram::read(cells, bounds, scratch)),
            Kind::Summary => visitor.visit(&summary::read(cells)),
            Kind::StateSet { states } => visitor.visit(&stateset::read(cells, name, states)),
            Kind::NativeHistogram { .. } | Kind::QuantileSummary { .. } | Kind::Info => visitor.visit(&read(scratch)),
        }
    }

    /// Merges one process' cells into the merged series' cells; `first` when none were merged
    /// into them yet (since they were zeroed).
    pub fn merge(&self, into: &[AtomicU64], from: &[AtomicU64], first: bool) {
        match self {
            Kind::Counter => counter::merge(into, from),
            Kind::Gauge { mode } => gauge::merge(*mode, into, from, first),
            Kind::Histogram { bounds } => histogram::merge(bounds, into, from),
            Kind::NativeHistogram { bounds, native } => native_histogram::merge(bounds, native, into, from, first),
            Kind::Summary | Kind::QuantileSummary { .. } => summary::merge(into, from),
            Kind::Info | Kind::StateSet { .. } => {}
        }
    }
}

/// The description of a family: fixed once it is created.
#[derive(Debug)]
pub struct Meta {
    /// Family name (for counters, without `_total`; for Info, without `_info`).
    pub name: String,
    /// HELP text, unescaped.
    pub help: String,
    /// Unit suffix, or empty.
    pub unit: String,
    /// Type and its fixed parameters.
    pub kind: Kind,
    /// Label names, in order.
    pub label_names: Box<[String]>,
}

/// What one series reads as at a scrape.
#[derive(Debug, Clone)]
pub enum Reading<'a> {
    /// A counter's total.
    Counter(counter::Reading),
    /// A gauge's value.
    Gauge(f64),
    /// A histogram's buckets and sum.
    Histogram(histogram::Reading<'a>),
    /// A native histogram's buckets, with its classic part.
    NativeHistogram(native_histogram::Reading<'a>),
    /// A summary's count and sum.
    Summary(summary::Reading),
    /// A summary's quantiles, count and sum.
    QuantileSummary(summary_quantiles::Reading<'a>),
    /// An Info's rendered label pairs.
    Info(Box<str>),
    /// A state set's current state.
    StateSet(stateset::Reading<'a>),
}

impl<'a> Reading<'a> {
    /// The sample lines, in exposition order (`_created` aside).
    #[inline(always)]
    pub fn lines(&self) -> Lines<'_, 'a> {
        Lines { reading: self, next: 0 }
    }
}

/// A series' sample lines, by index, in exposition order (`_created` aside): each kind's own
/// reading has them, and so has the every-kind [`Reading`].
///
/// A scrape's loop over lines runs on a kind's own reading ([`Kind::visit`]), not on the
/// every-kind one: that enum grew with native histograms and quantile summaries from 40 to 104
/// bytes, with drop glue, and a loop over it builds it on the stack, moves it, and dispatches
/// on its variant again for every line (each 72-byte line came back through memory once the
/// loop was `enumerate()`d for exemplars), which made a scrape of 100k gauges or 10k histograms
/// up to twice as slow while executing only ~12% more instructions.
pub trait SampleLines {
    /// Sample line `index`, if the series has that many.
    fn line(&self, index: usize) -> Option<Line<'_>>;
}

/// What [`Kind::visit`] hands a series' lines to: an encoder's loop body.
pub trait LinesVisitor {
    /// Consumes one series' lines.
    fn visit<L: SampleLines>(&mut self, lines: &L);
}

impl SampleLines for Reading<'_> {
    #[inline(always)]
    fn line(&self, index: usize) -> Option<Line<'_>> {
        match self {
            Reading::Counter(reading) => counter::line(reading, index),
            Reading::Gauge(value) => gauge::line(*value, index),
            Reading::Histogram(reading) => histogram::line(reading, index),
            Reading::NativeHistogram(reading) => histogram::line(&reading.classic, index),
            Reading::Summary(reading) => summary::line(reading, index),
            Reading::QuantileSummary(reading) => summary_quantiles::line(reading, index),
            Reading::Info(pairs) => info::line(pairs, index),
            Reading::StateSet(reading) => stateset::line(reading, index),
        }
    }
}

impl SampleLines for counter::Reading {
    #[inline(always)]
    fn line(&self, index: usize) -> Option<Line<'_>> {
        counter::line(self, index)
    }
}

impl SampleLines for gauge::Reading {
    #[inline(always)]
    fn line(&self, index: usize) -> Option<Line<'_>> {
        gauge::line(self.0, index)
    }
}

impl SampleLines for histogram::Reading<'_> {
    #[inline(always)]
    fn line(&self, index: usize) -> Option<Line<'_>> {
        histogram::line(self, index)
    }
}

impl SampleLines for summary::Reading {
    #[inline(always)]
    fn line(&self, index: usize) -> Option<Line<'_>> {
        summary::line(self, index)
    }
}

impl SampleLines for stateset::Reading<'_> {
    #[inline(always)]
    fn line(&self, index: usize) -> Option<Line<'_>> {
        stateset::line(self, index)
    }
}

/// The sample lines of a [`Reading`]: an iterator, so an encoder's loop body stays inline.
pub struct Lines<'r, 'a> {
    reading: &'r Reading<'a>,
    next: usize,
}

impl<'r> Iterator for Lines<'r, '_> {
    type Item = Line<'r>;

    #[inline(always)]
    fn next(&mut self) -> Option<Line<'r>> {
        let line = self.reading.line(self.next)?;
        self.next += 1;
        Some(line)
    }
}

/// One sample line of a series: `<family name><suffix>{<series labels>,<extra>} <value>`.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// Appended to the family name (`_total`, `_bucket`, ...).
    pub suffix: &'static str,
    /// Labels after the series' own.
    pub extra: Extra<'a>,
    /// The value.
    pub value: Value,
}

impl Line<'_> {
    /// A line with no extra labels.
    #[inline]
    pub fn plain(suffix: &'static str, value: Value) -> Line<'static> {
        Line { suffix, extra: Extra::None, value }
    }
}

/// Labels a line has beyond its series' own.
#[derive(Debug, Clone, Copy)]
pub enum Extra<'a> {
    /// None.
    None,
    /// One label: its name and escaped value (`le`, a state).
    Label(&'a str, &'a str),
    /// Rendered, escaped pairs (an Info's).
    Rendered(&'a str),
}

impl Extra<'_> {
    /// The extra labels rendered as `a="x",...` (empty for none).
    pub fn rendered(&self) -> String {
        match self {
            Extra::None => String::new(),
            Extra::Label(name, value) => format!("{name}=\"{value}\""),
            Extra::Rendered(pairs) => pairs.to_string(),
        }
    }
}

/// A sample's value: counts stay integers, for the formats that print them so.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A count of events or observations.
    Count(u64),
    /// Any other number.
    Float(f64),
}

impl Value {
    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Count(count) => count as f64,
            Value::Float(value) => value,
        }
    }
}

/// Reads an `f64` stored as bits.
#[inline]
pub fn load_f64(cell: &AtomicU64) -> f64 {
    f64::from_bits(cell.load(Ordering::Relaxed))
}

/// Adds to an `f64` stored as bits (compare-and-swap loop; uncontended under the GIL).
#[inline]
pub fn add_f64(cell: &AtomicU64, amount: f64) {
    let mut current = cell.load(Ordering::Relaxed);
    loop {
        let next = (f64::from_bits(current) + amount).to_bits();
        match cell.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => current = actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_name() {
        assert_eq!(MetricType::parse("untyped").unwrap(), MetricType::Unknown);
        assert_eq!(MetricType::parse("gaugehistogram").unwrap().name(), "gaugehistogram");
        assert_eq!(MetricType::parse("bogus").unwrap_err().to_string(), "Invalid metric type: \"bogus\"");
    }

    /// Collects the lines a visit hands over.
    struct Collect(Vec<(&'static str, String, Value)>);

    impl LinesVisitor for Collect {
        fn visit<L: SampleLines>(&mut self, lines: &L) {
            self.0.extend((0..).map_while(|i| lines.line(i)).map(|l| (l.suffix, l.extra.rendered(), l.value)));
        }
    }

    #[test]
    fn a_visit_hands_over_the_lines_of_the_every_kind_reading() {
        let kinds = [
            Kind::Counter,
            Kind::GAUGE,
            Kind::Histogram { bounds: histogram::bounds(&[1.0, 2.0]).unwrap() },
            Kind::Summary,
            Kind::StateSet { states: stateset::States::new(vec!["a".into(), "b".into()]) },
            Kind::Info,
        ];
        for kind in &kinds {
            let cells: Vec<AtomicU64> = (0..kind.cells()).map(|i| AtomicU64::new(i as u64 + 1)).collect();
            let (mut scratch, mut other) = (Vec::new(), Vec::new());
            let every_kind = kind.read("e", &cells, &mut other, |_| "k=\"v\"".into());
            let expected: Vec<_> = every_kind.lines().map(|l| (l.suffix, l.extra.rendered(), l.value)).collect();
            let mut seen = Collect(Vec::new());
            let read = |scratch| kind.read("e", &cells, scratch, |_| "k=\"v\"".into());
            kind.visit("e", &cells, &mut scratch, read, &mut seen);
            assert!(!expected.is_empty());
            assert_eq!(seen.0, expected, "{kind:?}");
        }
    }

    #[test]
    fn kinds_know_their_layout_and_rules() {
        let histogram = Kind::Histogram { bounds: histogram::bounds(&[1.0]).unwrap() };
        assert_eq!((Kind::Counter.cells(), histogram.cells()), (2, 3));
        assert_eq!(Kind::Gauge { mode: GaugeMode::LiveMostRecent }.cells(), 2);
        assert_eq!(histogram.reserved_label("h", "le"), Some("reserved for histogram buckets"));
        assert!(Kind::Info.validate("build", "seconds").unwrap_err().to_string().contains("cannot have a unit"));
        assert!(!Kind::Gauge { mode: GaugeMode::LiveSum }.retires() && Kind::GAUGE.retires());
        assert!(!Kind::Info.shareable() && !Kind::Info.retires());
    }
}
