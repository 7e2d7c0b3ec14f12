//! rocketmq-exporter: watches Apache RocketMQ clusters for Prometheus and tells operators when a
//! drained broker is safe to take offline.
//!
//! Data flows one way: discover -> fetch -> decode -> snapshot -> evaluate -> render -> serve.
//! `remoting` and `protocol` talk to RocketMQ, `collect` builds the `snapshot`, `drain` evaluates
//! it, `render` writes the exposition, `serve` publishes it; `sim` is a simulated cluster for
//! tests and the demo.

pub mod admin;
pub mod cli;
pub mod collect;
pub mod commands;
pub mod daemon;
pub mod drain;
pub mod fd_limit;
pub mod logfmt;
pub mod memory;
pub mod protocol;
pub mod remoting;
pub mod render;
pub mod self_metrics;
pub mod serve;
pub mod sim;
pub mod snapshot;
pub mod status_table;
