//! `GET_TOPIC_STATS_INFO` (202): min/max offset of every queue of a topic.

use serde::Deserialize;

use super::consume_stats::{mq_table, MessageQueue};
use super::lenient_json::{de, from_slice};
use super::DecodeError;

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicOffset {
    #[serde(deserialize_with = "de::i64")]
    pub min_offset: i64,
    #[serde(deserialize_with = "de::i64")]
    pub max_offset: i64,
    #[serde(deserialize_with = "de::i64")]
    pub last_update_timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicStatsTable {
    /// In wire order.
    #[serde(deserialize_with = "mq_table")]
    pub offset_table: Vec<(MessageQueue, TopicOffset)>,
    /// 5.3.3+ only.
    #[serde(deserialize_with = "de::opt_f64")]
    pub topic_put_tps: Option<f64>,
}

impl TopicStatsTable {
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        from_slice("TopicStatsTable", body)
    }

    /// Messages currently stored in the topic: Σ(maxOffset − minOffset).
    pub fn total_messages(&self) -> i64 {
        self.offset_table.iter().fold(0i64, |a, (_, o)| {
            a.saturating_add(o.max_offset.saturating_sub(o.min_offset))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_3389_payload() {
        // PROTOCOL.md §5.2, apache/rocketmq#3389 (the reporter truncated it after two entries; the
        // `…` is replaced by the closing braces).
        let body = br#"{"offsetTable":{{"brokerName":"rocketmq-broker-a","queueId":2,"topic":"test"}:{"lastUpdateTimestamp":0,"maxOffset":0,"minOffset":0},{"brokerName":"rocketmq-broker-a","queueId":3,"topic":"test"}:{"lastUpdateTimestamp":0,"maxOffset":0,"minOffset":0}}}"#;
        let t = TopicStatsTable::decode(body).unwrap();
        assert_eq!(t.offset_table.len(), 2);
        assert_eq!(
            t.offset_table[0].0,
            MessageQueue {
                topic: "test".into(),
                broker_name: "rocketmq-broker-a".into(),
                queue_id: 2
            }
        );
        assert_eq!(t.offset_table[1].0.queue_id, 3);
        assert_eq!(t.offset_table[1].1, TopicOffset::default());
        assert_eq!(t.topic_put_tps, None);
    }

    #[test]
    fn java_533_with_put_tps_and_big_offsets() {
        let body = br#"{"offsetTable":{{"brokerName":"a","queueId":0,"topic":"t"}:{"lastUpdateTimestamp":1700000000123,"maxOffset":9223372036854775807,"minOffset":9223372036854775000}},"topicPutTps":1.0E-4}"#;
        let t = TopicStatsTable::decode(body).unwrap();
        assert_eq!(t.offset_table[0].1.max_offset, i64::MAX);
        assert_eq!(t.offset_table[0].1.last_update_timestamp, 1_700_000_000_123);
        assert_eq!(t.total_messages(), 807);
        assert_eq!(t.topic_put_tps, Some(1.0e-4));
    }

    #[test]
    fn rocketmq_rust_string_keys_other_order() {
        let body = br#"{"offsetTable":{"{\"topic\":\"t\",\"brokerName\":\"a\",\"queueId\":1}":{"minOffset":2,"maxOffset":9,"lastUpdateTimestamp":null}},"topicPutTps":null}"#;
        let t = TopicStatsTable::decode(body).unwrap();
        assert_eq!(t.offset_table[0].0.queue_id, 1);
        assert_eq!(
            t.offset_table[0].1,
            TopicOffset {
                min_offset: 2,
                max_offset: 9,
                last_update_timestamp: 0
            }
        );
        assert_eq!(t.total_messages(), 7);
    }

    #[test]
    fn reset_offset_body_fixture_shape() {
        // PROTOCOL.md §5.2 client-go fixture: MessageQueue keys with bare number values.
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct ResetOffsetBody {
            #[serde(deserialize_with = "mq_table")]
            offset_table: Vec<(MessageQueue, i64)>,
        }
        let body = br#"{"offsetTable":{{"brokerName":"RaftNode00","queueId":0,"topic":"topicB"}:11110,{"brokerName":"RaftNode00","queueId":1,"topic":"topicB"}:0,{"brokerName":"RaftNode00","queueId":2,"topic":"topicB"}:0,{"brokerName":"RaftNode00","queueId":3,"topic":"topicB"}:0}}"#;
        let r: ResetOffsetBody = from_slice("ResetOffsetBody", body).unwrap();
        assert_eq!(r.offset_table.len(), 4);
        assert_eq!(r.offset_table[0].1, 11110);
        assert_eq!(r.offset_table[3].0.queue_id, 3);
        assert!(r
            .offset_table
            .iter()
            .all(|(q, _)| q.topic == "topicB" && q.broker_name == "RaftNode00"));
    }
}
