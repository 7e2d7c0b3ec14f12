//! The fastjson pre-pass and every body decoder on arbitrary bytes: errors are fine, panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rocketmq_exporter::protocol::*;

/// What a `RowVisitor` ends up with: (group, topic, queue id, offsets) per row.
#[derive(Default)]
struct Seen {
    group: Option<String>,
    rows: Vec<(String, String, i32, OffsetWrapper)>,
}

impl RowVisitor for Seen {
    fn group(&mut self, name: &str) {
        self.group = Some(name.to_string());
    }
    fn row(&mut self, topic: &str, queue_id: i32, offsets: &OffsetWrapper) {
        self.rows.push((self.group.clone().expect("a group before its rows"), topic.to_string(), queue_id, offsets.clone()));
    }
    fn restart(&mut self) {
        self.group = None;
        self.rows.clear();
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = lenient_json::normalize(data) {
        // Standard JSON is the identity, and the output of a rewrite needs no further rewriting.
        if let Ok(again) = lenient_json::normalize(&out) {
            assert_eq!(&*again, &*out, "normalize is not idempotent");
        }
        if serde_json::from_slice::<serde_json::Value>(data).is_ok() {
            assert_eq!(&*out, data, "standard JSON was rewritten");
        }
    }
    let _ = ClusterInfo::decode(data);
    let _ = TopicRouteData::decode(data);
    // The strict fast paths must agree with the lenient path whenever they accept a body, and
    // refuse whatever it refuses.
    match (RuntimeInfo::decode(data), RuntimeInfo::decode_lenient(data)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "28 fast path disagrees"),
        (a, b) => assert_eq!(a.is_ok(), b.is_ok(), "28 fast path accepts differently"),
    }
    let no_raw = |mut r: RuntimeInfo| {
        r.raw.clear();
        r
    };
    match (RuntimeInfo::decode_figures(data), RuntimeInfo::decode_lenient(data).map(no_raw)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "28 figures path disagrees"),
        (a, b) => assert_eq!(a.is_ok(), b.is_ok(), "28 figures path accepts differently"),
    }
    let _ = BrokerConfig::decode(data);
    match (ConsumeStats::decode(data), ConsumeStats::decode_lenient(data)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "208 fast path disagrees"),
        (a, b) => assert_eq!(a.is_ok(), b.is_ok(), "208 fast path accepts differently"),
    }
    let lenient = ConsumeStatsList::decode_lenient(data);
    match (ConsumeStatsList::decode(data), &lenient) {
        (Ok(a), Ok(b)) => assert_eq!(&a, b, "317 fast path disagrees"),
        (a, b) => assert_eq!(a.is_ok(), b.is_ok(), "317 fast path accepts differently"),
    }
    match (ConsumeRows::decode(data), lenient.map(ConsumeRows::from)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "317 row path disagrees"),
        (a, b) => assert_eq!(a.is_ok(), b.is_ok(), "317 row path accepts differently"),
    }
    // Rows handed over while parsing (restarts applied) are the decoded rows, and the
    // collector's snapshot rows come out of either form the same.
    let mut seen = Seen::default();
    let visited = ConsumeRows::visit(data, &mut seen);
    match (&visited, ConsumeRows::decode(data)) {
        (Ok(()), Ok(rows)) => {
            let want: Vec<_> = rows.rows.iter().map(|r| (r.group.to_string(), r.topic.to_string(), r.queue_id, r.offsets.clone())).collect();
            assert_eq!(seen.rows, want, "317 visit disagrees");
            let mut snap = rocketmq_exporter::collect::fetch::SnapshotRows::new();
            ConsumeRows::visit(data, &mut snap).expect("visited once already");
            assert_eq!(snap.finish(), rocketmq_exporter::collect::fetch::consume_rows(&rows), "317 snapshot rows disagree");
        }
        (a, b) => assert_eq!(a.is_ok(), b.is_ok(), "317 visit accepts differently"),
    }
    let _ = TopicStatsTable::decode(data);
    let _ = TopicConfigWrapper::decode(data);
    let _ = HaRuntimeInfo::decode(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_human_bytes(s);
        let _ = TpsTriple::parse(s);
        let _ = MessageQueue::from_key(s);
    }
});
