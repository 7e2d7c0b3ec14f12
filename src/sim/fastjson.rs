//! A tiny streaming JSON writer that reproduces what fastjson 1.x (the Java servers' serializer)
//! puts on the wire: bare numeric map keys, raw object map keys, NaN/Infinity as `null`, doubles
//! in `Double.toString` form (PROTOCOL.md §5.1).
//!
//! It is deliberately independent of the project's decoder so the two can be cross-checked.
//! Callers write bean fields in alphabetical order themselves (fastjson `SortField`); the writer
//! only takes care of separators and escaping.

use std::fmt::Write as _;

/// Streaming writer; comma placement is tracked per nesting level.
#[derive(Debug, Default)]
pub struct JsonWriter {
    out: String,
    /// One entry per open container: `true` until its first member is written.
    first: Vec<bool>,
    /// Set after a key so the following value gets no separator.
    after_key: bool,
}

impl JsonWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        JsonWriter { out: String::with_capacity(n), first: Vec::new(), after_key: false }
    }

    /// Finished text.
    pub fn finish(self) -> String {
        self.out
    }

    /// Separator before a member (key in an object, value in an array).
    fn member(&mut self) {
        if let Some(first) = self.first.last_mut() {
            if !*first {
                self.out.push(',');
            }
            *first = false;
        }
    }

    fn value_prefix(&mut self) {
        if self.after_key {
            self.after_key = false;
        } else {
            self.member();
        }
    }

    /// A quoted string key.
    pub fn key(&mut self, k: &str) -> &mut Self {
        self.member();
        write_string(&mut self.out, k);
        self.out.push(':');
        self.after_key = true;
        self
    }

    /// A non-string map key the way fastjson writes `Map<Long, …>` keys: bare digits.
    pub fn key_num(&mut self, k: i64) -> &mut Self {
        self.member();
        self.out.push_str(itoa::Buffer::new().format(k));
        self.out.push(':');
        self.after_key = true;
        self
    }

    /// A `MessageQueue` object key written in place (the 317 hot path: no per-row allocation).
    pub fn key_message_queue(&mut self, broker_name: &str, queue_id: i32, topic: &str) -> &mut Self {
        self.member();
        write_message_queue(&mut self.out, broker_name, queue_id, topic);
        self.out.push(':');
        self.after_key = true;
        self
    }

    /// An object map key (e.g. `MessageQueue`) written as raw JSON text, as fastjson does.
    pub fn key_raw(&mut self, raw: &str) -> &mut Self {
        self.member();
        self.out.push_str(raw);
        self.out.push(':');
        self.after_key = true;
        self
    }

    pub fn begin_object(&mut self) -> &mut Self {
        self.value_prefix();
        self.out.push('{');
        self.first.push(true);
        self
    }

    pub fn end_object(&mut self) -> &mut Self {
        self.first.pop();
        self.out.push('}');
        self
    }

    pub fn begin_array(&mut self) -> &mut Self {
        self.value_prefix();
        self.out.push('[');
        self.first.push(true);
        self
    }

    pub fn end_array(&mut self) -> &mut Self {
        self.first.pop();
        self.out.push(']');
        self
    }

    pub fn string(&mut self, v: &str) -> &mut Self {
        self.value_prefix();
        write_string(&mut self.out, v);
        self
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.value_prefix();
        self.out.push_str(itoa::Buffer::new().format(v));
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.value_prefix();
        self.out.push_str(if v { "true" } else { "false" });
        self
    }

    /// A Java `double`: `Double.toString` form, and `null` for NaN/±Infinity (fastjson rule 7).
    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.value_prefix();
        if v.is_finite() {
            self.out.push_str(&java_double(v));
        } else {
            self.out.push_str("null");
        }
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.value_prefix();
        self.out.push_str("null");
        self
    }

    /// Already-serialized JSON as a value.
    pub fn raw(&mut self, raw: &str) -> &mut Self {
        self.value_prefix();
        self.out.push_str(raw);
        self
    }

    /// Shorthand for a string-valued field.
    pub fn field_str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k).string(v)
    }

    pub fn field_i64(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k).i64(v)
    }

    pub fn field_f64(&mut self, k: &str, v: f64) -> &mut Self {
        self.key(k).f64(v)
    }

    pub fn field_bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k).bool(v)
    }
}

/// fastjson string escaping: quotes, backslash and control characters; non-ASCII stays raw UTF-8.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    // Fast path: nothing to escape (all generated names).
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The `MessageQueue` object key: fields sorted (`brokerName`, `queueId`, `topic`).
pub fn message_queue_key(broker_name: &str, queue_id: i32, topic: &str) -> String {
    let mut s = String::with_capacity(48 + broker_name.len() + topic.len());
    write_message_queue(&mut s, broker_name, queue_id, topic);
    s
}

fn write_message_queue(out: &mut String, broker_name: &str, queue_id: i32, topic: &str) {
    out.push_str("{\"brokerName\":");
    write_string(out, broker_name);
    out.push_str(",\"queueId\":");
    out.push_str(itoa::Buffer::new().format(queue_id));
    out.push_str(",\"topic\":");
    write_string(out, topic);
    out.push('}');
}

/// Java `Double.toString`: plain decimal with at least one fractional digit for
/// 1e-3 <= |v| < 1e7, otherwise `d.dddE[-]n`; `NaN`/`Infinity` spelled out. Runtime-info TPS
/// strings use this form verbatim (PROTOCOL.md §3.11), so it must not be Rust's `{}`.
pub fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    let a = v.abs();
    if (1e-3..1e7).contains(&a) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            s + ".0"
        }
    } else {
        // Rust `{:e}` gives the shortest round-trip mantissa, e.g. "1e-4" or "1.5e10".
        let s = format!("{v:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = if mant.contains('.') { mant.to_string() } else { format!("{mant}.0") };
        format!("{mant}E{exp}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_and_nesting() {
        let mut w = JsonWriter::new();
        w.begin_object();
        w.key("a").begin_array();
        w.i64(1).i64(2).begin_object().field_str("x", "y").end_object();
        w.end_array();
        w.key_num(0).string("127.0.0.1:1");
        w.key_num(-1).bool(false);
        w.key_raw(&message_queue_key("b", 3, "t")).begin_object().field_i64("o", 7).end_object();
        w.end_object();
        assert_eq!(
            w.finish(),
            r#"{"a":[1,2,{"x":"y"}],0:"127.0.0.1:1",-1:false,{"brokerName":"b","queueId":3,"topic":"t"}:{"o":7}}"#
        );
    }

    #[test]
    fn nan_and_infinity_become_null() {
        let mut w = JsonWriter::new();
        w.begin_object().field_f64("a", f64::NAN).field_f64("b", f64::INFINITY).field_f64("c", 1.5).end_object();
        assert_eq!(w.finish(), r#"{"a":null,"b":null,"c":1.5}"#);
    }

    #[test]
    fn java_double_forms() {
        assert_eq!(java_double(3.0), "3.0");
        assert_eq!(java_double(3.2), "3.2");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(1e-4), "1.0E-4");
        assert_eq!(java_double(1.5e10), "1.5E10");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(f64::NAN), "NaN");
        assert_eq!(java_double(-2.25), "-2.25");
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        write_string(&mut s, "a\"b\\c\nd\u{1}é");
        write_string(&mut s, "plain");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\"\"plain\"");
    }
}
