//! `GET_ROUTEINFO_BY_TOPIC` (105): which brokers serve a topic and with what permission.
//!
//! `QueueData.perm` is where a drained broker's lost write bit shows up on the NameServer.

use serde::Deserialize;

use super::cluster_info::BrokerData;
use super::lenient_json::{de, from_slice};
use super::DecodeError;

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicRouteData {
    #[serde(deserialize_with = "de::vec_skip_null")]
    pub broker_datas: Vec<BrokerData>,
    #[serde(deserialize_with = "de::vec_skip_null")]
    pub queue_datas: Vec<QueueData>,
    #[serde(deserialize_with = "de::opt_string")]
    pub order_topic_conf: Option<String>,
}

/// One broker's queues for the topic.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct QueueData {
    #[serde(deserialize_with = "de::string")]
    pub broker_name: String,
    /// `PermName` bits: 4 read, 2 write, 1 inherit.
    #[serde(deserialize_with = "de::i32")]
    pub perm: i32,
    #[serde(deserialize_with = "de::i32")]
    pub read_queue_nums: i32,
    #[serde(deserialize_with = "de::i32")]
    pub write_queue_nums: i32,
    /// Spelled `topicSynFlag` before 4.9.0.
    #[serde(alias = "topicSynFlag", deserialize_with = "de::i32")]
    pub topic_sys_flag: i32,
}

impl QueueData {
    /// The write bit (`PERM_WRITE` = 2).
    pub fn is_writeable(&self) -> bool {
        self.perm & 2 != 0
    }
}

impl TopicRouteData {
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        from_slice("TopicRouteData", body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_1445_pretty_printed_pre_49() {
        // PROTOCOL.md §5.2, apache/rocketmq#1445 verbatim (tabs and newlines included).
        let body = "{\n\t\"brokerDatas\": [{\n\t\t\"brokerAddrs\": {\n\t\t\t0: \"172.168.0.104:10911\"\n\t\t},\n\t\t\"brokerName\": \"yinchongyuandeMacBook-Pro.local\",\n\t\t\"cluster\": \"DefaultCluster\"\n\t}],\n\t\"filterServerTable\": {},\n\t\"queueDatas\": [{\n\t\t\"brokerName\": \"yinchongyuandeMacBook-Pro.local\",\n\t\t\"perm\": 6,\n\t\t\"readQueueNums\": 4,\n\t\t\"topicSynFlag\": 0,\n\t\t\"writeQueueNums\": 4\n\t}]\n}";
        let r = TopicRouteData::decode(body.as_bytes()).unwrap();
        assert_eq!(r.broker_datas.len(), 1);
        assert_eq!(r.broker_datas[0].master_addr(), Some("172.168.0.104:10911"));
        assert_eq!(r.broker_datas[0].cluster, "DefaultCluster");
        let q = &r.queue_datas[0];
        assert_eq!(
            (
                q.perm,
                q.read_queue_nums,
                q.write_queue_nums,
                q.topic_sys_flag
            ),
            (6, 4, 4, 0)
        );
        assert!(q.is_writeable());
        assert_eq!(r.order_topic_conf, None);
    }

    #[test]
    fn java_533_with_static_topic_mapping_and_syn_flag_alias() {
        let body = br#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"c","enableActingMaster":false}],"filterServerTable":{},"orderTopicConf":"broker-a:4","queueDatas":[{"brokerName":"broker-a","perm":4,"readQueueNums":8,"topicSysFlag":1,"writeQueueNums":8}],"topicQueueMappingByBroker":{"broker-a":{"bname":"broker-a","currIdMap":{0:0,-1:3},"epoch":1,"totalQueues":8}}}"#;
        let r = TopicRouteData::decode(body).unwrap();
        assert_eq!(r.order_topic_conf.as_deref(), Some("broker-a:4"));
        assert_eq!(r.queue_datas[0].topic_sys_flag, 1);
        assert!(!r.queue_datas[0].is_writeable());
        let old = TopicRouteData::decode(br#"{"queueDatas":[{"topicSynFlag":3}]}"#).unwrap();
        assert_eq!(old.queue_datas[0].topic_sys_flag, 3);
    }

    #[test]
    fn rocketmq_rust_standard_json_with_nulls_and_quoted_numbers() {
        let body = br#"{"orderTopicConf":null,"queueDatas":[{"brokerName":"broker-a","perm":"6","readQueueNums":4,"writeQueueNums":4,"topicSysFlag":null},null],"brokerDatas":[{"cluster":"c","brokerName":"broker-a","brokerAddrs":{"0":"127.0.0.1:10911"},"zoneName":null,"enableActingMaster":false}],"filterServerTable":null}"#;
        let r = TopicRouteData::decode(body).unwrap();
        assert_eq!(r.queue_datas.len(), 1);
        assert_eq!(r.queue_datas[0].perm, 6);
        assert_eq!(r.queue_datas[0].topic_sys_flag, 0);
        assert_eq!(r.broker_datas[0].broker_addrs[&0], "127.0.0.1:10911");
    }
}
