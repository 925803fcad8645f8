//! Plain-data metric families: what collectors written outside the native metrics (Python
//! `collect()` methods, system collectors) hand to the encoders, and what `collect()` returns
//! to Python. Same shape as prometheus_client's `Metric` and `Sample`.
//!
//! Text is `Cow<'static, str>`: the system collectors build a few hundred samples per scrape,
//! nearly all with names and label names known at compile time, and allocating each of them
//! anew was the largest part of their CPU time after the kernel's.

use std::borrow::Cow;

/// Text that is usually a literal.
pub type Text = Cow<'static, str>;

/// One metric family with its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// Family name (for counters, without `_total`).
    pub name: Text,
    /// HELP text, unescaped.
    pub help: Text,
    /// OpenMetrics type name: counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown.
    pub kind: Text,
    /// Unit, or empty.
    pub unit: Text,
    /// Samples in exposition order.
    pub samples: Vec<Sample>,
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
    pub fn new(name: impl Into<Text>, help: impl Into<Text>, kind: impl Into<Text>, unit: impl Into<Text>) -> Self {
        MetricFamily { name: name.into(), help: help.into(), kind: kind.into(), unit: unit.into(), samples: Vec::new() }
    }

    /// Appends a sample named `<family><suffix>`.
    pub fn push(&mut self, suffix: &str, labels: Vec<(Text, Text)>, value: f64) {
        let name = if suffix.is_empty() { self.name.clone() } else { Cow::Owned(format!("{}{suffix}", self.name)) };
        self.push_named(name, labels, value);
    }

    /// Appends a sample with its full name given (a literal, for a counter's `_total`).
    pub fn push_named(&mut self, name: impl Into<Text>, labels: Vec<(Text, Text)>, value: f64) {
        self.samples.push(Sample { name: name.into(), labels, value, timestamp: None });
    }
}
