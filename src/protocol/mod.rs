//! Decoders for every RocketMQ response body the exporter reads.
//!
//! Java brokers and NameServers serialize bodies with fastjson 1.x, which is *almost* JSON: map keys
//! that are numbers or objects are written bare (PROTOCOL.md §5). Every JSON decoder here goes
//! through [`lenient_json::from_slice`], which fixes those keys in one pass and then hands standard
//! JSON to serde. All structs default every field, because fastjson omits nulls, fields come and go
//! across 4.9.x/5.x, and rocketmq-rust writes explicit `null`s.
//!
//! The bodies fetched from every broker every cycle (28 runtime info, 208/317 consume stats) first
//! try a strict fast path (`strict_json`) that reads the usual Java form with no copy and no serde,
//! and falls back to the lenient path on anything unusual; differential tests and the fuzz target
//! check that both paths agree.
//!
//! Decoding is pure (bytes in, values out) so it is unit-tested and fuzzed without sockets.

pub mod broker_config;
pub mod cluster_info;
pub mod consume_stats;
pub mod error;
pub mod ha_status;
pub mod lenient_json;
pub(crate) mod strict_json;
#[cfg(test)]
mod fast_path_tests;
#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
pub(crate) mod test_rng;
pub mod route;
pub mod runtime_info;
pub mod topic_config;
pub mod topic_stats;

pub use broker_config::BrokerConfig;
pub use cluster_info::{BrokerData, ClusterInfo};
pub use consume_stats::{ConsumeRow, ConsumeRows, ConsumeStats, ConsumeStatsList, MessageQueue, OffsetWrapper, RowVisitor};
pub use error::DecodeError;
pub use ha_status::{HaClientRuntimeInfo, HaConnectionRuntimeInfo, HaRuntimeInfo};
pub use route::{QueueData, TopicRouteData};
pub use runtime_info::{parse_human_bytes, RuntimeInfo, TpsTriple};
pub use topic_config::{DataVersion, TopicConfig, TopicConfigWrapper};
pub use topic_stats::{TopicOffset, TopicStatsTable};
