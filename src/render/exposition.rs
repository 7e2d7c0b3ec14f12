//! Low-level writers for the Prometheus text exposition format 0.0.4.
//!
//! Only what the cluster series need: label-value escaping, numbers the way Prometheus parses
//! them, and family headers that vanish when a family ends up with no samples. Everything appends
//! to one `Vec<u8>` so a cycle's exposition is built with a handful of allocations.

/// Appends `s` escaped as a label value (`\\`, `\"`, `\n`).
pub fn write_label_value(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Fast path: almost every topic and group name needs no escaping.
    if !bytes.iter().any(|&b| b == b'\\' || b == b'"' || b == b'\n') {
        out.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// Appends `name="value"`, preceded by a comma unless it is the first label.
pub fn write_label(out: &mut Vec<u8>, first: bool, name: &str, value: &str) {
    if !first {
        out.push(b',');
    }
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    write_label_value(out, value);
    out.push(b'"');
}

/// Appends an integer label (`queue_id`, `broker_id`) without allocating.
pub fn write_label_int(out: &mut Vec<u8>, first: bool, name: &str, value: i64) {
    if !first {
        out.push(b',');
    }
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    out.push(b'"');
}

/// A sample value in the unit the exposition wants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    /// Milliseconds, written as seconds with exact decimals (no float rounding of timestamps).
    MillisAsSeconds(i64),
}

/// Appends a sample value as Prometheus parses it (`NaN`, `+Inf`, `-Inf` for the specials).
pub fn write_value(out: &mut Vec<u8>, v: Value) {
    match v {
        Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
        Value::Float(f) => write_f64(out, f),
        Value::MillisAsSeconds(ms) => write_millis_as_seconds(out, ms),
    }
}

pub fn write_f64(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if f.is_infinite() {
        out.extend_from_slice(if f > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
    }
}

/// `1700000000123` → `1700000000.123`, `1500` → `1.5`, `-5` → `-0.005`.
pub fn write_millis_as_seconds(out: &mut Vec<u8>, ms: i64) {
    let neg = ms < 0;
    let abs = ms.unsigned_abs();
    let (secs, frac) = (abs / 1000, abs % 1000);
    if neg {
        out.push(b'-');
    }
    out.extend_from_slice(itoa::Buffer::new().format(secs).as_bytes());
    if frac != 0 {
        let digits = [b'0' + (frac / 100) as u8, b'0' + (frac / 10 % 10) as u8, b'0' + (frac % 10) as u8];
        let len = if frac % 100 == 0 {
            1
        } else if frac % 10 == 0 {
            2
        } else {
            3
        };
        out.push(b'.');
        out.extend_from_slice(&digits[..len]);
    }
}

/// Appends `name{labels} value\n`; `labels` is an already rendered, escaped label list.
#[inline]
pub fn write_sample(out: &mut Vec<u8>, name: &str, labels: &[u8], v: Value) {
    out.extend_from_slice(name.as_bytes());
    if !labels.is_empty() {
        out.push(b'{');
        out.extend_from_slice(labels);
        out.push(b'}');
    }
    out.push(b' ');
    write_value(out, v);
    out.push(b'\n');
}

/// HELP text escaping (`\\`, `\n`): the format allows any text but these two.
fn write_help(out: &mut Vec<u8>, help: &str) {
    for &b in help.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// Writes `# HELP` / `# TYPE` for a family, lets `body` append its samples, and removes the
/// header again when `body` wrote nothing, so absent data leaves no empty family behind.
pub fn family(out: &mut Vec<u8>, fam: super::Family, body: impl FnOnce(&mut Vec<u8>)) {
    let (name, typ, help) = fam;
    let mark = out.len();
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    write_help(out, help);
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(typ.as_bytes());
    out.push(b'\n');
    let body_start = out.len();
    body(out);
    if out.len() == body_start {
        out.truncate(mark);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(s(|o| write_label_value(o, "plain-topic_1")), "plain-topic_1");
        assert_eq!(s(|o| write_label_value(o, r#"a\b"c"#)), r#"a\\b\"c"#);
        assert_eq!(s(|o| write_label_value(o, "line\nbreak")), "line\\nbreak");
        assert_eq!(s(|o| write_label_value(o, "%RETRY%G1 ü")), "%RETRY%G1 ü");
        assert_eq!(s(|o| write_label(o, false, "topic", "x\"")), ",topic=\"x\\\"\"");
        assert_eq!(s(|o| write_label_int(o, true, "queue_id", -3)), "queue_id=\"-3\"");
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(s(|o| write_f64(o, f64::NAN)), "NaN");
        assert_eq!(s(|o| write_f64(o, f64::INFINITY)), "+Inf");
        assert_eq!(s(|o| write_f64(o, f64::NEG_INFINITY)), "-Inf");
        assert_eq!(s(|o| write_f64(o, 23.5)), "23.5");
        assert_eq!(s(|o| write_f64(o, 0.0)), "0.0");
        assert_eq!(s(|o| write_value(o, Value::Int(-42))), "-42");
        assert_eq!(s(|o| write_value(o, Value::Int(i64::MAX))), "9223372036854775807");
        // Every rendered float must parse back to the same value.
        for f in [1e-7, 1e16, 0.1, 123456.789, -2.5e-300] {
            assert_eq!(s(|o| write_f64(o, f)).parse::<f64>().unwrap(), f);
        }
    }

    #[test]
    fn millis_to_exact_seconds() {
        assert_eq!(s(|o| write_millis_as_seconds(o, 1_700_000_000_123)), "1700000000.123");
        assert_eq!(s(|o| write_millis_as_seconds(o, 1500)), "1.5");
        assert_eq!(s(|o| write_millis_as_seconds(o, 1050)), "1.05");
        assert_eq!(s(|o| write_millis_as_seconds(o, 2000)), "2");
        assert_eq!(s(|o| write_millis_as_seconds(o, 0)), "0");
        assert_eq!(s(|o| write_millis_as_seconds(o, -5)), "-0.005");
        assert_eq!(s(|o| write_millis_as_seconds(o, i64::MIN)), "-9223372036854775.808");
    }

    #[test]
    fn empty_family_leaves_no_header() {
        let fam = ("m", "gauge", "help\\text\nmore");
        assert_eq!(s(|o| family(o, fam, |_| {})), "");
        let text = s(|o| family(o, fam, |o| write_sample(o, "m", b"", Value::Int(1))));
        assert_eq!(text, "# HELP m help\\\\text\\nmore\n# TYPE m gauge\nm 1\n");
    }
}
