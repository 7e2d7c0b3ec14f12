//! Turning fastjson 1.x output into JSON that `serde_json` accepts.
//!
//! fastjson writes non-string map keys bare: `{0:"addr"}` for `Map<Long,_>` and
//! `{{"brokerName":"b","queueId":0,"topic":"t"}:{…}}` for `Map<MessageQueue,_>` (PROTOCOL.md §5.1).
//! Rather than a hack per body type, one linear pre-pass rewrites exactly those key positions
//! (numbers are quoted; object-keyed maps become arrays of `[key, value]` pairs, which serde reads
//! without a second parse); everything else is copied untouched. Standard JSON (rocketmq-rust, or a Java client
//! that asked for browser-compatible output) therefore costs one scan and no allocation.
//!
//! The [`de`] module holds the tolerant field deserializers every body struct uses: fastjson omits
//! nulls, writes NaN as `null`, may strip `.0`, and rocketmq-rust sends explicit `null`s and quoted
//! numbers, so no field may insist on one JSON type.

use std::borrow::Cow;

use serde::de::DeserializeOwned;

use super::error::{excerpt_at, DecodeError};

/// One pre-pass that turns fastjson output into standard JSON: at every object KEY position, a bare number
/// (possibly negative) is quoted; an object whose first key is a `{…}` or `[…]` (fastjson's
/// `Map<MessageQueue, _>`) becomes an array of `[key, value]` pairs, the key copied as is (an
/// object key after string keys, which fastjson never writes, becomes a JSON string instead).
/// Standard JSON passes through unchanged (return Cow::Borrowed when nothing needed changing). String literals
/// with escapes must be tracked correctly. Never panics, never allocates more than O(input).
///
/// Bare words in key position (`null`, `true`, identifiers) are quoted too, since fastjson writes a
/// `null` map key as `null:`. Anything this pass does not recognise is copied as is and left for
/// `serde_json` to reject with its own message.
pub fn normalize(input: &[u8]) -> Result<Cow<'_, [u8]>, DecodeError> {
    normalize_inner(input).map(|n| n.out)
}

/// Normalizes `body` and deserializes it; `what` names the type in errors.
pub fn from_slice<T: DeserializeOwned>(what: &'static str, body: &[u8]) -> Result<T, DecodeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::Empty { what });
    }
    let norm = normalize_inner(body).map_err(|e| e.with_what(what))?;
    if norm.saw_ref {
        return Err(DecodeError::CircularRef { what });
    }
    serde_json::from_slice(&norm.out).map_err(|e| json_error(what, &norm.out, &e))
}

/// Maps a serde_json error to [`DecodeError`], with an excerpt around where it happened.
pub(crate) fn json_error(what: &'static str, text: &[u8], e: &serde_json::Error) -> DecodeError {
    if e.is_syntax() && std::str::from_utf8(text).is_err() {
        return DecodeError::Utf8 { what };
    }
    let offset = line_col_to_offset(text, e.line(), e.column());
    DecodeError::Json {
        what,
        reason: e.to_string(),
        excerpt: excerpt_at(text, offset),
    }
}

/// serde_json reports 1-based line and column; turn that back into a byte offset.
fn line_col_to_offset(text: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].iter().position(|&b| b == b'\n') {
            Some(p) => start += p + 1,
            None => return text.len(),
        }
    }
    (start + column.saturating_sub(1)).min(text.len())
}

pub(crate) struct Normalized<'a> {
    pub out: Cow<'a, [u8]>,
    /// A `"$ref"` key was seen: fastjson's circular-reference marker.
    pub saw_ref: bool,
}

/// Copy-on-write output: nothing is allocated until the first rewrite, then untouched runs are
/// copied in bulk between rewrites.
struct Writer<'a> {
    input: &'a [u8],
    out: Option<Vec<u8>>,
    copied: usize,
}

impl<'a> Writer<'a> {
    /// The output buffer, with every input byte before `upto` already copied into it.
    fn flush_to(&mut self, upto: usize) -> &mut Vec<u8> {
        let input = self.input;
        // Rewrites only add a few bytes per key, so a small slack avoids any regrowth.
        let out = self
            .out
            .get_or_insert_with(|| Vec::with_capacity(input.len() + input.len() / 8 + 64));
        out.extend_from_slice(&input[self.copied..upto]);
        out
    }

    /// Replaces `input[start..end]` by `with` (`start == end` inserts).
    fn replace(&mut self, start: usize, end: usize, with: &[u8]) {
        let out = self.flush_to(start);
        out.extend_from_slice(with);
        self.copied = end;
    }

    /// Replaces `input[start..end]` by the same bytes wrapped in quotes.
    fn quote(&mut self, start: usize, end: usize) {
        let input = self.input;
        let out = self.flush_to(start);
        out.push(b'"');
        out.extend_from_slice(&input[start..end]);
        out.push(b'"');
        self.copied = end;
    }

    /// Replaces `input[start..end]` by a JSON string whose value is exactly those bytes.
    fn stringify(&mut self, start: usize, end: usize) {
        let input = self.input;
        let out = self.flush_to(start);
        out.push(b'"');
        put_escaped(out, &input[start..end]);
        out.push(b'"');
        self.copied = end;
    }

    fn finish(mut self) -> Cow<'a, [u8]> {
        match self.out.take() {
            None => Cow::Borrowed(self.input),
            Some(mut out) => {
                out.extend_from_slice(&self.input[self.copied..]);
                Cow::Owned(out)
            }
        }
    }
}

fn malformed(input: &[u8], offset: usize, reason: &'static str) -> DecodeError {
    DecodeError::Malformed {
        what: "",
        reason,
        offset,
        excerpt: excerpt_at(input, offset),
    }
}

/// Bytes the main loop must look at: brackets, quotes and commas. Everything else (numbers,
/// literals, whitespace, `:`) is skipped in a tight loop.
static STRUCTURAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t[b'"' as usize] = true;
    t[b',' as usize] = true;
    t
};

/// `raw` as the inside of a JSON string, escaped as `serde_json` does: `"` and `\\` with a
/// backslash, the five short control escapes, other control characters as `\u00xx`,
/// everything else (UTF-8 or not) verbatim. Shared by the pre-pass, which quotes raw key text,
/// and the frame encoder, which must write serde_json's exact header bytes.
pub(crate) fn put_escaped(out: &mut impl bytes::BufMut, raw: &[u8]) {
    let mut run = 0;
    for (i, &c) in raw.iter().enumerate() {
        if !NEEDS_ESCAPE[c as usize] {
            continue;
        }
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0C => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => b"",
        };
        out.put_slice(&raw[run..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.put_slice(&[b'\\', b'u', b'0', b'0', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
        } else {
            out.put_slice(esc);
        }
        run = i + 1;
    }
    out.put_slice(&raw[run..]);
}

/// Bytes that must be escaped when raw key text is put inside a JSON string.
pub(super) static NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Bytes that may make up a bare (unquoted) key: numbers, `null`, identifiers.
#[inline]
fn is_bare(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.' | b'_' | b'$')
}

/// Index of the first `"` or `\` at or after `from`. Checks eight bytes at a time (SWAR):
/// most of a body is string contents, so this loop is the pre-pass's hot path.
#[inline]
fn find_quote_or_backslash(input: &[u8], mut from: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const QUOTE: u64 = LO * b'"' as u64;
    const BSLASH: u64 = LO * b'\\' as u64;
    while from + 8 <= input.len() {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(&input[from..from + 8]);
        let w = u64::from_le_bytes(chunk);
        let q = w ^ QUOTE;
        let s = w ^ BSLASH;
        // Classic "has zero byte" test; exact for the lowest matching byte, which is all we use.
        let hit = (q.wrapping_sub(LO) & !q & HI) | (s.wrapping_sub(LO) & !s & HI);
        if hit != 0 {
            return Some(from + (hit.trailing_zeros() / 8) as usize);
        }
        from += 8;
    }
    input[from..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|p| from + p)
}

/// `start` is at an opening `"`; returns the index just past the closing `"`.
#[inline]
fn skip_string(input: &[u8], start: usize) -> Result<usize, DecodeError> {
    let mut i = start + 1;
    loop {
        match find_quote_or_backslash(input, i) {
            Some(p) if input[p] == b'"' => return Ok(p + 1),
            // An escape: skip the backslash and the byte it escapes (`\"`, `\\`, `\uXXXX`'s `u`).
            Some(p) => i = p + 2,
            None => return Err(malformed(input, start, "unterminated string")),
        }
        if i > input.len() {
            return Err(malformed(input, start, "unterminated string"));
        }
    }
}

/// `start` is at `{` or `[`; returns the index just past its balancing close bracket.
fn skip_composite(input: &[u8], start: usize) -> Result<usize, DecodeError> {
    let mut depth = 0usize;
    let mut i = start;
    while i < input.len() {
        match input[i] {
            b'"' => {
                i = skip_string(input, i)?;
                continue;
            }
            b if !STRUCTURAL[b as usize] => {}
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err(malformed(
        input,
        start,
        "unterminated object used as a map key",
    ))
}

/// What kind of container is open at one nesting level.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Array,
    /// An object; `fresh` until its first key has been seen; `open` is the input index of its `{`.
    Object { open: usize, fresh: bool },
    /// An object whose keys are objects (`Map<MessageQueue, _>`), being rewritten as an array of
    /// `[key, value]` pairs: serde then reads each key object in place, with no string escaping
    /// and no second parse.
    Pairs,
    /// Sits under a key object of a `Pairs` map while it is being read (and normalized like any
    /// value); when that object closes, the `:` after it becomes the pair's `,`.
    KeyEnd,
}

/// Index of the `:` after a key ending at `end` (whitespace allowed before it).
fn colon_after(input: &[u8], end: usize) -> Result<usize, DecodeError> {
    let mut j = end;
    while j < input.len() && matches!(input[j], b' ' | b'\t' | b'\n' | b'\r') {
        j += 1;
    }
    if j < input.len() && input[j] == b':' {
        Ok(j)
    } else {
        Err(malformed(input, end, "expected ':' after a map key"))
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

pub(crate) fn normalize_inner(input: &[u8]) -> Result<Normalized<'_>, DecodeError> {
    let mut w = Writer {
        input,
        out: None,
        copied: 0,
    };
    // Open containers, innermost last. O(depth) memory, at most O(input).
    let mut stack: Vec<Ctx> = Vec::new();
    let mut saw_ref = false;
    let mut expect_key = false;
    let mut i = 0;
    let n = input.len();
    while i < n {
        if !expect_key {
            while i < n && !STRUCTURAL[input[i] as usize] {
                i += 1;
            }
            if i == n {
                break;
            }
        }
        let b = input[i];
        if expect_key {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
                continue;
            }
            // The first key of an object decides whether it becomes a list of pairs.
            let top = stack.last().copied();
            if let Some(Ctx::Object { open, fresh: true }) = top {
                let to_pairs = matches!(b, b'{' | b'[');
                if to_pairs {
                    w.replace(open, open + 1, b"[");
                }
                *stack.last_mut().expect("top exists") =
                    if to_pairs { Ctx::Pairs } else { Ctx::Object { open, fresh: false } };
            }
            let pairs = stack.last() == Some(&Ctx::Pairs);
            let end = match b {
                b'"' => {
                    let end = skip_string(input, i)?;
                    if &input[i..end] == b"\"$ref\"" {
                        saw_ref = true;
                    }
                    if pairs {
                        w.replace(i, i, b"[");
                    }
                    end
                }
                b'{' | b'[' if pairs => {
                    // The key object becomes the pair's first element. It is walked like any
                    // value (so fastjson inside it is rewritten too); closing it ends the key.
                    w.replace(i, i, b"[");
                    stack.push(Ctx::KeyEnd);
                    expect_key = false;
                    continue;
                }
                b'{' | b'[' => {
                    // An object key after string keys (fastjson never mixes them): a JSON string.
                    let end = skip_composite(input, i)?;
                    if contains(&input[i..end], b"\"$ref\"") {
                        saw_ref = true;
                    }
                    w.stringify(i, end);
                    end
                }
                b if is_bare(b) => {
                    let end = input[i..]
                        .iter()
                        .position(|&c| !is_bare(c))
                        .map_or(n, |p| i + p);
                    if pairs {
                        w.replace(i, i, b"[");
                    }
                    w.quote(i, end);
                    end
                }
                // `}` of an empty object, or garbage serde_json will report: handle as a value.
                _ => {
                    expect_key = false;
                    continue;
                }
            };
            expect_key = false;
            i = end;
            if pairs {
                let colon = colon_after(input, end)?;
                w.replace(colon, colon + 1, b",");
                i = colon + 1;
            }
            continue;
        }
        match b {
            b'"' => {
                i = skip_string(input, i)?;
                continue;
            }
            b'{' => {
                stack.push(Ctx::Object { open: i, fresh: true });
                expect_key = true;
            }
            b'[' => stack.push(Ctx::Array),
            b'}' | b']' => {
                match stack.pop() {
                    Some(Ctx::Pairs) if b == b'}' => w.replace(i, i + 1, b"]]"),
                    Some(Ctx::Object { .. }) if b == b'}' => {}
                    Some(Ctx::Array) if b == b']' => {}
                    Some(_) => return Err(malformed(input, i, "mismatched closing bracket")),
                    None => {
                        return Err(malformed(
                            input,
                            i,
                            "closing bracket without an opening one",
                        ))
                    }
                }
                if stack.last() == Some(&Ctx::KeyEnd) {
                    stack.pop();
                    let colon = colon_after(input, i + 1)?;
                    w.replace(colon, colon + 1, b",");
                    i = colon + 1;
                    continue;
                }
            }
            b',' => match stack.last() {
                Some(Ctx::Pairs) => {
                    w.replace(i, i + 1, b"],");
                    expect_key = true;
                }
                Some(Ctx::Object { .. }) => expect_key = true,
                _ => expect_key = false,
            },
            _ => {}
        }
        i += 1;
    }
    if !stack.is_empty() {
        return Err(malformed(
            input,
            n,
            "unexpected end of input inside an object or array",
        ));
    }
    Ok(Normalized {
        out: w.finish(),
        saw_ref,
    })
}

/// Tolerant field deserializers, for `#[serde(deserialize_with = "…")]`.
///
/// Each accepts `null` (and, via the struct's `#[serde(default)]`, absence) as "no value", numbers
/// as int, float or numeric string, and never turns an offset into an `f64`.
pub mod de {
    use std::collections::BTreeMap;
    use std::fmt;

    use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

    /// `str::trim`, with no character decoding when neither end has anything to lose: values
    /// are almost always bare. An ASCII graphic byte at an end is a whole character that is
    /// not whitespace, so the result is `str::trim`'s in every case.
    #[inline]
    pub fn trim(s: &str) -> &str {
        match (s.as_bytes().first(), s.as_bytes().last()) {
            (Some(f), Some(l)) if f.is_ascii_graphic() && l.is_ascii_graphic() => s,
            _ => s.trim(),
        }
    }

    /// Parses an integer written as text, accepting surrounding spaces and an integral float
    /// (`"5.0"`, `"1.0E3"`); out-of-range values saturate.
    pub fn parse_i64(s: &str) -> Option<i64> {
        let s = trim(s);
        if let Ok(v) = s.parse::<i64>() {
            return Some(v);
        }
        let f = parse_f64(s)?;
        (f.fract() == 0.0).then_some(f as i64)
    }

    /// Parses a float written as text: `Double.toString` forms (`1.0E-4`), and a locale decimal
    /// comma (`"1,25"`) when there is no `.`. NaN and infinities are "no value".
    pub fn parse_f64(s: &str) -> Option<f64> {
        let s = trim(s);
        let v = match s.parse::<f64>() {
            Ok(v) => v,
            Err(_) if s.contains(',') && !s.contains('.') => {
                s.replace(',', ".").parse::<f64>().ok()?
            }
            Err(_) => return None,
        };
        v.is_finite().then_some(v)
    }

    /// Optional integer; `null` and NaN are `None`.
    struct OptI64;
    impl<'de> Visitor<'de> for OptI64 {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer, a numeric string or null")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(i64::try_from(v).unwrap_or(i64::MAX)))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            // `as` saturates; a non-finite value is no value.
            Ok(v.is_finite().then_some(v as i64))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v.trim().is_empty() || v.trim() == "null" {
                return Ok(None);
            }
            parse_i64(v)
                .map(Some)
                .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v as i64))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        d.deserialize_any(OptI64)
    }

    /// Integer, `null` ⇒ 0.
    pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        Ok(opt_i64(d)?.unwrap_or(0))
    }

    /// `int` field; out-of-range values saturate.
    pub fn i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
        Ok(opt_i64(d)?
            .unwrap_or(0)
            .clamp(i32::MIN as i64, i32::MAX as i64) as i32)
    }

    struct OptF64;
    impl<'de> Visitor<'de> for OptF64 {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number, a numeric string or null")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(v.is_finite().then_some(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            // "NaN"/"Infinity"/"" are all "no value" rather than an error.
            Ok(parse_f64(v))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    /// `double` field: int, float, numeric string; `null`/NaN/Infinity ⇒ `None`.
    pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_any(OptF64)
    }

    struct Bool;
    impl<'de> Visitor<'de> for Bool {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a boolean, \"true\"/\"false\", 0/1 or null")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
            Ok(v != 0)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
            Ok(v != 0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            match v.trim() {
                s if s.eq_ignore_ascii_case("true") || s == "1" => Ok(true),
                s if s.eq_ignore_ascii_case("false") || s == "0" || s.is_empty() || s == "null" => {
                    Ok(false)
                }
                _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_none<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(self)
        }
    }

    /// `boolean` field; `null` ⇒ false.
    pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        d.deserialize_any(Bool)
    }

    struct OptString;
    impl<'de> Visitor<'de> for OptString {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string, a number, a boolean or null")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    /// String field; scalars are taken as their text, `null` ⇒ `None`.
    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(OptString)
    }

    /// String field; `null` ⇒ empty.
    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(opt_string(d)?.unwrap_or_default())
    }

    /// Any nested value; `null` ⇒ its default.
    pub fn or_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
        d: D,
    ) -> Result<T, D::Error> {
        Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
    }

    /// A list; `null` list ⇒ empty, `null` elements dropped.
    pub fn vec_skip_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Vec<T>, D::Error> {
        let items: Option<Vec<Option<T>>> = Deserialize::deserialize(d)?;
        Ok(items.unwrap_or_default().into_iter().flatten().collect())
    }

    /// A string-keyed map; `null` map ⇒ empty, entries with `null` values dropped (fastjson
    /// omits them, rocketmq-rust writes them).
    pub fn map_skip_null<'de, D: Deserializer<'de>, V: Deserialize<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, V>, D::Error> {
        let m: Option<BTreeMap<String, Option<V>>> = Deserialize::deserialize(d)?;
        Ok(m.unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect())
    }

    /// A string ⇒ string map whose values may arrive as numbers or booleans; `null`s dropped.
    pub fn string_map<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, String>, D::Error> {
        #[derive(serde::Deserialize)]
        struct S(#[serde(deserialize_with = "opt_string")] Option<String>);
        let m: Option<BTreeMap<String, S>> = Deserialize::deserialize(d)?;
        Ok(m.unwrap_or_default()
            .into_iter()
            .filter_map(|(k, S(v))| Some((k, v?)))
            .collect())
    }

    /// `Map<Long, String>` such as `brokerAddrs`: keys arrive quoted by the pre-pass (or by
    /// rocketmq-rust), values may be `null` (dropped).
    pub fn id_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<i64, String>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BTreeMap<i64, String>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map from numeric ids to strings")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(BTreeMap::new())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let id = parse_i64(&k).ok_or_else(|| {
                        de::Error::invalid_value(de::Unexpected::Str(&k), &"a numeric broker id")
                    })?;
                    let v: Option<String> = map.next_value_seed(StrSeed)?;
                    if let Some(v) = v {
                        out.insert(id, v);
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }

    struct StrSeed;
    impl<'de> de::DeserializeSeed<'de> for StrSeed {
        type Value = Option<String>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            opt_string(d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_is_str_trim() {
        let pieces = ["", "a", "7", " ", "\t", "\n", "\u{b}", "\u{c}", "\r", "\u{a0}", "\u{2003}", "\u{3000}", "é", "x y", "~", "!"];
        let mut rng = super::super::test_rng::XorShift(0x7121_3000_0000_0001);
        for _ in 0..20_000 {
            let s: String = (0..rng.next() % 5).map(|_| pieces[(rng.next() % pieces.len() as u64) as usize]).collect();
            assert_eq!(de::trim(&s), s.trim(), "{s:?}");
        }
    }

    fn norm(s: &str) -> String {
        String::from_utf8(normalize(s.as_bytes()).unwrap().into_owned()).unwrap()
    }

    fn is_borrowed(s: &str) -> bool {
        matches!(normalize(s.as_bytes()).unwrap(), Cow::Borrowed(_))
    }

    #[test]
    fn standard_json_is_borrowed_unchanged() {
        for s in [
            r#"{"a":1,"b":[1,2,{"c":null}],"d":"x{y}:z\"w\\"}"#,
            "{}",
            "[]",
            "  {\n\t\"k\" : { } }\n",
            r#"{"offsetTable":{"{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"t\"}":{"minOffset":0}}}"#,
            r#"[{"a":"}"},{"b":"{"}]"#,
            "1.5",
            "\"just a string\"",
        ] {
            assert!(is_borrowed(s), "{s}");
            assert_eq!(norm(s), s);
        }
    }

    #[test]
    fn bare_numeric_keys_are_quoted() {
        assert_eq!(norm(r#"{0:"a:1",1:"b"}"#), r#"{"0":"a:1","1":"b"}"#);
        assert_eq!(
            norm(r#"{-1:"neg", -20 : "x"}"#),
            r#"{"-1":"neg", "-20" : "x"}"#
        );
        assert_eq!(norm("{\n\t0: \"x\"\n}"), "{\n\t\"0\": \"x\"\n}");
        assert_eq!(
            norm(r#"{"m":{9223372036854775807:1}}"#),
            r#"{"m":{"9223372036854775807":1}}"#
        );
        // Values that look like keys are left alone.
        assert_eq!(norm(r#"{"a":[0,1,{2:3}]}"#), r#"{"a":[0,1,{"2":3}]}"#);
        assert_eq!(norm(r#"{null:1,true:2}"#), r#"{"null":1,"true":2}"#);
    }

    #[test]
    fn object_keyed_maps_become_pair_lists() {
        let got = norm(r#"{{"brokerName":"b","queueId":0,"topic":"t"}:5}"#);
        assert_eq!(got, r#"[[{"brokerName":"b","queueId":0,"topic":"t"},5]]"#);
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v[0][0]["topic"], "t");
        assert_eq!(v[0][1], 5);
        assert_eq!(norm(r#"{[1,2]:"x",[3]:"y"}"#), r#"[[[1,2],"x"],[[3],"y"]]"#);
        // Several entries, nested values, and a bare numeric key inside a value.
        let got = norm(r#"{"offsetTable":{{"q":0}:{"a":{0:"x"}},{"q":1}:{"a":{}}},"n":1}"#);
        assert_eq!(got, r#"{"offsetTable":[[{"q":0},{"a":{"0":"x"}}],[{"q":1},{"a":{}}]],"n":1}"#);
        // Braces, escapes, and a newline inside the key object are copied untouched.
        let raw = "{{\"t\":\"a}b{\\\"c\\\\\",\n\"n\":{\"x\":[1]}}:1}";
        let out = norm(raw);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0][0]["t"], "a}b{\"c\\");
        // An object key after string keys (fastjson never mixes them) stays a JSON string.
        let got = norm(r#"{"a":1,{"b":2}:3}"#);
        assert_eq!(got, r#"{"a":1,"{\"b\":2}":3}"#);
    }

    #[test]
    fn whitespace_around_rewritten_keys() {
        let got = norm("{ \n {\"brokerName\" : \"b\"} \n : 1,\r\n\t-7 :2}");
        assert_eq!(got, "[ \n [{\"brokerName\" : \"b\"} \n , 1],\r\n\t[\"-7\" ,2]]");
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v[1][0], "-7");
        assert_eq!(v[0][0]["brokerName"], "b");
    }

    #[test]
    fn ref_only_counts_as_a_key() {
        assert!(from_slice::<serde_json::Value>("X", br#"{"a":"$ref","$reference":1}"#).is_ok());
    }

    #[test]
    fn strings_with_structural_characters_are_not_rewritten() {
        let s = r#"{"k{0:":"v}1:{","a\"{":[ "b\\", {"c":"\\\"{"} ]}"#;
        assert!(is_borrowed(s));
        serde_json::from_str::<serde_json::Value>(s).unwrap();
    }

    #[test]
    fn control_characters_in_stringified_keys_are_escaped() {
        // Only a mixed map stringifies an object key; its control bytes must be escaped.
        let out = norm("{\"k\":0,{\"a\":\"\u{1}\"}:2}");
        assert!(out.contains("\\u0001"), "{out}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap();
    }

    #[test]
    fn fastjson_inside_key_objects_is_rewritten_too() {
        // Found by the fuzzer after the pair rewrite: a key object holding a bare key was copied
        // as is, so a second pass changed it again. Key objects are now walked like values.
        let crash: &[u8] = &[
            123, 32, 32, 32, 32, 116, 111, 112, 105, 99, 32, 32, 123, 123, 45, 17, 9, 125, 9, 58, 32, 13, 13, 13, 97, 5,
            125, 50, 49, 112, 116, 97, 98, 108, 101, 105, 99, 32, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 13, 13,
            65, 5, 125, 50, 35, 32, 33,
        ];
        if let Ok(out) = normalize(crash) {
            assert_eq!(&*normalize(&out).unwrap(), &*out, "idempotent");
        }
        let got = norm(r#"{{"x":{0:1},"q":2}:{"v":{1:2}}}"#);
        assert_eq!(got, r#"[[{"x":{"0":1},"q":2},{"v":{"1":2}}]]"#);
        assert_eq!(&*normalize(got.as_bytes()).unwrap(), got.as_bytes());
        // Keys nested in keys: still linear, no recursion.
        let deep = "{".repeat(20_000) + &"}:1".repeat(20_000);
        let _ = normalize(deep.as_bytes());
    }

    #[test]
    fn pair_rewrite_needs_a_colon() {
        assert!(normalize(b"{{\"a\":1} 2}").is_err());
        assert!(normalize(b"{{\"a\":1}").is_err());
    }

    #[test]
    fn ref_inside_a_key_object_is_seen() {
        assert!(matches!(
            from_slice::<serde_json::Value>("X", br#"{{"$ref":"$"}:1}"#),
            Err(DecodeError::CircularRef { .. })
        ));
    }

    #[test]
    fn broken_structure_is_an_error() {
        for s in [
            "{\"a",
            "{{\"a\":1",
            "{\"a\":[1,2}",
            "]",
            "{\"a\":1}}",
            "[{",
            "{{\"x\":\"}",
        ] {
            assert!(normalize(s.as_bytes()).is_err(), "{s}");
        }
        let e = normalize(b"{\"a\":\"unterminated").unwrap_err();
        assert!(
            matches!(e, DecodeError::Malformed { offset: 5, .. }),
            "{e:?}"
        );
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(normalize(deep.as_bytes()).is_ok());
        let deep_keys = "{0:".repeat(50_000) + "1" + &"}".repeat(50_000);
        let out = normalize(deep_keys.as_bytes()).unwrap();
        assert_eq!(out.len(), deep_keys.len() + 100_000);
        // serde_json refuses this depth with an error, not a crash.
        assert!(from_slice::<serde_json::Value>("deep", deep_keys.as_bytes()).is_err());
    }

    #[test]
    fn swar_scan_finds_every_position() {
        for len in 0..40 {
            for pos in 0..len {
                for c in [b'"', b'\\'] {
                    let mut v = vec![b'a'; len];
                    v[pos] = c;
                    // A non-ASCII byte before the hit must not confuse the zero-byte test.
                    if pos > 0 {
                        v[pos - 1] = 0xE2;
                    }
                    assert_eq!(
                        find_quote_or_backslash(&v, 0),
                        Some(pos),
                        "len={len} pos={pos}"
                    );
                }
            }
            assert_eq!(find_quote_or_backslash(&vec![0xA2; len], 0), None);
        }
    }

    #[test]
    fn garbage_never_panics() {
        // Deterministic pseudo-random bytes over a JSON-ish alphabet, plus every prefix of a real body.
        let alphabet = b"{}[]\":,\\ 0-1a\n{\"";
        let mut rng = crate::protocol::test_rng::XorShift(0x9E37_79B9_7F4A_7C15);
        for len in 0..300 {
            let v = rng.bytes(alphabet, len);
            let _ = normalize(&v);
            let _ = from_slice::<serde_json::Value>("garbage", &v);
        }
        let body =
            br#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{"a":1}},"x":{0:"y"}}"#;
        for cut in 0..body.len() {
            let _ = normalize(&body[..cut]);
        }
        assert!(normalize(body).is_ok());
    }

    #[test]
    fn from_slice_reports_what_and_where() {
        let e = from_slice::<serde_json::Value>("ClusterInfo", b"{\"a\":tru}").unwrap_err();
        match e {
            DecodeError::Json { what, excerpt, .. } => {
                assert_eq!(what, "ClusterInfo");
                assert!(excerpt.contains("tru"), "{excerpt}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            from_slice::<serde_json::Value>("X", b"  "),
            Err(DecodeError::Empty { what: "X" })
        ));
        assert!(matches!(
            from_slice::<serde_json::Value>("X", b"{\"a\":{\"$ref\":\"$.b\"}}"),
            Err(DecodeError::CircularRef { what: "X" })
        ));
        assert!(matches!(
            from_slice::<serde_json::Value>("X", b"{\"a\":\"\xff\"}"),
            Err(DecodeError::Utf8 { .. })
        ));
        assert!(matches!(
            from_slice::<serde_json::Value>("X", b"{\"a\":[}"),
            Err(DecodeError::Malformed { what: "X", .. })
        ));
    }

    #[test]
    fn lenient_number_parsing() {
        use de::{parse_f64, parse_i64};
        assert_eq!(parse_f64("1.0E-4"), Some(1.0e-4));
        assert_eq!(parse_f64("1,25"), Some(1.25));
        assert_eq!(parse_f64(" 3 "), Some(3.0));
        assert_eq!(parse_f64("NaN"), None);
        assert_eq!(parse_f64("Infinity"), None);
        assert_eq!(parse_f64("-Infinity"), None);
        assert_eq!(parse_f64(""), None);
        assert_eq!(parse_f64("1,000.5"), None);
        assert_eq!(parse_i64("9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64("-1"), Some(-1));
        assert_eq!(parse_i64("5.0"), Some(5));
        assert_eq!(parse_i64("5.5"), None);
        assert_eq!(parse_i64("abc"), None);
    }
}
