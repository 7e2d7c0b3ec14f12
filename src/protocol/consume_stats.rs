//! `GET_CONSUME_STATS` (208) and `GET_BROKER_CONSUME_STATS` (317): consumer offsets per queue.
//!
//! `offsetTable` is a `Map<MessageQueue, OffsetWrapper>`, which fastjson writes with raw object
//! keys. The usual Java form is read in one pass by a strict fast path (no copy of the body, no
//! serde); anything else (rocketmq-rust's JSON-string keys, escapes in odd places, `$ref`) goes
//! through the lenient pre-pass, after which [`mq_table`] reads each key as a [`MessageQueue`]
//! (any field order).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::lenient_json::{de as lde, from_slice};
use super::DecodeError;

/// One queue of one topic on one broker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MessageQueue {
    #[serde(deserialize_with = "lde::string")]
    pub topic: String,
    #[serde(deserialize_with = "lde::string")]
    pub broker_name: String,
    #[serde(deserialize_with = "lde::i32")]
    pub queue_id: i32,
}

impl MessageQueue {
    /// Parses a map key holding a `MessageQueue` object's JSON text. Tries plain JSON first
    /// (the normal case), then the lenient path for a key that is itself fastjson.
    pub fn from_key(key: &str) -> Result<Self, DecodeError> {
        // serde would also take a `[topic, broker, id]` array for a struct; a key is only ever an object.
        if !key.trim_start().starts_with('{') {
            return Err(DecodeError::Json {
                what: "MessageQueue key",
                reason: "not a JSON object".into(),
                excerpt: super::error::excerpt_at(key.as_bytes(), 0),
            });
        }
        match serde_json::from_str::<MessageQueue>(key) {
            Ok(mq) => Ok(mq),
            Err(_) => from_slice("MessageQueue key", key.as_bytes()),
        }
    }
}

/// Offsets of one queue for one consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OffsetWrapper {
    /// Queue max offset (next logical offset to be written).
    #[serde(deserialize_with = "lde::i64")]
    pub broker_offset: i64,
    /// Committed consumer offset.
    #[serde(deserialize_with = "lde::i64")]
    pub consumer_offset: i64,
    /// 5.1.0+ only: offset handed out to the consumer but not yet committed.
    #[serde(deserialize_with = "lde::opt_i64")]
    pub pull_offset: Option<i64>,
    /// Store time of the last consumed message; 0 if none.
    #[serde(deserialize_with = "lde::i64")]
    pub last_timestamp: i64,
}

impl OffsetWrapper {
    /// `brokerOffset − consumerOffset`, as mqadmin's `#Diff` (unclamped).
    pub fn diff(&self) -> i64 {
        self.broker_offset.saturating_sub(self.consumer_offset)
    }
}

/// One group's consumption on one broker (208), or one topic's share in a 317 group entry.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsumeStats {
    #[serde(deserialize_with = "lde::opt_f64")]
    pub consume_tps: Option<f64>,
    /// In wire order (Java HashMap order: arbitrary). Sort if you need stable output.
    #[serde(deserialize_with = "mq_table")]
    pub offset_table: Vec<(MessageQueue, OffsetWrapper)>,
}

impl ConsumeStats {
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        match fast::consume_stats_body(body) {
            Some(v) => Ok(v),
            None => Self::decode_lenient(body),
        }
    }

    /// The lenient path alone; see [`ConsumeStatsList::decode_lenient`].
    #[doc(hidden)]
    pub fn decode_lenient(body: &[u8]) -> Result<Self, DecodeError> {
        from_slice("ConsumeStats", body)
    }

    /// Java `computeTotalDiff()`: Σ(brokerOffset − consumerOffset).
    pub fn total_diff(&self) -> i64 {
        self.offset_table
            .iter()
            .fold(0i64, |acc, (_, o)| acc.saturating_add(o.diff()))
    }
}

/// Every group's [`ConsumeStats`] on one broker (317).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeStatsList {
    pub broker_addr: Option<String>,
    /// `(group, stats)` in wire order; Java sends one single-entry map per group.
    pub groups: Vec<(String, Vec<ConsumeStats>)>,
    pub total_diff: Option<i64>,
    /// 5.1.0+; unreliable on the server side (PROTOCOL.md §2.2).
    pub total_inflight_diff: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ConsumeStatsListWire {
    #[serde(deserialize_with = "lde::opt_string")]
    broker_addr: Option<String>,
    #[serde(deserialize_with = "lde::vec_skip_null")]
    consume_stats_list: Vec<GroupMap>,
    #[serde(deserialize_with = "lde::opt_i64")]
    total_diff: Option<i64>,
    #[serde(deserialize_with = "lde::opt_i64")]
    total_inflight_diff: Option<i64>,
}

/// `Map<String group, List<ConsumeStats>>`, kept as ordered pairs.
struct GroupMap(Vec<(String, Vec<ConsumeStats>)>);

impl<'de> Deserialize<'de> for GroupMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Stats(#[serde(deserialize_with = "lde::vec_skip_null")] Vec<ConsumeStats>);
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GroupMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map from consumer group to a list of ConsumeStats")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GroupMap, A::Error> {
                let mut out = Vec::with_capacity(1);
                while let Some(group) = map.next_key::<String>()? {
                    let Stats(stats) = map.next_value()?;
                    out.push((group, stats));
                }
                Ok(GroupMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl ConsumeStatsList {
    /// Strict fast path for the usual Java form, else the lenient path (same value or error).
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut out = ConsumeStatsList::default();
        match fast::consume_stats_list(body, &mut out) {
            Some(()) => Ok(out),
            None => Self::decode_lenient(body),
        }
    }

    /// The lenient path alone (pre-pass + serde): every form PROTOCOL.md lists. Public for the
    /// benchmark baseline and the fast path's differential tests.
    #[doc(hidden)]
    pub fn decode_lenient(body: &[u8]) -> Result<Self, DecodeError> {
        let w: ConsumeStatsListWire = from_slice("ConsumeStatsList", body)?;
        Ok(ConsumeStatsList {
            broker_addr: w.broker_addr,
            groups: w.consume_stats_list.into_iter().flat_map(|g| g.0).collect(),
            total_diff: w.total_diff,
            total_inflight_diff: w.total_inflight_diff,
        })
    }
}

/// One queue row of a 317 body: what a collector needs per (group, queue), with names borrowed
/// from the body where they have no escapes, so decoding allocates nothing per row.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumeRow<'a> {
    pub group: Cow<'a, str>,
    pub topic: Cow<'a, str>,
    pub broker_name: Cow<'a, str>,
    pub queue_id: i32,
    pub offsets: OffsetWrapper,
}

/// A 317 body flattened to its queue rows, in wire order. Unlike [`ConsumeStatsList`] it drops
/// `consumeTps` and groups without rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeRows<'a> {
    pub broker_addr: Option<Cow<'a, str>>,
    pub rows: Vec<ConsumeRow<'a>>,
    pub total_diff: Option<i64>,
    pub total_inflight_diff: Option<i64>,
}

impl<'a> ConsumeRows<'a> {
    /// Same leniency as [`ConsumeStatsList::decode`] (whose lenient path is the fallback).
    pub fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut sink = fast::RowSink::default();
        match fast::consume_stats_list(body, &mut sink) {
            Some(()) => Ok(sink.rows),
            None => ConsumeStatsList::decode_lenient(body).map(ConsumeRows::from),
        }
    }
}

/// Takes a 317 body's queue rows as they are read, in wire order, so that a collector keeping
/// rows of its own type builds no intermediate list of [`ConsumeRow`]s.
pub trait RowVisitor {
    /// The rows that follow, up to the next call, belong to this group.
    fn group(&mut self, name: &str);
    /// One queue row of the current group.
    fn row(&mut self, topic: &str, queue_id: i32, offsets: &OffsetWrapper);
    /// The strict fast path gave up part-way: forget everything; all rows come again.
    fn restart(&mut self);
}

impl ConsumeRows<'_> {
    /// The rows [`ConsumeRows::decode`] would list, handed to `v` in the same order, with the
    /// same leniency and errors (an error may come after some rows were handed over).
    pub fn visit(body: &[u8], v: &mut impl RowVisitor) -> Result<(), DecodeError> {
        if fast::consume_stats_list(body, &mut fast::VisitSink(&mut *v)).is_some() {
            return Ok(());
        }
        v.restart();
        let list = ConsumeStatsList::decode_lenient(body)?;
        for (group, stats) in &list.groups {
            v.group(group);
            for (mq, offsets) in stats.iter().flat_map(|s| &s.offset_table) {
                v.row(&mq.topic, mq.queue_id, offsets);
            }
        }
        Ok(())
    }
}

impl From<ConsumeStatsList> for ConsumeRows<'static> {
    fn from(l: ConsumeStatsList) -> Self {
        let mut rows = Vec::new();
        for (group, stats) in l.groups {
            for (mq, offsets) in stats.into_iter().flat_map(|s| s.offset_table) {
                rows.push(ConsumeRow {
                    group: Cow::Owned(group.clone()),
                    topic: Cow::Owned(mq.topic),
                    broker_name: Cow::Owned(mq.broker_name),
                    queue_id: mq.queue_id,
                    offsets,
                });
            }
        }
        ConsumeRows {
            broker_addr: l.broker_addr.map(Cow::Owned),
            rows,
            total_diff: l.total_diff,
            total_inflight_diff: l.total_inflight_diff,
        }
    }
}

/// A `MessageQueue` map key, parsed straight from the (possibly escaped) key string without an
/// intermediate `String` when serde can lend it.
struct MqKey(MessageQueue);

impl<'de> Deserialize<'de> for MqKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MqKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a MessageQueue object as a map key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MqKey, E> {
                MessageQueue::from_key(v)
                    .map(MqKey)
                    .map_err(|e| E::custom(format!("bad MessageQueue key {v:?}: {e}")))
            }
            /// The key object itself, as `normalize` leaves it in a `[key, value]` pair.
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MqKey, A::Error> {
                MessageQueue::deserialize(de::value::MapAccessDeserializer::new(map)).map(MqKey)
            }
        }
        d.deserialize_any(V)
    }
}

/// `Map<MessageQueue, V>` as ordered pairs. A key that is not a MessageQueue is an error rather
/// than a skipped row: silently losing a queue would understate lag and could pass a drain check.
/// Entries whose value is `null` are dropped (fastjson never writes them).
pub(crate) fn mq_table<'de, D, V>(d: D) -> Result<Vec<(MessageQueue, V)>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Table<V>(PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for Table<V> {
        type Value = Vec<(MessageQueue, V)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map keyed by MessageQueue")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
            while let Some(MqKey(mq)) = map.next_key()? {
                if let Some(v) = map.next_value_seed(OptSeed::<V>(PhantomData))? {
                    out.push((mq, v));
                }
            }
            Ok(out)
        }
        /// fastjson's object-keyed map after `normalize`: `[[{mq}, value], …]`.
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some((MqKey(mq), v)) = seq.next_element::<(MqKey, Option<V>)>()? {
                if let Some(v) = v {
                    out.push((mq, v));
                }
            }
            Ok(out)
        }
    }
    d.deserialize_any(Table(PhantomData))
}

struct OptSeed<V>(PhantomData<V>);
impl<'de, V: Deserialize<'de>> DeserializeSeed<'de> for OptSeed<V> {
    type Value = Option<V>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<V>, D::Error> {
        Option::<V>::deserialize(d)
    }
}

pub(super) mod fast;

#[cfg(test)]
mod tests {
    use super::*;

    fn mq(topic: &str, broker: &str, q: i32) -> MessageQueue {
        MessageQueue {
            topic: topic.into(),
            broker_name: broker.into(),
            queue_id: q,
        }
    }

    #[test]
    fn rocketmq_rust_fixture_other_key_order() {
        // PROTOCOL.md §5.2, mxsm/rocketmq-rust consume_stats.rs fixture verbatim.
        let body = br#"{"offsetTable":{{"topic":"TopicTest","brokerName":"broker-a","queueId":1}:{"brokerOffset":120,"consumerOffset":20,"pullOffset":80,"lastTimestamp":1700000000000}},"consumeTps":1.5}"#;
        let cs = ConsumeStats::decode(body).unwrap();
        assert_eq!(cs.consume_tps, Some(1.5));
        assert_eq!(cs.offset_table.len(), 1);
        let (q, o) = &cs.offset_table[0];
        assert_eq!(q, &mq("TopicTest", "broker-a", 1));
        assert_eq!(
            o,
            &OffsetWrapper {
                broker_offset: 120,
                consumer_offset: 20,
                pull_offset: Some(80),
                last_timestamp: 1_700_000_000_000
            }
        );
        assert_eq!(cs.total_diff(), 100);
    }

    #[test]
    fn java_498_shape_without_pull_offset() {
        let body = br#"{"consumeTps":0,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:{"brokerOffset":9223372036854775807,"consumerOffset":9223372036854775806,"lastTimestamp":0},{"brokerName":"broker-a","queueId":1,"topic":"T"}:{"brokerOffset":10,"consumerOffset":10,"lastTimestamp":1690000000000}}}"#;
        let cs = ConsumeStats::decode(body).unwrap();
        assert_eq!(cs.consume_tps, Some(0.0));
        assert_eq!(cs.offset_table.len(), 2);
        assert_eq!(cs.offset_table[0].1.broker_offset, i64::MAX);
        assert_eq!(cs.offset_table[0].1.pull_offset, None);
        assert_eq!(cs.offset_table[0].1.diff(), 1);
        assert_eq!(cs.offset_table[1].0, mq("T", "broker-a", 1));
    }

    #[test]
    fn nan_tps_is_null_and_exponent_ok() {
        let cs = ConsumeStats::decode(br#"{"consumeTps":null,"offsetTable":{}}"#).unwrap();
        assert_eq!(cs.consume_tps, None);
        assert!(cs.offset_table.is_empty());
        let cs = ConsumeStats::decode(br#"{"consumeTps":1.0E-4}"#).unwrap();
        assert_eq!(cs.consume_tps, Some(1.0e-4));
    }

    #[test]
    fn topic_names_with_json_metacharacters() {
        // fastjson escapes `"` and `\` inside the key object's strings; `{`,`}`,`:` are raw.
        let body = br#"{"offsetTable":{{"brokerName":"b:1","queueId":2,"topic":"t{\"x\":\\}"}:{"brokerOffset":3,"consumerOffset":1,"lastTimestamp":0}}}"#;
        let cs = ConsumeStats::decode(body).unwrap();
        assert_eq!(cs.offset_table[0].0, mq("t{\"x\":\\}", "b:1", 2));
        assert_eq!(cs.offset_table[0].1.diff(), 2);
    }

    #[test]
    fn consume_stats_list_533_shape() {
        let body = br#"{"brokerAddr":"10.0.0.1:10911","consumeStatsList":[{"g1":[{"consumeTps":2.5,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T1"}:{"brokerOffset":100,"consumerOffset":90,"lastTimestamp":1700000000000,"pullOffset":95}}},{"consumeTps":0,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T2"}:{"brokerOffset":5,"consumerOffset":5,"lastTimestamp":0,"pullOffset":5}}}]},{"g2":[]}],"totalDiff":10,"totalInflightDiff":-3}"#;
        let l = ConsumeStatsList::decode(body).unwrap();
        assert_eq!(l.broker_addr.as_deref(), Some("10.0.0.1:10911"));
        assert_eq!(l.total_diff, Some(10));
        assert_eq!(l.total_inflight_diff, Some(-3));
        assert_eq!(l.groups.len(), 2);
        assert_eq!(l.groups[0].0, "g1");
        assert_eq!(l.groups[0].1.len(), 2);
        assert_eq!(l.groups[0].1[0].offset_table[0].1.pull_offset, Some(95));
        assert_eq!(l.groups[0].1[1].offset_table[0].0.topic, "T2");
        assert_eq!(l.groups[1], ("g2".to_string(), vec![]));
        let sum: i64 = l
            .groups
            .iter()
            .flat_map(|(_, s)| s)
            .map(ConsumeStats::total_diff)
            .sum();
        assert_eq!(Some(sum), l.total_diff);
    }

    #[test]
    fn consume_stats_list_498_and_rocketmq_rust_forms() {
        let java = br#"{"brokerAddr":"1.1.1.1:10911","consumeStatsList":[{"g":[{"consumeTps":0.0,"offsetTable":{{"brokerName":"a","queueId":3,"topic":"t"}:{"brokerOffset":7,"consumerOffset":2,"lastTimestamp":1}}}]}],"totalDiff":5}"#;
        let l = ConsumeStatsList::decode(java).unwrap();
        assert_eq!(l.total_inflight_diff, None);
        assert_eq!(l.groups[0].1[0].offset_table[0].1.pull_offset, None);
        // rocketmq-rust: JSON-string keys in its own field order, explicit nulls.
        let rust = br#"{"consumeStatsList":[{"g":[{"offsetTable":{"{\"topic\":\"t\",\"brokerName\":\"a\",\"queueId\":3}":{"brokerOffset":7,"consumerOffset":2,"pullOffset":null,"lastTimestamp":1},"{\"topic\":\"t\",\"brokerName\":\"a\",\"queueId\":4}":null},"consumeTps":null}],"h":null},null],"brokerAddr":null,"totalDiff":5,"totalInflightDiff":null}"#;
        let r = ConsumeStatsList::decode(rust).unwrap();
        assert_eq!(r.broker_addr, None);
        assert_eq!(r.groups.len(), 2);
        assert_eq!(r.groups[0].1[0].offset_table, l.groups[0].1[0].offset_table);
        assert_eq!(r.groups[1], ("h".to_string(), vec![]));
    }

    #[test]
    fn bad_keys_and_refs_are_errors_not_silent_loss() {
        assert!(
            ConsumeStats::decode(br#"{"offsetTable":{"not-a-queue":{"brokerOffset":1}}}"#).is_err()
        );
        assert!(ConsumeStats::decode(br#"{"offsetTable":{[1,2]:{"brokerOffset":1}}}"#).is_err());
        let r = ConsumeStats::decode(br#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{"$ref":"$.offsetTable[0]"}}}"#);
        assert!(matches!(r, Err(DecodeError::CircularRef { .. })), "{r:?}");
    }

    #[test]
    fn key_object_itself_in_fastjson_form() {
        assert_eq!(
            MessageQueue::from_key(r#"{"topic":"t","queueId":"7","brokerName":"b","x":{0:1}}"#)
                .unwrap(),
            mq("t", "b", 7)
        );
    }
}
