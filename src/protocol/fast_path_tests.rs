//! Differential tests: the strict fast paths must agree with the lenient path whenever they
//! accept a body, and must actually accept the Java bodies they exist for.

use std::borrow::Cow;

use super::consume_stats::ConsumeRows;
use super::{ConsumeStats, ConsumeStatsList, RuntimeInfo};
use crate::sim::{bodies, ClusterState, SimConfig};

/// Bodies of one kind.
type Bodies = Vec<Vec<u8>>;

/// Java-form bodies (28, 317, 208) of every node of two small simulated clusters, plus the real
/// peer's.
fn java_bodies() -> (Bodies, Bodies, Bodies) {
    let (mut rt, mut csl, mut cs) = (Vec::new(), Vec::new(), Vec::new());
    for cfg in [SimConfig::scale(2, 50), SimConfig::default()] {
        let st = ClusterState::new(cfg);
        for b in &st.brokers {
            for n in &b.nodes {
                rt.push(bodies::runtime_info(&st, b, n).into_bytes());
                csl.push(bodies::consume_stats_list(b, n, false).into_bytes());
                csl.push(bodies::consume_stats_list(b, n, true).into_bytes());
            }
            for g in &b.groups {
                cs.push(bodies::consume_stats(b, &g.name, None).into_bytes());
            }
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/peer");
    for (file, list) in [
        ("28_broker_runtime_info.json", &mut rt),
        ("317_broker_consume_stats.json", &mut csl),
        ("208_consume_stats.json", &mut cs),
    ] {
        if let Ok(b) = std::fs::read(dir.join(file)) {
            list.push(b);
        }
    }
    (rt, csl, cs)
}

/// Decodes with both paths; if the fast one (`decode`) succeeds the lenient one must give the
/// same value, and when the lenient one fails the fast one must fail too.
fn agree(body: &[u8]) {
    match (ConsumeStatsList::decode(body), ConsumeStatsList::decode_lenient(body)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", String::from_utf8_lossy(body)),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("317 paths disagree on {:?}: {a:?} vs {b:?}", String::from_utf8_lossy(body)),
    }
    match (ConsumeStats::decode(body), ConsumeStats::decode_lenient(body)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", String::from_utf8_lossy(body)),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("208 paths disagree on {:?}: {a:?} vs {b:?}", String::from_utf8_lossy(body)),
    }
    let lenient_rows = ConsumeStatsList::decode_lenient(body).map(ConsumeRows::from);
    match (ConsumeRows::decode(body), lenient_rows) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", String::from_utf8_lossy(body)),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("row paths disagree on {:?}: {a:?} vs {b:?}", String::from_utf8_lossy(body)),
    }
    // Rows handed over while parsing, restarts applied, are the decoded rows, in order.
    let mut seen = Recorder::default();
    match (ConsumeRows::visit(body, &mut seen), ConsumeRows::decode(body)) {
        (Ok(()), Ok(rows)) => assert_eq!(seen.rows, owned(&rows), "{}", String::from_utf8_lossy(body)),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("visit and decode disagree on {:?}: {a:?} vs {b:?}", String::from_utf8_lossy(body)),
    }
    match (RuntimeInfo::decode(body), RuntimeInfo::decode_lenient(body)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", String::from_utf8_lossy(body)),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("28 paths disagree on {:?}: {a:?} vs {b:?}", String::from_utf8_lossy(body)),
    }
    let no_raw = |mut r: RuntimeInfo| {
        r.raw.clear();
        r
    };
    match (RuntimeInfo::decode_figures(body), RuntimeInfo::decode_lenient(body).map(no_raw)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", String::from_utf8_lossy(body)),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("28 figures disagree on {:?}: {a:?} vs {b:?}", String::from_utf8_lossy(body)),
    }
}

/// (group, topic, queue id, offsets) of each row.
type Row = (String, String, i32, super::OffsetWrapper);

fn owned(rows: &ConsumeRows<'_>) -> Vec<Row> {
    rows.rows.iter().map(|r| (r.group.to_string(), r.topic.to_string(), r.queue_id, r.offsets.clone())).collect()
}

/// What a `RowVisitor` is handed, as the rows it ends up with.
#[derive(Default)]
struct Recorder {
    group: Option<String>,
    rows: Vec<Row>,
    restarts: usize,
}

impl super::RowVisitor for Recorder {
    fn group(&mut self, name: &str) {
        self.group = Some(name.to_string());
    }
    fn row(&mut self, topic: &str, queue_id: i32, offsets: &super::OffsetWrapper) {
        let group = self.group.clone().expect("a group before its rows");
        self.rows.push((group, topic.to_string(), queue_id, offsets.clone()));
    }
    fn restart(&mut self) {
        self.restarts += 1;
        self.group = None;
        self.rows.clear();
    }
}

#[test]
fn java_bodies_take_the_fast_path_and_match() {
    let (rt, csl, cs) = java_bodies();
    assert!(rt.len() >= 4 && csl.len() >= 8 && cs.len() >= 4);
    for b in &rt {
        assert!(super::runtime_info::fast_table(b).is_some(), "{}", String::from_utf8_lossy(b));
        let fast = RuntimeInfo::decode(b).unwrap();
        assert_eq!(fast, RuntimeInfo::decode_lenient(b).unwrap());
        assert!(!fast.raw.is_empty());
        assert!(super::runtime_info::fast_figures(b).is_some(), "{}", String::from_utf8_lossy(b));
        assert!(super::runtime_info::plain_figures(b).is_some(), "Java's form takes the plain scan: {}", String::from_utf8_lossy(b));
        let figures = RuntimeInfo::decode_figures(b).unwrap();
        assert!(figures.raw.is_empty());
        assert_eq!(figures, RuntimeInfo { raw: Default::default(), ..fast });
    }
    let mut rows = 0;
    for b in &csl {
        let mut fast = ConsumeStatsList::default();
        super::consume_stats::fast::consume_stats_list(b, &mut fast)
            .unwrap_or_else(|| panic!("fast path refused {}", String::from_utf8_lossy(b)));
        let by_row = ConsumeRows::decode(b).unwrap();
        assert!(by_row.rows.iter().all(|r| matches!(r.topic, Cow::Borrowed(_))), "names are borrowed");
        assert_eq!(by_row, ConsumeRows::from(fast.clone()));
        let mut seen = Recorder::default();
        ConsumeRows::visit(b, &mut seen).unwrap();
        assert_eq!((seen.restarts, &seen.rows), (0, &owned(&by_row)), "one pass, the same rows");
        assert_eq!(fast, ConsumeStatsList::decode_lenient(b).unwrap());
        rows += fast.groups.iter().flat_map(|(_, s)| s).map(|s| s.offset_table.len()).sum::<usize>();
    }
    assert!(rows > 100, "{rows}");
    for b in &cs {
        let fast = super::consume_stats::fast::consume_stats_body(b).unwrap();
        assert_eq!(fast, ConsumeStats::decode_lenient(b).unwrap());
    }
}

#[test]
fn edge_forms_agree() {
    for s in [
        // Escapes in names, unicode, empty tables, nulls, duplicate keys, numbers as text.
        r#"{"offsetTable":{{"brokerName":"b\"x","queueId":0,"topic":"t\\u00e9"}:{"brokerOffset":1}}}"#,
        r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t\u00e9\ud83d\ude00"}:{"brokerOffset":1}}}"#,
        "{\"offsetTable\":{{\"brokerName\":\"br\u{f6}ker\",\"queueId\":0,\"topic\":\"\u{4e3b}\u{9898}\"}:{\"brokerOffset\":1}}}",
        r#"{"offsetTable":{},"consumeTps":null}"#,
        r#"{"offsetTable":null,"consumeTps":"NaN"}"#,
        r#"{"offsetTable":{{"brokerName":null,"queueId":null,"topic":null}:null}}"#,
        r#"{"offsetTable":{{"brokerName":"b","queueId":"7","topic":"t"}:{"brokerOffset":"12","consumerOffset":" 3 ","pullOffset":"null","lastTimestamp":1.5E3}}}"#,
        r#"{"offsetTable":{{"brokerName":"b","queueId":99999999999,"topic":"t"}:{"brokerOffset":99999999999999999999,"consumerOffset":-99999999999999999999,"lastTimestamp":true}}}"#,
        r#"{"offsetTable":{{"brokerName":"b","brokerName":"c","queueId":0,"topic":"t"}:{}}}"#,
        r#"{"consumeTps":1,"consumeTps":2}"#,
        r#"{"consumeTps":true}"#,
        // Floats with more digits than an f64 holds: both paths must round the same way.
        r#"{"consumeTps":0.12345678901234567891}"#,
        r#"{"consumeTps":9007199254740993.5}"#,
        r#"{"consumeTps":1.7976931348623157e308}"#,
        r#"{"consumeTps":2.2250738585072011e-308}"#,
        r#"{"consumeTps":123456789012345678901234567890}"#,
        r#"{"consumeTps":1e400}"#,
        r#"{"consumeTps":-0}"#,
        r#"{"offsetTable":{{"brokerName":"b","queueId":-0,"topic":-0}:{"brokerOffset":-0.0,"consumerOffset":1e3,"lastTimestamp":-9223372036854775809}}}"#,
        r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{"brokerOffset":1},{"brokerName":"b","queueId":0,"topic":"t"}:{"brokerOffset":2}}}"#,
        r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t","extra":{"x":[1,{"y":null}]}}:{"brokerOffset":1,"future":[]}}}"#,
        r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{"$ref":"$.x"}}}"#,
        // fastjson's exact entry layout beside entries the general reader must take: reordered
        // fields, whitespace, a missing field, a null value, big and negative numbers, escapes.
        r#"{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"t"}:{"brokerOffset":5,"consumerOffset":4,"lastTimestamp":9,"pullOffset":4},{"topic":"t","brokerName":"b","queueId":2}:{"consumerOffset":1,"brokerOffset":3,"lastTimestamp":0}, {"brokerName":"b","queueId":3,"topic":"t"} : {"brokerOffset":7,"consumerOffset":7,"lastTimestamp":1},{"brokerName":"b","queueId":4,"topic":"t"}:{"brokerOffset":8,"lastTimestamp":1},{"brokerName":"b","queueId":5,"topic":"t"}:null,{"brokerName":"b","queueId":6,"topic":"t"}:{"brokerOffset":999999999999999999,"consumerOffset":-5,"lastTimestamp":1234567890123456789},{"brokerName":"b","queueId":7,"topic":"t"q"}:{"brokerOffset":1,"consumerOffset":0,"lastTimestamp":0},{"brokerName":"b","queueId":8,"topic":"t"}:{"brokerOffset":1.0,"consumerOffset":0,"lastTimestamp":0},{"brokerName":"b","queueId":-0,"topic":"t"}:{"brokerOffset":1,"consumerOffset":00,"lastTimestamp":0}}}"#,
        r#"{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"t"}:{"brokerOffset":5,"consumerOffset":4,"lastTimestamp":9,"pullOffset":4,"pullOffset":5}}}"#,
        r#"{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"t"}:{"brokerOffset":5,"consumerOffset":4,"lastTimestamp":9}, }}"#,
        r#"{"offsetTable":{ }}"#,
        r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{"brokerOffset":1}},"x":{0:1}}"#,
        r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{"brokerOffset":1}}"#,
        r#"{"offsetTable":[[{"brokerName":"b","queueId":0,"topic":"t"},{"brokerOffset":1}]]}"#,
        r#"{"offsetTable":{"{\"topic\":\"t\",\"brokerName\":\"a\",\"queueId\":3}":{"brokerOffset":7}}}"#,
        r#"{"brokerAddr":"a","consumeStatsList":[{"g":null,"h":[null,{"consumeTps":0.5}]},null],"totalDiff":"5","totalInflightDiff":null}"#,
        r#"{"brokerAddr":12,"consumeStatsList":null,"totalDiff":1.0E2}"#,
        r#"{"brokerAddr":1.5}"#,
        r#"{"brokerAddr":"a","brokerAddr":"b"}"#,
        r#"{"consumeStatsList":[{"g":[{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{"brokerOffset":1}}}]}]} x"#,
        r#"{"table":{"a":"1","b":null,"c":true,"d":12,"e":-3,"f":1.5,"a":"2"}}"#,
        r#"{"table":{"a":"1","a":null}}"#,
        r#"{"table":{},"other":[1,2,{"k":"v"}]}"#,
        r#"{"table":null}"#,
        r#"{"table":{"k\"":"v"}}"#,
        r#"{"table":{"k":"v\n"}}"#,
        "{\"table\":{\"k\":\"caf\u{e9}\"}}",
        r#"{"table":{"k":"v"},"table":{}}"#,
        r#"{"table":{0:"v"}}"#,
        r#"{"table":[]}"#,
        r#"{"table":{"k":{"x":1}}}"#,
        r#"{"table":{"k":"v"}"#,
        // The plain scan's edges: duplicates (figures and delay levels), a control character,
        // trailing bytes, a missing or extra comma, non-ASCII text, an empty key.
        r#"{"table":{"scheduleMessageOffset_2":"1,5","putTps":"1.0 2.0 3.0","scheduleMessageOffset_2":"3,5","putTps":"4.0 5.0 6.0","commitLogMaxOffset":"7","commitLogMaxOffset":"8"}}"#,
        "{\"table\":{\"commitLogMaxOffset\":\"12\t\"}}",
        "{\"table\":{\"brokerVersionDesc\":\"V5_\u{e9}\u{4e3b}\",\"\u{e9}\":\"x\"}}",
        r#"{"table":{"commitLogMaxOffset":"5"}} "#,
        r#"{"table":{"commitLogMaxOffset":"5"}}}"#,
        r#"{"table":{"commitLogMaxOffset":"5",}}"#,
        r#"{"table":{"commitLogMaxOffset":"5""putTps":"1 2 3"}}"#,
        r#"{"table":{"":"5","commitLogMaxOffset":""}}"#,
        r#"{"table":{"commitLogMaxOffset":"5\u0036"}}"#,
        r#"{"table":{"commitLogMaxOffset" :"5"}}"#,
        r#"{"table":{"commitLogMaxOffset":null}}"#,
        r#"{"table":{}}"#,
        // Escapes in a value nobody reads (rocketmq-rust nests JSON there): the ones every
        // reader takes, then an unknown escape, lone and paired surrogates, cut-off forms.
        r#"{"table":{"x":"a\"b\\c\/d\b\f\n\r\t\u00e9\u12aB","commitLogMaxOffset":"5"}}"#,
        r#"{"table":{"x":"\x","commitLogMaxOffset":"5"}}"#,
        r#"{"table":{"x":"\ud800","commitLogMaxOffset":"5"}}"#,
        r#"{"table":{"x":"\ud83d\ude00","commitLogMaxOffset":"5"}}"#,
        r#"{"table":{"x":"\udc00x","commitLogMaxOffset":"5"}}"#,
        r#"{"table":{"x":"\u12","commitLogMaxOffset":"5"}}"#,
        r#"{"table":{"x":"\u12G4","commitLogMaxOffset":"5"}}"#,
        r#"{"table":{"x":"\"#,
        r#"{"table":{"x":"abc\"}}"#,
        r#"{"table":{"x":"{\"a\":1}"}}"#,
        "{}",
        "null",
        "[]",
        "",
        "  ",
    ] {
        agree(s.as_bytes());
    }
}

#[test]
fn mutated_bodies_agree() {
    // Byte-level mutations of real bodies: whatever the fast path accepts, the lenient path
    // must decode to the same value; nothing panics.
    let (rt, csl, cs) = java_bodies();
    let seeds: Vec<&Vec<u8>> = [rt.first(), csl.first(), csl.last(), cs.first()].into_iter().flatten().collect();
    let alphabet = b"{}[]\":,\\ 0-19.eEnul$\x00\xe9";
    let mut rng = super::test_rng::XorShift(0x9E37_79B9_7F4A_7C15);
    for seed in seeds {
        for _ in 0..400 {
            let mut v = seed.clone();
            for _ in 0..1 + rng.next() % 3 {
                let pos = (rng.next() % v.len().max(1) as u64) as usize;
                let c = rng.pick(alphabet);
                match rng.next() % 3 {
                    0 if pos < v.len() => v[pos] = c,
                    1 => v.insert(pos.min(v.len()), c),
                    _ if pos < v.len() => {
                        v.remove(pos);
                    }
                    _ => {}
                }
            }
            agree(&v);
        }
        for cut in (0..seed.len()).step_by(7) {
            agree(&seed[..cut]);
        }
    }
}

/// A body the fast path reads part of before giving up (the second group's queue key is a JSON
/// string, rocketmq-rust's form): the visitor is told to restart, then gets every row from the lenient path.
#[test]
fn visit_restarts_when_the_fast_path_gives_up_part_way() {
    let body = br#"{"consumeStatsList":[{"g1":[{"consumeTps":0.0,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t1"}:{"brokerOffset":5,"consumerOffset":3,"lastTimestamp":7}}}]},{"g2":[{"consumeTps":0.0,"offsetTable":{"{\"brokerName\":\"b\",\"queueId\":1,\"topic\":\"t2\"}":{"brokerOffset":9,"consumerOffset":9,"lastTimestamp":0}}}]}],"totalDiff":2}"#;
    let mut seen = Recorder::default();
    ConsumeRows::visit(body, &mut seen).unwrap();
    assert_eq!(seen.restarts, 1, "the fast path had handed over g1's row");
    let names: Vec<(&str, &str, i32, i64)> = seen.rows.iter().map(|r| (r.0.as_str(), r.1.as_str(), r.2, r.3.broker_offset)).collect();
    assert_eq!(names, vec![("g1", "t1", 0, 5), ("g2", "t2", 1, 9)]);
    assert_eq!(seen.rows, owned(&ConsumeRows::decode(body).unwrap()));
}
