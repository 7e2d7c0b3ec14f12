//! Every body decoder, and the frame header parser, on deeply nested input, in a thread with a
//! small stack. A stack overflow aborts the whole process (it cannot be caught like a panic), so
//! one broker's hostile answer must get an error, never recursion proportional to its nesting.

use bytes::{BufMut, Bytes, BytesMut};

use super::*;
use crate::remoting::frame;

/// Well under tokio's 2 MiB worker stacks, so a margin is tested, not the limit.
const STACK: usize = 256 * 1024;

/// Nested forms a body can take: arrays, objects, fastjson's object keys, and each inside the
/// field a decoder reads (so the fast paths reach them, not only the outer parser).
fn hostile_bodies() -> Vec<(String, Vec<u8>)> {
    let n = 50_000;
    let arr = "[".repeat(n) + &"]".repeat(n);
    let obj = "{\"a\":".repeat(n) + "1" + &"}".repeat(n);
    let keys = "{{".repeat(n) + &"}:1}".repeat(n);
    let open_only = "[".repeat(4 * n);
    let mut out = vec![
        ("arrays".to_string(), arr.clone().into_bytes()),
        ("objects".to_string(), obj.clone().into_bytes()),
        ("fastjson keys".to_string(), keys.clone().into_bytes()),
        ("unclosed".to_string(), open_only.clone().into_bytes()),
    ];
    for field in ["table", "consumeStatsList", "offsetTable", "brokerAddrTable", "clusterAddrTable", "queueDatas", "brokerDatas", "topicConfigTable", "haConnectionInfo", "haClientRuntimeInfo"] {
        for (kind, v) in [("arrays", &arr), ("objects", &obj), ("fastjson keys", &keys), ("unclosed", &open_only)] {
            out.push((format!("{kind} in {field}"), format!("{{\"{field}\":{v}}}").into_bytes()));
        }
    }
    // A 317 list whose offset table nests where a row is expected.
    out.push((
        "rows".to_string(),
        format!("{{\"consumeStatsList\":[{{\"g\":[{{\"offsetTable\":{{{arr}:{obj}}}}}]}}]}}").into_bytes(),
    ));
    out
}

fn in_small_stack(name: &str, f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(STACK)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap_or_else(|_| panic!("{name}: panicked"));
}

#[test]
fn every_decoder_refuses_deep_nesting_without_recursing() {
    for (name, body) in hostile_bodies() {
        in_small_stack(&name, move || {
            let b = &body[..];
            // Any result is fine as long as it returns; most are errors.
            let _ = BrokerConfig::decode(b);
            let _ = BrokerConfig::decode_keys(b, &["brokerPermission"]);
            let _ = ClusterInfo::decode(b);
            let _ = ConsumeStatsList::decode(b);
            let _ = ConsumeStatsList::decode_lenient(b);
            let _ = ConsumeStats::decode(b);
            let _ = ConsumeStats::decode_lenient(b);
            let _ = ConsumeRows::decode(b);
            let _ = HaRuntimeInfo::decode(b);
            let _ = TopicRouteData::decode(b);
            let _ = RuntimeInfo::decode(b);
            let _ = RuntimeInfo::decode_figures(b);
            let _ = RuntimeInfo::decode_lenient(b);
            let _ = TopicConfigWrapper::decode(b);
            let _ = TopicStatsTable::decode(b);
            let _ = lenient_json::normalize(b);
        });
    }
}

#[test]
fn frame_headers_refuse_deep_nesting_without_recursing() {
    for (name, body) in hostile_bodies() {
        let label = name.clone();
        in_small_stack(&label, move || {
            // The body as a JSON header: length, header length, header.
            let mut f = BytesMut::new();
            f.put_u32(4 + body.len() as u32);
            f.put_u32(body.len() as u32);
            f.extend_from_slice(&body);
            let whole: Bytes = f.clone().freeze();
            // Only returning matters: a header of unknown fields alone may parse (as
            // fastjson would, to a command of defaults), nested arrays may not.
            let parsed = frame::parse(whole);
            let mut buf = f;
            let decoded = frame::decode(&mut buf, frame::DEFAULT_MAX_FRAME_LENGTH);
            assert_eq!(parsed.is_ok(), matches!(decoded, Ok(Some(_))), "{name}: parse and decode agree");
            if name == "arrays" || name.starts_with("unclosed") {
                assert!(parsed.is_err(), "{name}: not a header");
            }
        });
    }
}
