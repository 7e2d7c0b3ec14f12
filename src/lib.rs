//! rocketmq-exporter: watches Apache RocketMQ clusters for Prometheus and tells operators when a
//! drained broker is safe to take offline.
//!
//! Data flows one way: discover -> fetch -> decode -> snapshot -> evaluate -> render -> serve.

pub mod remoting;
pub mod self_metrics;
pub mod snapshot;
pub mod drain;
pub mod render;
pub mod status_table;
