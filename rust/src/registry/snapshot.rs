//! Plain-data metric families: what collectors written outside the native metrics (Python
//! `collect()` methods, system collectors) hand to the encoders, and what `collect()` returns
//! to Python. Same shape as prometheus_client's `Metric` and `Sample`.

/// One metric family with its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// Family name (for counters, without `_total`).
    pub name: String,
    /// HELP text, unescaped.
    pub help: String,
    /// OpenMetrics type name: counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown.
    pub kind: String,
    /// Unit, or empty.
    pub unit: String,
    /// Samples in exposition order.
    pub samples: Vec<Sample>,
}

/// One line of exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Full sample name (`x_total`, `x_bucket`, ...).
    pub name: String,
    /// Label pairs in order, values unescaped.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// Seconds since the epoch, if the sample carries its own timestamp.
    pub timestamp: Option<f64>,
}

impl MetricFamily {
    /// A family with no samples yet.
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: &str, unit: &str) -> Self {
        MetricFamily {
            name: name.into(),
            help: help.into(),
            kind: kind.to_owned(),
            unit: unit.to_owned(),
            samples: Vec::new(),
        }
    }

    /// Appends a sample named `<family><suffix>`.
    pub fn push(&mut self, suffix: &str, labels: Vec<(String, String)>, value: f64) {
        self.samples.push(Sample { name: format!("{}{suffix}", self.name), labels, value, timestamp: None });
    }
}
