//! Typed RocketMQ admin calls: one method per request code, returning decoded bodies.
//!
//! Everything here is read-only except `update_broker_config`, which only the explicit
//! `drain`/`restore` commands call.

use std::time::Duration;

use crate::protocol::{
    broker_config::BrokerConfig, cluster_info::ClusterInfo, consume_stats::ConsumeStats,
    consume_stats::ConsumeStatsList, ha_status::HaRuntimeInfo, ConsumeRows, RowVisitor, route::TopicRouteData, runtime_info::RuntimeInfo,
    topic_config::TopicConfigWrapper, topic_stats::TopicStatsTable, DecodeError,
};
use crate::remoting::codes::{request, response};
use crate::remoting::{RemotingClient, RemotingCommand, RemotingError};

#[derive(Clone)]
pub struct Admin {
    client: RemotingClient,
}

fn decode_err(addr: &str, code: i32, e: DecodeError) -> RemotingError {
    RemotingError::Decode { addr: addr.to_string(), code, reason: e.to_string() }
}

impl Admin {
    pub fn new(client: RemotingClient) -> Self {
        Admin { client }
    }

    pub fn client(&self) -> &RemotingClient {
        &self.client
    }

    async fn call(&self, addr: &str, cmd: RemotingCommand) -> Result<RemotingCommand, RemotingError> {
        self.client.invoke(addr, cmd).await
    }

    /// GET_BROKER_CLUSTER_INFO (106) from a NameServer.
    pub async fn cluster_info(&self, namesrv: &str) -> Result<ClusterInfo, RemotingError> {
        let r = self.cluster_info_answer(namesrv).await?;
        Self::decode_cluster_info(namesrv, &r)
    }

    /// The 106 answer undecoded, for a caller that may already know what it says.
    pub async fn cluster_info_answer(&self, namesrv: &str) -> Result<RemotingCommand, RemotingError> {
        self.call(namesrv, RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO)).await
    }

    pub fn decode_cluster_info(namesrv: &str, r: &RemotingCommand) -> Result<ClusterInfo, RemotingError> {
        ClusterInfo::decode(&r.body).map_err(|e| decode_err(namesrv, request::GET_BROKER_CLUSTER_INFO, e))
    }

    /// GET_ROUTEINFO_BY_TOPIC (105), asking for standard JSON (PROTOCOL.md §1.7).
    pub async fn route(&self, namesrv: &str, topic: &str) -> Result<TopicRouteData, RemotingError> {
        let code = request::GET_ROUTEINFO_BY_TOPIC;
        let cmd = RemotingCommand::request(code).with_ext("topic", topic).with_ext("acceptStandardJsonOnly", "true");
        let r = self.call(namesrv, cmd).await?;
        TopicRouteData::decode(&r.body).map_err(|e| decode_err(namesrv, code, e))
    }

    /// GET_BROKER_RUNTIME_INFO (28), typed figures only (`raw` is left empty).
    pub async fn runtime_info(&self, broker: &str) -> Result<RuntimeInfo, RemotingError> {
        let r = self.call(broker, Self::runtime_info_request()).await?;
        Self::decode_runtime_info(broker, &r)
    }

    pub fn runtime_info_request() -> RemotingCommand {
        RemotingCommand::request(request::GET_BROKER_RUNTIME_INFO)
    }

    pub fn decode_runtime_info(broker: &str, r: &RemotingCommand) -> Result<RuntimeInfo, RemotingError> {
        RuntimeInfo::decode_figures(&r.body).map_err(|e| decode_err(broker, request::GET_BROKER_RUNTIME_INFO, e))
    }

    /// GET_BROKER_CONFIG (26).
    pub async fn broker_config(&self, broker: &str) -> Result<BrokerConfig, RemotingError> {
        let code = request::GET_BROKER_CONFIG;
        let r = self.call(broker, RemotingCommand::request(code)).await?;
        BrokerConfig::decode(&r.body).map_err(|e| decode_err(broker, code, e))
    }

    /// GET_BROKER_CONFIG (26), keeping only `keys`.
    pub async fn broker_config_keys(&self, broker: &str, keys: &[&str]) -> Result<BrokerConfig, RemotingError> {
        let r = self.call(broker, Self::broker_config_request()).await?;
        Self::decode_broker_config_keys(broker, &r, keys)
    }

    pub fn broker_config_request() -> RemotingCommand {
        RemotingCommand::request(request::GET_BROKER_CONFIG)
    }

    pub fn decode_broker_config_keys(broker: &str, r: &RemotingCommand, keys: &[&str]) -> Result<BrokerConfig, RemotingError> {
        BrokerConfig::decode_keys(&r.body, keys).map_err(|e| decode_err(broker, request::GET_BROKER_CONFIG, e))
    }

    /// GET_BROKER_CONSUME_STATS (317) with `isOrder=false`: every (group, topic, queue) in one answer.
    pub async fn broker_consume_stats(&self, broker: &str) -> Result<ConsumeStatsList, RemotingError> {
        let r = self.call(broker, Self::broker_consume_stats_request()).await?;
        ConsumeStatsList::decode(&r.body).map_err(|e| decode_err(broker, request::GET_BROKER_CONSUME_STATS, e))
    }

    pub fn broker_consume_stats_request() -> RemotingCommand {
        RemotingCommand::request(request::GET_BROKER_CONSUME_STATS).with_ext("isOrder", "false")
    }

    /// GET_BROKER_CONSUME_STATS (317) rows handed to `v` as the answer is parsed: the collector
    /// keeps rows of its own type, with no allocation per decoded row.
    pub fn visit_broker_consume_rows(broker: &str, r: &RemotingCommand, v: &mut impl RowVisitor) -> Result<(), RemotingError> {
        ConsumeRows::visit(&r.body, v).map_err(|e| decode_err(broker, request::GET_BROKER_CONSUME_STATS, e))
    }

    /// GET_CONSUME_STATS (208) for one group, optionally one topic.
    pub async fn consume_stats(&self, broker: &str, group: &str, topic: Option<&str>) -> Result<ConsumeStats, RemotingError> {
        let code = request::GET_CONSUME_STATS;
        let mut cmd = RemotingCommand::request(code).with_ext("consumerGroup", group);
        if let Some(t) = topic {
            cmd = cmd.with_ext("topic", t);
        }
        let r = self.call(broker, cmd).await?;
        ConsumeStats::decode(&r.body).map_err(|e| decode_err(broker, code, e))
    }

    /// GET_TOPIC_STATS_INFO (202).
    pub async fn topic_stats(&self, broker: &str, topic: &str) -> Result<TopicStatsTable, RemotingError> {
        let code = request::GET_TOPIC_STATS_INFO;
        let r = self.call(broker, RemotingCommand::request(code).with_ext("topic", topic)).await?;
        TopicStatsTable::decode(&r.body).map_err(|e| decode_err(broker, code, e))
    }

    /// GET_ALL_TOPIC_CONFIG (21).
    pub async fn all_topic_config(&self, broker: &str) -> Result<TopicConfigWrapper, RemotingError> {
        let code = request::GET_ALL_TOPIC_CONFIG;
        let r = self.call(broker, RemotingCommand::request(code)).await?;
        TopicConfigWrapper::decode(&r.body).map_err(|e| decode_err(broker, code, e))
    }

    /// GET_BROKER_HA_STATUS (907, 5.x). `Ok(None)` when the broker does not have it: 4.x answers
    /// REQUEST_CODE_NOT_SUPPORTED, rocketmq-rust answers NO_PERMISSION for codes it lacks.
    pub async fn ha_status(&self, broker: &str) -> Result<Option<HaRuntimeInfo>, RemotingError> {
        Self::decode_ha_status(broker, self.call(broker, Self::ha_status_request()).await)
    }

    pub fn ha_status_request() -> RemotingCommand {
        RemotingCommand::request(request::GET_BROKER_HA_STATUS)
    }

    /// What `ha_status` makes of an answer (or failure): "not supported" is `Ok(None)`.
    pub fn decode_ha_status(
        broker: &str,
        answer: Result<RemotingCommand, RemotingError>,
    ) -> Result<Option<HaRuntimeInfo>, RemotingError> {
        match answer {
            Ok(r) => HaRuntimeInfo::decode(&r.body).map(Some).map_err(|e| decode_err(broker, request::GET_BROKER_HA_STATUS, e)),
            Err(e) if e.is_unsupported() => Ok(None),
            Err(RemotingError::Response { response_code, ref remark, .. })
                if response_code == response::NO_PERMISSION && remark.to_ascii_lowercase().contains("support") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// UPDATE_BROKER_CONFIG (25): mutates the broker. Only explicit operator commands call this.
    pub async fn update_broker_config(&self, broker: &str, entries: &[(&str, &str)], timeout: Duration) -> Result<(), RemotingError> {
        let body: String = entries.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        let cmd = RemotingCommand::request(request::UPDATE_BROKER_CONFIG).with_body(body.into_bytes());
        self.client.invoke_with_timeout(broker, cmd, timeout).await.map(|_| ())
    }
}
