//! `GET_ALL_TOPIC_CONFIG` (21): every topic a broker hosts, with its raw (unmasked) permission.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::lenient_json::{de, from_slice};
use super::DecodeError;

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicConfig {
    #[serde(deserialize_with = "de::string")]
    pub topic_name: String,
    #[serde(deserialize_with = "de::i32")]
    pub read_queue_nums: i32,
    #[serde(deserialize_with = "de::i32")]
    pub write_queue_nums: i32,
    #[serde(deserialize_with = "de::i32")]
    pub perm: i32,
    #[serde(alias = "topicSynFlag", deserialize_with = "de::i32")]
    pub topic_sys_flag: i32,
    #[serde(deserialize_with = "de::bool")]
    pub order: bool,
    /// `SINGLE_TAG` / `MULTI_TAG`.
    #[serde(deserialize_with = "de::opt_string")]
    pub topic_filter_type: Option<String>,
    /// 5.x topic attributes, e.g. `+message.type` ⇒ `NORMAL`.
    #[serde(deserialize_with = "de::string_map")]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DataVersion {
    #[serde(deserialize_with = "de::i64")]
    pub counter: i64,
    #[serde(deserialize_with = "de::i64")]
    pub timestamp: i64,
    /// 5.x only.
    #[serde(deserialize_with = "de::opt_i64")]
    pub state_version: Option<i64>,
}

/// `TopicConfigSerializeWrapper` (4.9) / `TopicConfigAndMappingSerializeWrapper` (5.x; the
/// static-topic mapping fields are skipped).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicConfigWrapper {
    #[serde(deserialize_with = "de::map_skip_null")]
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    #[serde(deserialize_with = "de::or_default")]
    pub data_version: Option<DataVersion>,
}

impl TopicConfigWrapper {
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        from_slice("TopicConfigSerializeWrapper", body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_498_shape() {
        let body = br#"{"dataVersion":{"counter":12,"timestamp":1700000000000},"topicConfigTable":{"TopicTest":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4},"%RETRY%g":{"order":false,"perm":6,"readQueueNums":1,"topicFilterType":"SINGLE_TAG","topicName":"%RETRY%g","topicSysFlag":0,"writeQueueNums":1}}}"#;
        let w = TopicConfigWrapper::decode(body).unwrap();
        assert_eq!(w.topic_config_table.len(), 2);
        let t = &w.topic_config_table["TopicTest"];
        assert_eq!((t.read_queue_nums, t.write_queue_nums, t.perm), (4, 4, 6));
        assert_eq!(t.topic_filter_type.as_deref(), Some("SINGLE_TAG"));
        assert_eq!(
            w.data_version,
            Some(DataVersion {
                counter: 12,
                timestamp: 1_700_000_000_000,
                state_version: None
            })
        );
    }

    #[test]
    fn java_533_shape_with_mapping_fields() {
        let body = br#"{"dataVersion":{"counter":3,"stateVersion":0,"timestamp":1},"mappingDataVersion":{"counter":0,"stateVersion":0,"timestamp":1},"topicConfigTable":{"O":{"attributes":{"+message.type":"FIFO"},"order":true,"perm":4,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"O","topicSysFlag":0,"writeQueueNums":8}},"topicQueueMappingDetailMap":{"S":{"hostedQueues":{0:[{"bname":"a","gen":0}],-2:[]}}},"topicQueueMappingInfoMap":{}}"#;
        let w = TopicConfigWrapper::decode(body).unwrap();
        let t = &w.topic_config_table["O"];
        assert!(t.order);
        assert_eq!(t.perm, 4);
        assert_eq!(t.attributes["+message.type"], "FIFO");
        assert_eq!(w.data_version.unwrap().state_version, Some(0));
    }

    #[test]
    fn rocketmq_rust_nulls() {
        let body = br#"{"topicConfigTable":{"T":{"topicName":"T","readQueueNums":"2","writeQueueNums":2,"perm":6,"topicSysFlag":null,"order":null,"attributes":null,"topicFilterType":null},"N":null},"dataVersion":null}"#;
        let w = TopicConfigWrapper::decode(body).unwrap();
        assert_eq!(w.topic_config_table.len(), 1);
        assert_eq!(w.topic_config_table["T"].read_queue_nums, 2);
        assert_eq!(w.data_version, None);
    }
}
