//! Push: for batch jobs, a Pushgateway client ([`pushgateway`]); for fleets that outgrow one
//! Prometheus, a remote write 1.0 sender ([`sender::RemoteWriter`]) that Prometheus,
//! VictoriaMetrics, Mimir and Thanos receive.
//!
//! Both run on the caller's or their own threads with a blocking HTTP client ([`http`]): a push
//! is one request, and the sender needs nothing an async runtime would add. Threads start only
//! when a writer is created, never at import, so a process can still fork safely before that.

pub mod disk_queue;
pub mod http;
pub mod pushgateway;
pub mod queue;
pub mod remote_write;
pub mod sender;
