//! Plain-data metric families: what collectors written outside the native metrics (Python
//! `collect()` methods, system collectors) hand to the encoders, and what `collect()` returns
//! to Python. Same shape as prometheus_client's `Metric` and `Sample`.
//!
//! Names, help and label values are [`Text`]: a literal, or a shared string that clones by a
//! reference count. The system collectors build a few hundred samples per scrape, nearly all
//! with names known at compile time or repeated from the last scrape, and allocating each of
//! them anew was the largest part of their CPU time after the kernel's.

use crate::metric::exemplar::Exemplar;
use crate::metric::MetricType;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// Text that is usually a literal, else shared.
#[derive(Clone)]
pub enum Text {
    /// Known at compile time.
    Static(&'static str),
    /// Made at run time; clones share it.
    Shared(Arc<str>),
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Text::Static(text) => text,
            Text::Shared(text) => text,
        }
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self
    }
}

impl From<&'static str> for Text {
    fn from(text: &'static str) -> Text {
        Text::Static(text)
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text::Shared(text.into())
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        **self == **other
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        &**self == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        &**self == *other
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

/// One metric family with its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// Family name (for counters, without `_total`).
    pub name: Text,
    /// HELP text, unescaped.
    pub help: Text,
    /// Its type.
    pub kind: MetricType,
    /// Unit, or empty.
    pub unit: Text,
    /// Samples in exposition order.
    pub samples: Vec<Sample>,
    /// Exemplars by the index of the sample they belong to, in sample order (kept beside the
    /// samples, since few have one).
    pub exemplars: Vec<(usize, Arc<Exemplar>)>,
    /// Native histogram values by the index of the sample they belong to, in sample order
    /// (prometheus_client's `Sample.native_histogram`; OpenMetrics 2.0 writes them in place of
    /// the sample's value, 1.0 leaves those samples out).
    pub native_histograms: Vec<(usize, Arc<NativeHistogramValue>)>,
    /// Timestamps a Python collector gave as something other than a float (an `int`, a
    /// `Timestamp`), by sample index, as `str()` prints them: OpenMetrics writes them so, as
    /// prometheus_client does (`123`, `123.456000000`).
    pub timestamp_texts: Vec<(usize, Box<str>)>,
}

/// A number as a Python collector gave it: prometheus_client prints what it is given with
/// `str()`, so an `int` has no point (`24`), a float is written as `repr` writes it (`24.0`),
/// and anything else as its `str()` (kept as text).
#[derive(Debug, Clone, PartialEq)]
pub enum Number {
    /// An integer.
    Integer(i64),
    /// A float.
    Float(f64),
    /// Anything else (a large or derived `int`, numpy's numbers, `None`), as `str()` prints it.
    Text(Box<str>),
}

/// A native histogram sample's value given as plain data (prometheus_client's `NativeHistogram`).
#[derive(Debug, Clone, PartialEq)]
pub struct NativeHistogramValue {
    /// Observations.
    pub count: Number,
    /// Their sum.
    pub sum: Number,
    /// The resolution: bucket boundaries are powers of `2^(2^-schema)`.
    pub schema: Number,
    /// The zero bucket's threshold.
    pub zero_threshold: Number,
    /// Observations in the zero bucket.
    pub zero_count: Number,
    /// Negative buckets: `(offset, length)` spans and bucket-to-bucket count deltas.
    pub negative_spans: Vec<(Number, Number)>,
    /// Deltas of the negative buckets' counts.
    pub negative_deltas: Vec<Number>,
    /// Positive buckets' spans.
    pub positive_spans: Vec<(Number, Number)>,
    /// Deltas of the positive buckets' counts.
    pub positive_deltas: Vec<Number>,
    /// Exemplars written after the value.
    pub exemplars: Vec<Arc<Exemplar>>,
    /// Why it cannot be written (prometheus_client's error for it), when it cannot: only
    /// OpenMetrics 2.0 writes it, so only it fails with that.
    pub unwritable: Option<Box<str>>,
}

impl NativeHistogramValue {
    /// A value that cannot be written, and why.
    pub fn unwritable(reason: impl Into<Box<str>>) -> NativeHistogramValue {
        let nothing = || Number::Text("".into());
        NativeHistogramValue {
            count: nothing(),
            sum: nothing(),
            schema: nothing(),
            zero_threshold: nothing(),
            zero_count: nothing(),
            negative_spans: Vec::new(),
            negative_deltas: Vec::new(),
            positive_spans: Vec::new(),
            positive_deltas: Vec::new(),
            exemplars: Vec::new(),
            unwritable: Some(reason.into()),
        }
    }
}

/// One line of exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Full sample name (`x_total`, `x_bucket`, ...).
    pub name: Text,
    /// Label pairs in order, values unescaped.
    pub labels: Vec<(Text, Text)>,
    /// The value.
    pub value: f64,
    /// Seconds since the epoch, if the sample carries its own timestamp.
    pub timestamp: Option<f64>,
}

impl MetricFamily {
    /// A family with no samples yet.
    pub fn new(name: impl Into<Text>, help: impl Into<Text>, kind: MetricType, unit: impl Into<Text>) -> Self {
        MetricFamily {
            name: name.into(),
            help: help.into(),
            kind,
            unit: unit.into(),
            samples: Vec::new(),
            exemplars: Vec::new(),
            native_histograms: Vec::new(),
            timestamp_texts: Vec::new(),
        }
    }

    /// Appends a sample named `<family><suffix>`.
    pub fn push(&mut self, suffix: &str, labels: Vec<(Text, Text)>, value: f64) {
        let name = if suffix.is_empty() { self.name.clone() } else { format!("{}{suffix}", self.name).into() };
        self.push_named(name, labels, value);
    }

    /// The exemplar of sample `index`, if it has one.
    pub fn exemplar(&self, index: usize) -> Option<&Arc<Exemplar>> {
        let at = self.exemplars.partition_point(|(i, _)| *i < index);
        self.exemplars.get(at).filter(|(i, _)| *i == index).map(|(_, exemplar)| exemplar)
    }

    /// The native histogram value of sample `index`, if it has one.
    pub fn native_histogram(&self, index: usize) -> Option<&Arc<NativeHistogramValue>> {
        let at = self.native_histograms.partition_point(|(i, _)| *i < index);
        self.native_histograms.get(at).filter(|(i, _)| *i == index).map(|(_, value)| value)
    }

    /// Appends a sample with its full name given (a literal, for a counter's `_total`).
    pub fn push_named(&mut self, name: impl Into<Text>, labels: Vec<(Text, Text)>, value: f64) {
        self.samples.push(Sample { name: name.into(), labels, value, timestamp: None });
    }
}
