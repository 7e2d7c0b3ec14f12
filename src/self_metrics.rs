//! The exporter's own instrumentation, kept in a `prometheus` registry.
//!
//! The cluster series are rendered by a purpose-built writer (see `render`); what the exporter
//! knows about itself (requests it sent, how long they took, process figures) lives here, where
//! the `prometheus` crate is strongest, and is appended to each exposition.

use std::sync::OnceLock;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

pub struct SelfMetrics {
    pub registry: Registry,
    /// `rocketmq_exporter_requests_total{code,outcome}`: remoting requests by request code and
    /// outcome (`success`, `error`, `timeout`, `unsupported`, `transport`, `protocol`).
    pub requests_total: IntCounterVec,
    /// `rocketmq_exporter_request_duration_seconds{code}`.
    pub request_duration: HistogramVec,
}

/// Process-wide instance: the client records into it from any task.
pub fn global() -> &'static SelfMetrics {
    static M: OnceLock<SelfMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let registry = Registry::new();
        let requests_total = IntCounterVec::new(
            Opts::new("rocketmq_exporter_requests_total", "Remoting requests sent to RocketMQ, by request code and outcome."),
            &["code", "outcome"],
        )
        .expect("valid metric");
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "rocketmq_exporter_request_duration_seconds",
                "Time from sending a remoting request to its response, by request code.",
            )
            .buckets(vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["code"],
        )
        .expect("valid metric");
        registry.register(Box::new(requests_total.clone())).expect("register");
        registry.register(Box::new(request_duration.clone())).expect("register");
        #[cfg(target_os = "linux")]
        {
            let pc = prometheus::process_collector::ProcessCollector::for_self();
            let _ = registry.register(Box::new(pc));
        }
        SelfMetrics { registry, requests_total, request_duration }
    })
}

/// Text exposition of the registry, appended after the cluster series.
pub fn encode() -> Vec<u8> {
    use prometheus::Encoder;
    let mut out = Vec::new();
    let _ = prometheus::TextEncoder::new().encode(&global().registry.gather(), &mut out);
    out
}
