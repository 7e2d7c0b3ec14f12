//! A small, strict JSON reader for the hot bodies' fast paths.
//!
//! The lenient path (pre-pass + `serde_json`) handles every form a server may send, but for small
//! bodies its fixed costs (a copy of the body, serde dispatch, intermediate maps) dominate. The
//! fast paths built on this reader accept only a well-understood subset: strict JSON syntax
//! (strings borrowed from the body unless escaped), plus fastjson's object map keys where the
//! caller asks for them. On anything else they return `None` ("not sure") and the caller falls
//! back to the lenient path, which then produces the same value or the proper error. So a fast
//! path may bail whenever convenient, but must never accept input the lenient path would decode
//! differently or refuse.

use std::borrow::Cow;

/// Nesting allowed inside a skipped (unknown) value before giving up and falling back.
const MAX_SKIP_DEPTH: usize = 64;

/// A number as written; `text` is kept so callers can apply the lenient path's exact rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    /// An integer that fits i64.
    Int(i64),
    /// An integer outside i64 (`neg` tells which end it saturates to), and its f64 value.
    BigInt { neg: bool, f: f64 },
    /// Has a fraction or exponent; always finite (an overflowing one makes the reader bail).
    Float(f64),
}

impl Num {
    /// What `lenient_json::de::opt_i64` makes of it: saturating, a float truncated.
    pub fn to_i64(self) -> i64 {
        match self {
            Num::Int(v) => v,
            Num::BigInt { neg, .. } => {
                if neg {
                    i64::MIN
                } else {
                    i64::MAX
                }
            }
            Num::Float(f) => f as i64,
        }
    }

    /// What `lenient_json::de::opt_f64` makes of it.
    pub fn to_f64(self) -> f64 {
        match self {
            Num::Int(v) => v as f64,
            Num::BigInt { f, .. } => f,
            Num::Float(f) => f,
        }
    }
}

/// One JSON scalar, or the start of a composite (left unread).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Num(Num),
    Str(Cow<'a, str>),
    /// Next byte is `{` or `[`; nothing consumed.
    Composite,
}

/// Cursor over a body. Every method returns `None` to mean "bail to the lenient path".
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    i: usize,
    /// The body as text when all of it is UTF-8 (checked once, in bulk): strings are then
    /// sliced from it instead of each being checked on its own.
    text: Option<&'a str>,
}

/// Bytes that end the fast scan of a string's contents: `"`, `\` and control characters, the
/// same set that needs escaping inside a JSON string.
use super::lenient_json::NEEDS_ESCAPE as STR_STOP;

/// Index of the first `"`, `\\` or control character at or after `from`, eight bytes at a time
/// (SWAR): keys and names are most of a body, so this is the reader's inner loop.
#[inline]
pub(crate) fn find_stop(b: &[u8], mut from: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(from..from + 8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(chunk);
        let w = u64::from_le_bytes(a);
        let q = w ^ (LO * b'"' as u64);
        let s = w ^ (LO * b'\\' as u64);
        // Each term's lowest set bit is exact (false positives only sit above a true hit), so
        // the lowest bit of their union is the first stop byte.
        let hit = (q.wrapping_sub(LO) & !q & HI)
            | (s.wrapping_sub(LO) & !s & HI)
            | (w.wrapping_sub(LO * 0x20) & !w & HI);
        if hit != 0 {
            return Some(from + (hit.trailing_zeros() / 8) as usize);
        }
        from += 8;
    }
    b[from.min(b.len())..]
        .iter()
        .position(|&c| STR_STOP[c as usize])
        .map(|p| from + p)
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, i: 0, text: std::str::from_utf8(b).ok() }
    }

    /// `b[start..end]` as text, or `None` if it is not UTF-8. Callers cut strings next to ASCII
    /// bytes (quotes, backslashes), which are char boundaries of a UTF-8 body, so the slice of
    /// the checked text never fails where checking the bytes alone would succeed.
    #[inline]
    fn text_at(&self, start: usize, end: usize) -> Option<&'a str> {
        match self.text {
            Some(t) => t.get(start..end),
            None => std::str::from_utf8(&self.b[start..end]).ok(),
        }
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.i += 1;
        }
    }

    /// The next non-whitespace byte, not consumed.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    /// Consumes `c`, after whitespace, if it comes next.
    #[inline]
    pub fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Only whitespace is left.
    pub fn end(&mut self) -> Option<()> {
        self.ws();
        (self.i == self.b.len()).then_some(())
    }

    /// An object key as raw bytes: borrowed unless escaped, and not yet checked for UTF-8, so that
    /// matching it against known (ASCII) field names costs a length and a memcmp. Callers
    /// that keep or ignore a key must check it with [`utf8`].
    #[inline]
    fn key(&mut self) -> Option<Cow<'a, [u8]>> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let len = find_stop(self.b, start)? - start;
        if self.b[start + len] == b'"' {
            self.i = start + len + 1;
            return Some(Cow::Borrowed(&self.b[start..start + len]));
        }
        self.i = start;
        self.escaped(start, len).map(|s| Cow::Owned(s.into_bytes()))
    }

    /// A string, borrowed from the body unless it has escapes. Raw control characters, invalid
    /// UTF-8 and lone surrogates bail (serde_json refuses them too).
    #[inline]
    pub fn str(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.i;
        let len = find_stop(self.b, start)? - start;
        if self.b[start + len] == b'"' {
            self.i = start + len + 1;
            return self.text_at(start, start + len).map(Cow::Borrowed);
        }
        self.escaped(start, len).map(Cow::Owned)
    }

    /// The slow half of [`Self::str`]: `b[start..start + plain]` has no escapes, the rest may.
    #[cold]
    fn escaped(&mut self, start: usize, plain: usize) -> Option<String> {
        let mut out: Vec<u8> = Vec::with_capacity(plain + 16);
        out.extend_from_slice(&self.b[start..start + plain]);
        let mut i = start + plain;
        loop {
            // Plain runs between escapes are copied whole (a fastjson string nested in a string,
            // as in the config answer's `version` header field, is mostly escapes apart).
            let stop = find_stop(self.b, i)?;
            out.extend_from_slice(&self.b[i..stop]);
            i = stop;
            let c = self.b[i];
            i += 1;
            match c {
                b'"' => break,
                0..=0x1f => return None,
                b'\\' => {
                    let e = *self.b.get(i)?;
                    i += 1;
                    let simple = match e {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let hi = self.hex4(i)?;
                            i += 4;
                            let ch = if (0xD800..0xDC00).contains(&hi) {
                                if self.b.get(i..i + 2)? != b"\\u" {
                                    return None;
                                }
                                let lo = self.hex4(i + 2)?;
                                i += 6;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                            } else {
                                char::from_u32(hi)?
                            };
                            out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                            continue;
                        }
                        _ => return None,
                    };
                    out.push(simple);
                }
                // find_stop stops only at a quote, a backslash or a control byte.
                _ => return None,
            }
        }
        self.i = i;
        String::from_utf8(out).ok()
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.b.get(at..at + 4)?;
        let h = std::str::from_utf8(h).ok()?;
        if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(h, 16).ok()
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// Where the reader is, to come back to with [`Self::rewind`] when a layout guess fails.
    #[inline]
    pub fn pos(&self) -> usize {
        self.i
    }

    #[inline]
    pub fn rewind(&mut self, pos: usize) {
        self.i = pos;
    }

    /// Consumes `bytes` if they come next exactly (no whitespace skipped): for matching a
    /// serializer's fixed layout, e.g. `,"queueId":`, in one comparison.
    /// Always inlined: the literal's length is then a constant and the comparison a few loads,
    /// where a call compared each of a row's nine literals through `memcmp`.
    #[inline(always)]
    pub fn exact(&mut self, bytes: &[u8]) -> bool {
        if self.b.get(self.i..self.i + bytes.len()) == Some(bytes) {
            self.i += bytes.len();
            true
        } else {
            false
        }
    }

    /// The contents of a string whose opening quote was just consumed, if it has no escape or
    /// control character and is UTF-8 (what [`Self::str`] borrows), through its closing quote.
    #[inline]
    pub fn plain_str_rest(&mut self) -> Option<&'a str> {
        let start = self.i;
        let end = find_stop(self.b, start)?;
        if self.b[end] != b'"' {
            return None;
        }
        let s = self.text_at(start, end)?;
        self.i = end + 1;
        Some(s)
    }

    /// [`Self::plain_str_rest`] where the string is likely `seen`, a plain string read before
    /// (a name repeated row after row): its bytes and then a quote settle it in one comparison,
    /// with no scan. `seen` holds no quote, backslash or control byte, so when those bytes
    /// follow, the first of them to end the string is that quote: the same string either way.
    #[inline]
    pub fn plain_str_rest_as(&mut self, seen: &'a str) -> Option<&'a str> {
        let n = seen.len();
        if n > 0 && self.b.get(self.i + n) == Some(&b'"') && self.b.get(self.i..self.i + n) == Some(seen.as_bytes()) {
            self.i += n + 1;
            return Some(seen);
        }
        self.plain_str_rest()
    }

    /// An integer of at most 18 digits in strict grammar that [`Self::num`] would read as
    /// `Num::Int` (so not `-0`, and not followed by a fraction or exponent).
    #[inline]
    pub fn plain_int(&mut self) -> Option<i64> {
        let b = self.b;
        let mut j = self.i;
        let neg = b.get(j) == Some(&b'-');
        j += neg as usize;
        let start = j;
        let mut mag: i64 = 0;
        while let Some(&d) = b.get(j) {
            if !d.is_ascii_digit() {
                break;
            }
            if j - start == 18 {
                return None;
            }
            mag = mag * 10 + (d - b'0') as i64;
            j += 1;
        }
        let n = j - start;
        if n == 0 || (n > 1 && b[start] == b'0') || matches!(b.get(j), Some(b'.' | b'e' | b'E')) || (neg && mag == 0) {
            return None;
        }
        self.i = j;
        Some(if neg { -mag } else { mag })
    }

    /// A number in strict JSON grammar (no leading zeros, no `+`, no bare `.5`, finite).
    fn num(&mut self) -> Option<Num> {
        let b = self.b;
        let start = self.i;
        let mut j = start;
        let neg = b.get(j) == Some(&b'-');
        if neg {
            j += 1;
        }
        let digits = |j: &mut usize| {
            let s = *j;
            while b.get(*j).is_some_and(u8::is_ascii_digit) {
                *j += 1;
            }
            *j - s
        };
        // Integer part, accumulated while scanning (exact for up to 18 digits).
        let int_start = j;
        let mut mag: u64 = 0;
        while let Some(&d) = b.get(j) {
            if !d.is_ascii_digit() {
                break;
            }
            mag = mag.wrapping_mul(10).wrapping_add((d - b'0') as u64);
            j += 1;
        }
        let n = j - int_start;
        if n == 0 || (n > 1 && b[int_start] == b'0') {
            return None;
        }
        if n <= 18 && !matches!(b.get(j), Some(b'.' | b'e' | b'E')) {
            self.i = j;
            // `-0` stays a float, as serde_json may read it (its text would differ from "0").
            return Some(match (neg, mag as i64) {
                (true, 0) => Num::Float(-0.0),
                (true, m) => Num::Int(-m),
                (false, m) => Num::Int(m),
            });
        }
        let mut float = false;
        if b.get(j) == Some(&b'.') {
            j += 1;
            if digits(&mut j) == 0 {
                return None;
            }
            float = true;
        }
        if matches!(b.get(j), Some(b'e' | b'E')) {
            j += 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if digits(&mut j) == 0 {
                return None;
            }
            float = true;
        }
        self.i = j;
        // ASCII by construction. Parsed by serde_json itself, whose float parse (without
        // `float_roundtrip`) can differ from Rust's in the last bit: the two paths must agree.
        let text = std::str::from_utf8(&b[start..j]).ok()?;
        // Errors on overflow (`1e400`), as the lenient path would.
        let f: f64 = serde_json::from_str(text).ok()?;
        if float {
            return Some(Num::Float(f));
        }
        Some(match text.parse::<i64>() {
            Ok(v) => Num::Int(v),
            Err(_) => Num::BigInt { neg, f },
        })
    }

    /// The next value if it is a scalar; composites are left for the caller.
    #[inline]
    pub fn scalar(&mut self) -> Option<Scalar<'a>> {
        Some(match self.peek()? {
            b'"' => Scalar::Str(self.str()?),
            b'{' | b'[' => Scalar::Composite,
            b'n' => {
                self.literal(b"null")?;
                Scalar::Null
            }
            b't' => {
                self.literal(b"true")?;
                Scalar::Bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                Scalar::Bool(false)
            }
            b'-' | b'0'..=b'9' => Scalar::Num(self.num()?),
            _ => return None,
        })
    }

    /// Consumes `null` if it is next.
    #[inline]
    pub fn null(&mut self) -> bool {
        if self.peek() == Some(b'n') && self.literal(b"null").is_some() {
            return true;
        }
        false
    }

    /// Reads an object with string keys, calling `f(reader, key)` to read each value. A
    /// `"$ref"` key bails (the lenient path refuses those bodies).
    ///
    /// Written out rather than through [`Self::object_keyed`]: this is the hottest loop of the
    /// reader, and the generic form measured 2–3 % more instructions on a 317 body.
    #[inline]
    pub fn object(&mut self, mut f: impl FnMut(&mut Self, &[u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let key = self.key()?;
            if *key == *b"$ref" {
                return None;
            }
            self.eat(b':')?;
            f(self, &key)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Like [`Self::object`], with each key as text, borrowed from the body unless escaped.
    pub fn object_with_keys(&mut self, f: impl FnMut(&mut Self, Cow<'a, str>) -> Option<()>) -> Option<()> {
        self.object_keyed(|r| r.str().filter(|k| k != "$ref"), f)
    }

    /// Reads an object whose keys are themselves values read by `key` (fastjson's
    /// `Map<MessageQueue, _>`: `{{…}:v,{…}:v}`), calling `f(reader, key)` for each value.
    #[inline]
    pub fn object_keyed<K>(
        &mut self,
        mut key: impl FnMut(&mut Self) -> Option<K>,
        mut f: impl FnMut(&mut Self, K) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let k = key(self)?;
            self.eat(b':')?;
            f(self, k)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Reads an array, calling `f(reader)` for each element.
    #[inline]
    pub fn array(&mut self, mut f: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            f(self)?;
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Skips one value of any kind, checking its syntax as strictly as the rest; deep nesting
    /// bails.
    pub fn skip(&mut self) -> Option<()> {
        self.skip_depth(0)
    }

    /// Skips the value of an unknown field named `key` (which must be UTF-8, as serde checks).
    #[inline]
    pub fn skip_field(&mut self, key: &[u8]) -> Option<()> {
        utf8(key)?;
        self.skip()
    }

    fn skip_depth(&mut self, depth: usize) -> Option<()> {
        match self.scalar()? {
            Scalar::Composite if depth >= MAX_SKIP_DEPTH => None,
            Scalar::Composite if self.peek()? == b'{' => self.object(|r, k| {
                utf8(k)?;
                r.skip_depth(depth + 1)
            }),
            Scalar::Composite => self.array(|r| r.skip_depth(depth + 1)),
            _ => Some(()),
        }
    }
}

/// `key` as text; `None` if it is not UTF-8.
#[inline]
pub(crate) fn utf8(key: &[u8]) -> Option<&str> {
    std::str::from_utf8(key).ok()
}

/// The value rules of `lenient_json::de`, on the strict reader. Each returns `None` (bail) where
/// the serde field deserializer would fail or where matching it exactly is not worth the code.
pub(crate) mod field {
    pub(crate) use super::utf8;
    use super::{Reader, Scalar};
    use std::borrow::Cow;
    use crate::protocol::lenient_json::de::{parse_f64, parse_i64};

    /// `de::opt_i64`: null ⇒ `None`, numbers saturate, floats truncate, numeric text, bools 0/1.
    #[inline]
    pub fn opt_i64(r: &mut Reader<'_>) -> Option<Option<i64>> {
        match r.scalar()? {
            Scalar::Null => Some(None),
            Scalar::Bool(b) => Some(Some(b as i64)),
            Scalar::Num(n) => Some(Some(n.to_i64())),
            Scalar::Str(s) if s.trim().is_empty() || s.trim() == "null" => Some(None),
            Scalar::Str(s) => parse_i64(&s).map(Some),
            Scalar::Composite => None,
        }
    }

    /// `de::opt_f64`: null/NaN text ⇒ `None`; a boolean is an error there, so bail.
    #[inline]
    pub fn opt_f64(r: &mut Reader<'_>) -> Option<Option<f64>> {
        match r.scalar()? {
            Scalar::Null => Some(None),
            Scalar::Num(n) => Some(Some(n.to_f64())),
            Scalar::Str(s) => Some(parse_f64(&s)),
            Scalar::Bool(_) | Scalar::Composite => None,
        }
    }

    /// `de::opt_string`: text as is, booleans and integers as their text, null ⇒ `None`.
    /// Floats bail (Rust's float formatting would have to match exactly).
    #[inline]
    pub fn opt_string(r: &mut Reader<'_>) -> Option<Option<String>> {
        opt_str(r).map(|v| v.map(Cow::into_owned))
    }

    /// [`opt_string`], borrowing from the body where the text has no escapes.
    #[inline]
    pub fn opt_str<'a>(r: &mut Reader<'a>) -> Option<Option<Cow<'a, str>>> {
        match r.scalar()? {
            Scalar::Null => Some(None),
            Scalar::Str(s) => Some(Some(s)),
            Scalar::Bool(b) => Some(Some(Cow::Borrowed(if b { "true" } else { "false" }))),
            Scalar::Num(super::Num::Int(v)) => Some(Some(Cow::Owned(v.to_string()))),
            Scalar::Num(_) | Scalar::Composite => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(s: &str) -> Option<Scalar<'_>> {
        let mut r = Reader::new(s.as_bytes());
        let v = r.scalar()?;
        r.end()?;
        Some(v)
    }

    /// `plain_int` reads exactly what `num` reads as `Num::Int`, and bails on everything else.
    #[test]
    fn plain_int_agrees_with_num() {
        let cases = [
            "0", "7", "-7", "10", "-0", "00", "01", "-", "", "1.5", "1e3", "2E1", "123456789012345678", "-123456789012345678",
            "1234567890123456789", "9223372036854775807", "99999999999999999999", "12,", "12}", "x", "+1",
        ];
        for c in cases {
            let mut a = Reader::new(c.as_bytes());
            let mut b = Reader::new(c.as_bytes());
            let fast = a.plain_int();
            match b.num() {
                Some(Num::Int(v)) if fast.is_some() => {
                    assert_eq!(fast, Some(v), "{c:?}");
                    assert_eq!(a.pos(), b.pos(), "{c:?}");
                }
                other => assert_eq!(fast, None, "{c:?}: num gave {other:?}"),
            }
        }
        // Up to 18 digits must take the fast form (it is what fastjson writes for offsets).
        assert_eq!(Reader::new(b"123456789012345678").plain_int(), Some(123456789012345678));
    }

    /// Numbers of every length, inside a body and at its very end, followed by every kind of
    /// byte: the fast form gives what `num` does, or bails.
    #[test]
    fn plain_int_agrees_with_num_in_and_at_the_end_of_a_body() {
        let mut rng = crate::protocol::test_rng::XorShift(0x1D16_175A_7A7E_0001);
        let after = b",}]. eE-+0x\"\x00\xff/:9";
        for case in 0..60_000 {
            let len = (rng.next() % 22) as usize;
            let mut v = Vec::new();
            if rng.next().is_multiple_of(5) {
                v.push(b'-');
            }
            for i in 0..len {
                // Some leading zeros, otherwise any digit.
                let d = if i == 0 && rng.next().is_multiple_of(6) { b'0' } else { b'0' + (rng.next() % 10) as u8 };
                v.push(d);
            }
            let tail = (rng.next() % 12) as usize;
            for _ in 0..tail {
                v.push(rng.pick(after));
            }
            let (mut a, mut b) = (Reader::new(&v), Reader::new(&v));
            let fast = a.plain_int();
            match b.num() {
                Some(Num::Int(n)) if fast.is_some() => {
                    assert_eq!(fast, Some(n), "case {case}: {:?}", String::from_utf8_lossy(&v));
                    assert_eq!(a.pos(), b.pos(), "case {case}: {:?}", String::from_utf8_lossy(&v));
                }
                other => assert_eq!(fast, None, "case {case}: {:?}: num gave {other:?}", String::from_utf8_lossy(&v)),
            }
            // Every integer of up to 18 digits that `num` reads exactly takes the fast form.
            let digits = v.iter().skip_while(|c| **c == b'-').take_while(|c| c.is_ascii_digit()).count();
            if let (Some(Num::Int(_)), true) = (Reader::new(&v).num(), digits <= 18) {
                let neg_zero = v[0] == b'-' && Reader::new(&v).num() == Some(Num::Int(0));
                if !neg_zero {
                    assert!(fast.is_some(), "case {case}: {:?}", String::from_utf8_lossy(&v));
                }
            }
        }
    }

    /// A string read with a guess of what it is comes out as without one, whether the guess is
    /// right, a prefix, longer, or followed by something else than the closing quote.
    #[test]
    fn plain_strings_read_with_a_guess_are_the_same() {
        let bodies: [&[u8]; 7] = [b"abc\",", b"abcd\",", b"ab\",", b"abc", b"abc\\\"", b"ab\"c\"", "ab\u{e9}\"".as_bytes()];
        for body in bodies {
            for seen in ["", "a", "ab", "abc", "abcd", "ab\u{e9}"] {
                let mut plain = Reader::new(body);
                let mut guessed = Reader::new(body);
                assert_eq!(guessed.plain_str_rest_as(seen), plain.plain_str_rest(), "{body:?} guessing {seen:?}");
                assert_eq!(guessed.pos(), plain.pos(), "{body:?} guessing {seen:?}");
            }
        }
    }

    #[test]
    fn exact_and_plain_strings() {
        let mut r = Reader::new(br#"{"k":"v\"w","#);
        assert!(!r.exact(br#"{"x""#));
        assert!(r.exact(br#"{"k":""#));
        assert_eq!(r.plain_str_rest(), None, "an escape is not plain");
        r.rewind(0);
        assert!(r.exact(br#"{"k":""#) && r.exact(b"v"));
        let mut r = Reader::new("ünï\"rest".as_bytes());
        assert_eq!(r.plain_str_rest(), Some("ünï"));
        assert!(r.exact(b"rest"));
        assert_eq!(Reader::new(b"\xff\"").plain_str_rest(), None, "not UTF-8");
        assert_eq!(Reader::new(b"a\tb\"").plain_str_rest(), None, "control character");
        assert_eq!(Reader::new(b"open").plain_str_rest(), None, "unterminated");
    }

    #[test]
    fn numbers_follow_json_grammar() {
        assert_eq!(scalar("0"), Some(Scalar::Num(Num::Int(0))));
        assert_eq!(scalar("-12"), Some(Scalar::Num(Num::Int(-12))));
        assert_eq!(scalar("1.5e2"), Some(Scalar::Num(Num::Float(150.0))));
        assert_eq!(scalar("1.0E-4"), Some(Scalar::Num(Num::Float(1.0e-4))));
        for bad in ["01", "-", "+1", ".5", "1.", "1e", "1e+", "--1", "1e400", "NaN", "-Infinity"] {
            assert_eq!(scalar(bad), None, "{bad}");
        }
        let big = scalar("9223372036854775808").unwrap();
        let Scalar::Num(n) = big else { panic!("{big:?}") };
        assert_eq!(n.to_i64(), i64::MAX);
        assert_eq!(n.to_f64(), 9223372036854775808.0);
        let Some(Scalar::Num(n)) = scalar("-99999999999999999999999") else { panic!() };
        assert_eq!(n.to_i64(), i64::MIN);
        assert_eq!(Num::Float(-2.7).to_i64(), -2);
        assert_eq!(scalar(&"9".repeat(400)), None, "serde_json refuses an infinite number");
    }

    #[test]
    fn strings_unescape_like_json_and_bail_on_bad_input() {
        let s = |v: &str| Some(Scalar::Str(Cow::Owned(v.to_owned())));
        assert_eq!(scalar(r#""abc""#), s("abc"));
        assert!(matches!(scalar(r#""abc""#), Some(Scalar::Str(Cow::Borrowed("abc")))));
        assert_eq!(scalar("\"h\u{e9}llo \u{1F600}\""), s("h\u{e9}llo \u{1F600}"));
        assert_eq!(scalar(r#""""#), s(""));
        assert_eq!(scalar(r#""a\"b\\c\/d\b\f\n\r\t""#), s("a\"b\\c/d\u{8}\u{c}\n\r\t"));
        assert_eq!(scalar(r#""a\u0041\u00e9\u4e3B""#), s("aA\u{e9}\u{4e3b}"));
        assert_eq!(scalar(r#""\ud83d\ude00!""#), s("\u{1F600}!"));
        for bad in [
            r#""\ud83d""#,
            r#""\ud83dx""#,
            r#""\ud83d\u0041""#,
            r#""\ude00""#,
            r#""\u12""#,
            r#""\u12G4""#,
            r#""\x""#,
            r#""a\""#,
            "\"a\\\tb\"",
            "\"a\tb\"",
            "\"unterminated",
        ] {
            assert_eq!(scalar(bad), None, "{bad}");
        }
        let mut r = Reader::new(b"\"\xff\"");
        assert_eq!(r.str(), None, "invalid UTF-8");
        let mut r = Reader::new(b"\"\\n\xff\"");
        assert_eq!(r.str(), None, "invalid UTF-8 after an escape");
    }

    #[test]
    fn swar_scan_finds_every_stop_byte() {
        for len in 0..40 {
            for pos in 0..len {
                for c in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut v = vec![b'a'; len];
                    v[pos] = c;
                    // Bytes around the hit that are close to the stop set must not confuse it.
                    if pos > 0 {
                        v[pos - 1] = [0xE2, 0x20, b'#', 0x9c, 0xA0][pos % 5];
                    }
                    if pos + 1 < len {
                        v[pos + 1] = b'"';
                    }
                    assert_eq!(find_stop(&v, 0), Some(pos), "len={len} pos={pos} c={c}");
                    assert_eq!(find_stop(&v, pos), Some(pos));
                }
            }
            let clean: Vec<u8> = (0..len).map(|i| [0x20, 0x7f, 0x80, 0xff, b'!', b'#', b'[', b']'][i % 8]).collect();
            assert_eq!(find_stop(&clean, 0), None, "len={len}");
            assert_eq!(find_stop(&clean, len + 3), None);
        }
    }

    #[test]
    fn literals_and_trailing_garbage() {
        assert_eq!(scalar("null"), Some(Scalar::Null));
        assert_eq!(scalar(" true "), Some(Scalar::Bool(true)));
        assert_eq!(scalar("false"), Some(Scalar::Bool(false)));
        assert_eq!(scalar("nul"), None);
        assert_eq!(scalar("truex"), None);
        assert_eq!(scalar("1 2"), None);
    }

    #[test]
    fn skip_is_strict_and_bounded() {
        let ok = |s: &str| {
            let mut r = Reader::new(s.as_bytes());
            r.skip().and_then(|_| r.end()).is_some()
        };
        assert!(ok(r#"{"a":[1,{"b":null},"x",true],"c":{}}"#));
        assert!(ok("[]"));
        assert!(ok("[ ]"));
        for bad in [
            "{0:1}",
            "{{\"a\":1}:2}",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "[1 2]",
            "{\"$ref\":\"$\"}",
            "{\"a\":[}",
            "[",
            "",
        ] {
            assert!(!ok(bad), "{bad}");
        }
        let deep = "[".repeat(MAX_SKIP_DEPTH + 2) + &"]".repeat(MAX_SKIP_DEPTH + 2);
        assert!(!ok(&deep));
        let shallow = "[".repeat(10) + &"]".repeat(10);
        assert!(ok(&shallow));
    }

    #[test]
    fn object_reader_sees_keys_in_order_and_duplicates() {
        let mut seen = Vec::new();
        let mut r = Reader::new(br#"{"a":1, "b" : "x", "a":null}"#);
        r.object(|r, k| {
            seen.push((utf8(k)?.to_owned(), r.scalar()?));
            Some(())
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                ("a".to_owned(), Scalar::Num(Num::Int(1))),
                ("b".to_owned(), Scalar::Str(Cow::Borrowed("x"))),
                ("a".to_owned(), Scalar::Null)
            ]
        );
    }

    #[test]
    fn garbage_never_panics() {
        let alphabet = b"{}[]\":,\\ 0-1aen.E\x00\xc3";
        let mut rng = crate::protocol::test_rng::XorShift(0x2545_F491_4F6C_DD1D);
        for len in 0..200 {
            let v = rng.bytes(alphabet, len);
            let mut r = Reader::new(&v);
            let _ = r.skip();
            let mut r = Reader::new(&v);
            let _ = r.object_keyed(|r| r.str(), |r, _| r.skip());
            let mut r = Reader::new(&v);
            let _ = r.object(|r, k| r.skip_field(k));
            let mut r = Reader::new(&v);
            let _ = r.object_with_keys(|r, _| r.skip());
        }
    }
}
