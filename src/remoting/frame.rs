//! RocketMQ remoting frames: pure encode/decode, no I/O.
//!
//! A frame is `int32 length | int32 (serializeType << 24 | headerLength) | header | body`,
//! big-endian, where `length` counts everything after itself. The header is either fastjson
//! JSON (serialize type 0) or the fixed ROCKETMQ binary layout (type 1). Servers choose the
//! response type independently of the request (PROTOCOL.md §1.6), so every received frame is
//! decoded by looking at its own high byte.
//!
//! Like mini-redis' `Frame::check`, [`check`] only looks at the length word so a connection
//! can tell "need more bytes" from "bad frame" before allocating anything: an announced length
//! above the cap is refused from the first four bytes.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::Deserialize;

/// Largest legal value of the length word on a Java peer (Netty's 16 MiB cap includes the prefix).
pub const DEFAULT_MAX_FRAME_LENGTH: usize = 16_777_212;

/// Header-length field is 24 bits wide.
const MAX_HEADER_LENGTH: usize = 0x00FF_FFFF;

/// `version` we send: MQVersion V4_9_8. Inside 401..=475 so route data comes back as standard
/// JSON and 5.3.x never answers GO_AWAY (PROTOCOL.md §1.7).
pub const CLIENT_VERSION: i32 = 409;

/// Flag bit 0: this command is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// Flag bit 1: oneway request, no response expected.
pub const FLAG_ONEWAY: i32 = 2;

/// How the header of a frame is serialized (high byte of the second word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerializeType {
    #[default]
    Json,
    RocketMq,
}

impl SerializeType {
    pub fn code(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SerializeType::Json => "JSON",
            SerializeType::RocketMq => "ROCKETMQ",
        }
    }
}

/// `LanguageCode` names in ordinal order; the binary header carries the ordinal.
const LANGUAGES: [&str; 14] = [
    "JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP",
    "OMS", "RUST", "NODE_JS",
];

/// A JSON string as `serde_json` writes it.
fn put_json_str(dst: &mut BytesMut, s: &str) {
    dst.put_u8(b'"');
    crate::protocol::lenient_json::put_escaped(dst, s.as_bytes());
    dst.put_u8(b'"');
}

fn language_code(name: &str) -> u8 {
    LANGUAGES.iter().position(|l| *l == name).unwrap_or(0) as u8
}

fn language_name(code: u8) -> String {
    LANGUAGES
        .get(code as usize)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("UNKNOWN({code})"))
}

/// One remoting command, request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotingCommand {
    /// Request code in requests, response code in responses.
    pub code: i32,
    pub language: String,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    /// The "custom header": Java field name -> value as string. Sorted, so encoding is stable.
    pub ext_fields: BTreeMap<String, String>,
    pub body: Bytes,
    /// Header encoding this command was received with, or will be sent with.
    pub serialize_type: SerializeType,
}

impl RemotingCommand {
    /// A request as a Java client would build it (language JAVA, version 409, JSON header).
    pub fn request(code: i32) -> Self {
        RemotingCommand {
            code,
            language: "JAVA".to_string(),
            version: CLIENT_VERSION,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields: BTreeMap::new(),
            body: Bytes::new(),
            serialize_type: SerializeType::Json,
        }
    }

    /// A response to `request`, used by the simulated servers.
    pub fn response_to(request: &RemotingCommand, code: i32, remark: Option<String>) -> Self {
        RemotingCommand {
            code,
            language: "JAVA".to_string(),
            version: CLIENT_VERSION,
            opaque: request.opaque,
            flag: FLAG_RESPONSE,
            remark,
            ext_fields: BTreeMap::new(),
            body: Bytes::new(),
            serialize_type: SerializeType::Json,
        }
    }

    pub fn with_ext(mut self, key: &str, value: impl Into<String>) -> Self {
        self.ext_fields.insert(key.to_string(), value.into());
        self
    }

    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// Appends the whole frame, length prefix included, to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(8 + 160 + self.body.len());
        self.encode_head(dst);
        dst.put_slice(&self.body);
    }

    /// Appends the frame without its body: the length words (which count the body) and the
    /// header. A server that holds its bodies as shared buffers sends them after this, unchanged,
    /// with a vectored write instead of copying each into the frame.
    pub fn encode_head(&self, dst: &mut BytesMut) {
        if self.serialize_type == SerializeType::Json {
            // Written in place, then the two length words patched in front: every request of
            // every cycle is encoded, and a header built apart costs a buffer and a copy.
            let at = dst.len();
            dst.reserve(8 + 160);
            dst.put_u64(0);
            self.put_json_header(dst);
            let header_len = dst.len() - at - 8;
            let length = (4 + header_len + self.body.len()) as u32;
            dst[at..at + 4].copy_from_slice(&length.to_be_bytes());
            dst[at + 4..at + 8].copy_from_slice(&(((self.serialize_type.code() as u32) << 24) | (header_len as u32 & 0x00FF_FFFF)).to_be_bytes());
            return;
        }
        let header = self.rocketmq_header();
        let length = 4 + header.len() + self.body.len();
        dst.reserve(8 + header.len());
        dst.put_u32(length as u32);
        dst.put_u32(((self.serialize_type.code() as u32) << 24) | (header.len() as u32 & 0x00FF_FFFF));
        dst.put_slice(&header);
    }

    /// The JSON header as fastjson orders it (fields alphabetical, absent ones omitted), byte
    /// for byte what `serde_json` writes for the same fields (a test holds it to that).
    fn put_json_header(&self, dst: &mut BytesMut) {
        let mut n = itoa::Buffer::new();
        dst.put_slice(b"{\"code\":");
        dst.put_slice(n.format(self.code).as_bytes());
        if !self.ext_fields.is_empty() {
            dst.put_slice(b",\"extFields\":{");
            for (i, (k, v)) in self.ext_fields.iter().enumerate() {
                if i > 0 {
                    dst.put_u8(b',');
                }
                put_json_str(dst, k);
                dst.put_u8(b':');
                put_json_str(dst, v);
            }
            dst.put_u8(b'}');
        }
        dst.put_slice(b",\"flag\":");
        dst.put_slice(n.format(self.flag).as_bytes());
        dst.put_slice(b",\"language\":");
        put_json_str(dst, &self.language);
        dst.put_slice(b",\"opaque\":");
        dst.put_slice(n.format(self.opaque).as_bytes());
        if let Some(r) = &self.remark {
            dst.put_slice(b",\"remark\":");
            put_json_str(dst, r);
        }
        dst.put_slice(b",\"serializeTypeCurrentRPC\":");
        put_json_str(dst, self.serialize_type.name());
        dst.put_slice(b",\"version\":");
        dst.put_slice(n.format(self.version).as_bytes());
        dst.put_u8(b'}');
    }

    /// Convenience for tests and the simulator.
    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::new();
        self.encode(&mut b);
        b.freeze()
    }

    /// fastjson field order (alphabetical), nulls omitted, through serde: the reference that
    /// [`Self::put_json_header`] must reproduce.
    #[cfg(test)]
    fn json_header(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Out<'a> {
            code: i32,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            ext_fields: &'a BTreeMap<String, String>,
            flag: i32,
            language: &'a str,
            opaque: i32,
            #[serde(skip_serializing_if = "Option::is_none")]
            remark: &'a Option<String>,
            #[serde(rename = "serializeTypeCurrentRPC")]
            serialize_type_current_rpc: &'static str,
            version: i32,
        }
        serde_json::to_vec(&Out {
            code: self.code,
            ext_fields: &self.ext_fields,
            flag: self.flag,
            language: &self.language,
            opaque: self.opaque,
            remark: &self.remark,
            serialize_type_current_rpc: self.serialize_type.name(),
            version: self.version,
        })
        .expect("header serialization cannot fail")
    }

    fn rocketmq_header(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(64);
        h.put_i16(self.code as i16);
        h.put_u8(language_code(&self.language));
        h.put_i16(self.version as i16);
        h.put_i32(self.opaque);
        h.put_i32(self.flag);
        match &self.remark {
            Some(r) if !r.is_empty() => {
                h.put_i32(r.len() as i32);
                h.put_slice(r.as_bytes());
            }
            _ => h.put_i32(0),
        }
        let mut ext = Vec::new();
        for (k, v) in &self.ext_fields {
            ext.put_i16(k.len() as i16);
            ext.put_slice(k.as_bytes());
            ext.put_i32(v.len() as i32);
            ext.put_slice(v.as_bytes());
        }
        h.put_i32(ext.len() as i32);
        h.put_slice(&ext);
        h
    }
}

/// Why bytes could not be turned into a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not a whole frame yet; read more. Expected, not a failure.
    #[error("incomplete frame")]
    Incomplete,
    #[error("frame length {length} exceeds the limit of {max} bytes (--collect.max-frame-size)")]
    TooLong { length: usize, max: usize },
    #[error("frame length {length} is too small to hold the header word")]
    TooShort { length: usize },
    #[error("header length {header} does not fit in frame length {length}")]
    BadHeaderLength { header: usize, length: usize },
    #[error("unknown serialize type {0}")]
    UnknownSerializeType(u8),
    #[error("bad {kind} header: {reason}")]
    BadHeader { kind: &'static str, reason: String },
}

impl FrameError {
    /// Everything but `Incomplete` poisons the connection: framing is lost.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, FrameError::Incomplete)
    }
}

/// Checks whether `buf` starts with a whole frame. Returns its size including the length prefix.
/// Refuses an oversized length as soon as the length word is readable.
pub fn check(buf: &[u8], max_frame_length: usize) -> Result<usize, FrameError> {
    if buf.len() < 4 {
        return Err(FrameError::Incomplete);
    }
    let length = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if length > max_frame_length {
        return Err(FrameError::TooLong { length, max: max_frame_length });
    }
    if length < 4 {
        return Err(FrameError::TooShort { length });
    }
    if buf.len() < 8 {
        return Err(FrameError::Incomplete);
    }
    let word = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let header = (word as usize) & MAX_HEADER_LENGTH;
    if header > length - 4 {
        return Err(FrameError::BadHeaderLength { header, length });
    }
    if SerializeType::from_code((word >> 24) as u8).is_none() {
        return Err(FrameError::UnknownSerializeType((word >> 24) as u8));
    }
    if buf.len() < 4 + length {
        return Err(FrameError::Incomplete);
    }
    Ok(4 + length)
}

/// Takes one whole frame off the front of `buf`, if there is one.
pub fn decode(buf: &mut BytesMut, max_frame_length: usize) -> Result<Option<RemotingCommand>, FrameError> {
    match check(buf, max_frame_length) {
        Ok(n) => {
            let frame = buf.split_to(n).freeze();
            parse(frame).map(Some)
        }
        Err(FrameError::Incomplete) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Parses one whole frame (length prefix included), as validated by [`check`].
pub fn parse(mut frame: Bytes) -> Result<RemotingCommand, FrameError> {
    if frame.len() < 8 {
        return Err(FrameError::TooShort { length: frame.len().saturating_sub(4) });
    }
    let length = frame.get_u32() as usize;
    if length != frame.len() {
        return Err(FrameError::BadHeaderLength { header: 0, length });
    }
    let word = frame.get_u32();
    let header_len = (word as usize) & MAX_HEADER_LENGTH;
    let ser = SerializeType::from_code((word >> 24) as u8)
        .ok_or(FrameError::UnknownSerializeType((word >> 24) as u8))?;
    if header_len > frame.len() {
        return Err(FrameError::BadHeaderLength { header: header_len, length });
    }
    let header = frame.split_to(header_len);
    let mut cmd = match ser {
        SerializeType::Json => parse_json_header(&header)?,
        SerializeType::RocketMq => parse_rocketmq_header(&header)?,
    };
    cmd.body = frame;
    cmd.serialize_type = ser;
    Ok(cmd)
}

/// A JSON scalar that we keep as its string form (Java sends strings, others may not).
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    S(String),
    I(i64),
    F(f64),
    B(bool),
    Null(()),
}

impl Scalar {
    fn into_string(self) -> Option<String> {
        match self {
            Scalar::S(s) => Some(s),
            Scalar::I(i) => Some(i.to_string()),
            Scalar::F(f) => Some(f.to_string()),
            Scalar::B(b) => Some(b.to_string()),
            Scalar::Null(()) => None,
        }
    }
}

fn parse_json_header(header: &[u8]) -> Result<RemotingCommand, FrameError> {
    match json_header_fast(header) {
        Some(cmd) => Ok(cmd),
        None => parse_json_header_serde(header),
    }
}

/// Every answer has a JSON header, and serde's per-header costs (a `String` per key, a map of
/// `Scalar`s) are a noticeable share of a cycle: the usual headers are read with the strict
/// reader instead, which gives up (`None`, serde decides) on anything it does not read exactly
/// as serde would: duplicate fields, floats, nested values, out-of-range numbers.
fn json_header_fast(header: &[u8]) -> Option<RemotingCommand> {
    use crate::protocol::strict_json::{Num, Reader, Scalar as S};
    if let Some(cmd) = json_header_plain(header) {
        return Some(cmd);
    }
    let int = |r: &mut Reader<'_>| match r.scalar()? {
        S::Num(Num::Int(v)) => i32::try_from(v).ok(),
        _ => None,
    };
    let text = |r: &mut Reader<'_>| match r.scalar()? {
        S::Null => Some(None),
        S::Str(s) => Some(Some(s.into_owned())),
        _ => None,
    };
    let mut cmd = RemotingCommand {
        code: 0,
        language: String::new(),
        version: 0,
        opaque: 0,
        flag: 0,
        remark: None,
        ext_fields: BTreeMap::new(),
        body: Bytes::new(),
        serialize_type: SerializeType::Json,
    };
    let mut language = None;
    let mut seen = 0u8;
    let mut r = Reader::new(header);
    r.object(|r, key| {
        let bit = match key {
            b"code" => 1,
            b"language" => 2,
            b"version" => 4,
            b"opaque" => 8,
            b"flag" => 16,
            b"remark" => 32,
            b"extFields" => 64,
            _ => return r.skip_field(key),
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        match bit {
            1 => cmd.code = int(r)?,
            2 => language = text(r)?,
            4 => cmd.version = int(r)?,
            8 => cmd.opaque = int(r)?,
            16 => cmd.flag = int(r)?,
            32 => cmd.remark = text(r)?,
            _ => {
                if r.null() {
                    return Some(());
                }
                let fields = &mut cmd.ext_fields;
                r.object_with_keys(|r, k| {
                    let v = match r.scalar()? {
                        S::Null => return Some(()),
                        S::Str(s) => s.into_owned(),
                        S::Bool(b) => b.to_string(),
                        S::Num(Num::Int(i)) => i.to_string(),
                        _ => return None,
                    };
                    fields.insert(k.into_owned(), v);
                    Some(())
                })?;
            }
        }
        Some(())
    })?;
    r.end()?;
    cmd.language = language.unwrap_or_else(|| "JAVA".to_string());
    Some(cmd)
}

/// An answer header in exactly the layout Java's fastjson writes without ext fields, fields in
/// name order, no whitespace: `{"code":0,"flag":1,"language":"JAVA","opaque":3[,"remark":"…"],
/// "serializeTypeCurrentRPC":"JSON","version":475}`. Each piece is matched in place, with
/// none of the object reader's per-key work; anything else is `None`, for the object reader.
fn json_header_plain(header: &[u8]) -> Option<RemotingCommand> {
    use crate::protocol::strict_json::Reader;
    let mut r = Reader::new(header);
    let int = |r: &mut Reader<'_>| i32::try_from(r.plain_int()?).ok();
    if !r.exact(b"{\"code\":") {
        return None;
    }
    let code = int(&mut r)?;
    if !r.exact(b",\"flag\":") {
        return None;
    }
    let flag = int(&mut r)?;
    if !r.exact(b",\"language\":\"") {
        return None;
    }
    let language = r.plain_str_rest()?;
    if !r.exact(b",\"opaque\":") {
        return None;
    }
    let opaque = int(&mut r)?;
    let remark = if r.exact(b",\"remark\":\"") { Some(r.plain_str_rest()?.to_owned()) } else { None };
    if !r.exact(b",\"serializeTypeCurrentRPC\":\"") {
        return None;
    }
    r.plain_str_rest()?;
    if !r.exact(b",\"version\":") {
        return None;
    }
    let version = int(&mut r)?;
    if !r.exact(b"}") {
        return None;
    }
    r.end()?;
    Some(RemotingCommand {
        code,
        language: language.to_owned(),
        version,
        opaque,
        flag,
        remark,
        ext_fields: BTreeMap::new(),
        body: Bytes::new(),
        serialize_type: SerializeType::Json,
    })
}

/// The general header reader: any JSON serde accepts for these fields.
fn parse_json_header_serde(header: &[u8]) -> Result<RemotingCommand, FrameError> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct In {
        code: i32,
        language: Option<String>,
        version: i32,
        opaque: i32,
        flag: i32,
        remark: Option<String>,
        ext_fields: Option<BTreeMap<String, Scalar>>,
    }
    let h: In = serde_json::from_slice(header).map_err(|e| FrameError::BadHeader {
        kind: "JSON",
        reason: format!("{e} in {}", excerpt(header)),
    })?;
    Ok(RemotingCommand {
        code: h.code,
        language: h.language.unwrap_or_else(|| "JAVA".to_string()),
        version: h.version,
        opaque: h.opaque,
        flag: h.flag,
        remark: h.remark,
        ext_fields: h
            .ext_fields
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.into_string().map(|v| (k, v)))
            .collect(),
        body: Bytes::new(),
        serialize_type: SerializeType::Json,
    })
}

/// First bytes of a payload, for error messages.
pub fn excerpt(bytes: &[u8]) -> String {
    const N: usize = 80;
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(N)]);
    if bytes.len() > N {
        format!("{s:?}…")
    } else {
        format!("{s:?}")
    }
}

fn parse_rocketmq_header(mut h: &[u8]) -> Result<RemotingCommand, FrameError> {
    fn bad(reason: impl Into<String>) -> FrameError {
        FrameError::BadHeader { kind: "ROCKETMQ", reason: reason.into() }
    }
    fn need(h: &[u8], n: usize, what: &str) -> Result<(), FrameError> {
        if h.remaining() < n {
            Err(bad(format!("truncated at {what}")))
        } else {
            Ok(())
        }
    }
    fn string(h: &mut &[u8], len: usize, what: &str) -> Result<String, FrameError> {
        need(h, len, what)?;
        let s = String::from_utf8_lossy(&h[..len]).into_owned();
        h.advance(len);
        Ok(s)
    }
    need(h, 17, "fixed part")?;
    let code = h.get_i16() as i32;
    let language = language_name(h.get_u8());
    let version = h.get_i16() as i32;
    let opaque = h.get_i32();
    let flag = h.get_i32();
    let remark_len = h.get_i32();
    if remark_len < 0 {
        return Err(bad(format!("negative remark length {remark_len}")));
    }
    let remark = if remark_len == 0 {
        None
    } else {
        Some(string(&mut h, remark_len as usize, "remark")?)
    };
    need(h, 4, "ext length")?;
    let ext_len = h.get_i32();
    if ext_len < 0 || ext_len as usize > h.remaining() {
        return Err(bad(format!("ext fields length {ext_len} exceeds header")));
    }
    let mut ext = &h[..ext_len as usize];
    let mut ext_fields = BTreeMap::new();
    while ext.has_remaining() {
        need(ext, 2, "ext key length")?;
        let klen = ext.get_i16();
        if klen < 0 {
            return Err(bad(format!("negative key length {klen}")));
        }
        let key = string(&mut ext, klen as usize, "ext key")?;
        need(ext, 4, "ext value length")?;
        let vlen = ext.get_i32();
        if vlen < 0 {
            return Err(bad(format!("negative value length {vlen}")));
        }
        let value = string(&mut ext, vlen as usize, "ext value")?;
        if !key.is_empty() && !value.is_empty() {
            ext_fields.insert(key, value);
        }
    }
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields,
        body: Bytes::new(),
        serialize_type: SerializeType::RocketMq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
    }

    /// The header written in place is byte for byte serde_json's, for any field values:
    /// escapes, control characters, non-ASCII text, extremes, empty and absent fields.
    #[test]
    fn json_header_written_in_place_is_serde_jsons() {
        let mut rng = crate::protocol::test_rng::XorShift(0x0DD_F00D_5EED_0042);
        let pieces = ["a", "Z9", "\"", "\\", "/", "\u{8}", "\u{c}", "\n", "\r", "\t", "\u{0}", "\u{1f}", "\u{7f}", "é", "主题", "😀", " ", ":", "{}"];
        let text = |rng: &mut crate::protocol::test_rng::XorShift| -> String {
            (0..rng.next() % 6).map(|_| pieces[(rng.next() % pieces.len() as u64) as usize]).collect()
        };
        let ints = [0, 1, -1, 409, i32::MAX, i32::MIN, 1 << 20];
        for case in 0..3000 {
            let mut cmd = RemotingCommand::request(ints[(rng.next() % ints.len() as u64) as usize]);
            cmd.opaque = ints[(rng.next() % ints.len() as u64) as usize];
            cmd.flag = ints[(rng.next() % ints.len() as u64) as usize];
            cmd.version = ints[(rng.next() % ints.len() as u64) as usize];
            cmd.language = text(&mut rng);
            for _ in 0..rng.next() % 4 {
                let (k, v) = (text(&mut rng), text(&mut rng));
                cmd.ext_fields.insert(k, v);
            }
            if rng.next().is_multiple_of(2) {
                cmd.remark = Some(text(&mut rng));
            }
            cmd.body = Bytes::from(text(&mut rng).into_bytes());
            let header = cmd.json_header();
            let bytes = cmd.to_bytes();
            let want_len = 4 + header.len() + cmd.body.len();
            assert_eq!(&bytes[..4], &(want_len as u32).to_be_bytes(), "case {case}");
            assert_eq!(&bytes[4..8], &(header.len() as u32).to_be_bytes(), "case {case}");
            assert_eq!(&bytes[8..8 + header.len()], &header[..], "case {case}: {}", String::from_utf8_lossy(&bytes[8..]));
            assert_eq!(&bytes[8 + header.len()..], &cmd.body[..], "case {case}");
            // Appending keeps what the buffer held.
            let mut buf = BytesMut::from(&b"xy"[..]);
            cmd.encode(&mut buf);
            assert_eq!((&buf[..2], &buf[2..]), (&b"xy"[..], &bytes[..]), "case {case}");
        }
    }

    #[test]
    fn json_request_matches_protocol_worked_example() {
        // PROTOCOL.md §1.10: GET_BROKER_CLUSTER_INFO, opaque 1, header of 97 bytes.
        let mut cmd = RemotingCommand::request(106);
        cmd.opaque = 1;
        let bytes = cmd.to_bytes();
        let expected_header =
            br#"{"code":106,"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":409}"#;
        assert_eq!(expected_header.len(), 97);
        assert_eq!(&bytes[..8], &[0, 0, 0, 0x65, 0, 0, 0, 0x61]);
        assert_eq!(&bytes[8..], &expected_header[..]);
    }

    #[test]
    fn rocketmq_request_matches_protocol_worked_example() {
        // PROTOCOL.md §1.10: GET_CONSUME_STATS, ROCKETMQ header, extFields {consumerGroup: G1}.
        let mut cmd = RemotingCommand::request(208).with_ext("consumerGroup", "G1");
        cmd.opaque = 1;
        cmd.serialize_type = SerializeType::RocketMq;
        let bytes = cmd.to_bytes();
        let mut expected = vec![
            0x00, 0x00, 0x00, 0x2e, 0x01, 0x00, 0x00, 0x2a, 0x00, 0xd0, 0x00, 0x01, 0x99, 0, 0, 0, 1, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0x15, 0x00, 0x0d,
        ];
        expected.extend_from_slice(b"consumerGroup");
        expected.extend_from_slice(&[0, 0, 0, 2]);
        expected.extend_from_slice(b"G1");
        assert_eq!(hex(&bytes), hex(&expected));
    }

    #[test]
    fn round_trips_both_header_types_with_body() {
        for ser in [SerializeType::Json, SerializeType::RocketMq] {
            let mut cmd = RemotingCommand::request(317).with_ext("isOrder", "false").with_body(&b"{\"a\":1}"[..]);
            cmd.opaque = 77;
            cmd.flag = FLAG_RESPONSE;
            cmd.remark = Some("hello".into());
            cmd.serialize_type = ser;
            let mut buf = BytesMut::from(&cmd.to_bytes()[..]);
            let got = decode(&mut buf, DEFAULT_MAX_FRAME_LENGTH).unwrap().unwrap();
            assert_eq!(got, cmd);
            assert!(buf.is_empty());
        }
    }

    /// The strict header reader must agree with serde whenever it accepts a header, and accept
    /// the headers Java and rocketmq-rust actually send.
    #[test]
    fn fast_json_header_agrees_with_serde() {
        let headers: &[&str] = &[
            r#"{"code":0,"flag":1,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":475}"#,
            r#"{"code":1,"extFields":{"a":"x","n":7,"b":true,"z":null},"flag":1,"language":"JAVA","opaque":9,"remark":"boom \"quoted\" \u00e9","serializeTypeCurrentRPC":"JSON","version":399}"#,
            r#"{"code":0,"language":"RUST","version":0,"opaque":1,"flag":1,"remark":null,"extFields":null,"serializeTypeCurrentRPC":"JSON"}"#,
            r#"{ "code" : 17 , "flag" : 1 , "opaque" : -5 }"#,
            r#"{"code":0,"code":1}"#,
            r#"{"code":1.0,"flag":1}"#,
            r#"{"code":-0,"flag":1}"#,
            r#"{"code":2147483648}"#,
            r#"{"code":"0"}"#,
            r#"{"code":null}"#,
            r#"{"language":7}"#,
            r#"{"extFields":{"f":1.5}}"#,
            r#"{"extFields":{"n":{"deep":1}}}"#,
            r#"{"extFields":{"k":"1","k":"2"}}"#,
            r#"{"extFields":[]}"#,
            r#"{"unknown":{"x":[1,2,{"y":null}]},"code":3}"#,
            r#"{"$ref":"$"}"#,
            r#"{"code":0} trailing"#,
            r#"[]"#,
            r#"{}"#,
            // fastjson's layout with a remark, an opaque past i32, trailing space, an escaped
            // language, and a remark of null (the plain match's edges).
            r#"{"code":17,"flag":1,"language":"JAVA","opaque":-2,"remark":"no topic","serializeTypeCurrentRPC":"JSON","version":475}"#,
            r#"{"code":0,"flag":1,"language":"JAVA","opaque":2147483648,"serializeTypeCurrentRPC":"JSON","version":475}"#,
            r#"{"code":0,"flag":1,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":475} "#,
            r#"{"code":0,"flag":1,"language":"JA\u0056A","opaque":3,"serializeTypeCurrentRPC":"JSON","version":475}"#,
            r#"{"code":0,"flag":1,"language":"JAVA","opaque":3,"remark":null,"serializeTypeCurrentRPC":"JSON","version":475}"#,
        ];
        // The plain match takes fastjson's layouts (checked against serde below with the rest).
        assert!(json_header_plain(headers[0].as_bytes()).is_some());
        assert!(json_header_plain(headers[20].as_bytes()).is_some_and(|c| c.remark.as_deref() == Some("no topic")));
        assert!(json_header_plain(headers[21].as_bytes()).is_none());
        let mut rng = crate::protocol::test_rng::XorShift(0x5EED_1234_ABCD_0001);
        let mut accepted = 0;
        for (n, h) in headers.iter().enumerate() {
            let mut cases = vec![h.as_bytes().to_vec()];
            for _ in 0..300 {
                let mut m = h.as_bytes().to_vec();
                match rng.next() % 3 {
                    0 => m.truncate((rng.next() as usize) % (m.len() + 1)),
                    1 => {
                        let i = (rng.next() as usize) % m.len();
                        m[i] = rng.pick(b"{}[]:,\"\\ 0123456789-.eEnultrfa\xff");
                    }
                    _ => {
                        let i = (rng.next() as usize) % (m.len() + 1);
                        m.insert(i, rng.pick(b" ,:\"0{}"));
                    }
                }
                cases.push(m);
            }
            for (i, c) in cases.iter().enumerate() {
                let slow = parse_json_header_serde(c);
                match json_header_fast(c) {
                    Some(fast) => {
                        accepted += 1;
                        assert_eq!(Ok(fast), slow, "header {n} case {i}: {:?}", String::from_utf8_lossy(c));
                    }
                    None if i == 0 && n < 4 => panic!("header {n} should take the fast path"),
                    None => {}
                }
            }
        }
        assert!(accepted > 100, "the fast path accepted only {accepted} headers");
    }

    #[test]
    fn incomplete_until_last_byte() {
        let bytes = RemotingCommand::request(28).to_bytes();
        for n in 0..bytes.len() {
            assert_eq!(check(&bytes[..n], DEFAULT_MAX_FRAME_LENGTH), Err(FrameError::Incomplete), "n={n}");
        }
        assert_eq!(check(&bytes, DEFAULT_MAX_FRAME_LENGTH), Ok(bytes.len()));
    }

    #[test]
    fn oversized_length_refused_from_four_bytes() {
        let two_gb = [0x80u8, 0, 0, 0];
        assert_eq!(
            check(&two_gb, DEFAULT_MAX_FRAME_LENGTH),
            Err(FrameError::TooLong { length: 0x8000_0000, max: DEFAULT_MAX_FRAME_LENGTH })
        );
        // "PRI " from an HTTP/2 preface is refused the same way (PROTOCOL.md §1.2).
        assert!(matches!(check(b"PRI * HTTP/2.0", DEFAULT_MAX_FRAME_LENGTH), Err(FrameError::TooLong { .. })));
        // The boundary: 16 777 212 is legal, one more is not.
        assert_eq!(check(&16_777_212u32.to_be_bytes(), DEFAULT_MAX_FRAME_LENGTH), Err(FrameError::Incomplete));
        assert!(matches!(check(&16_777_213u32.to_be_bytes(), DEFAULT_MAX_FRAME_LENGTH), Err(FrameError::TooLong { .. })));
    }

    #[test]
    fn header_longer_than_frame_is_refused() {
        let mut b = BytesMut::new();
        b.put_u32(10);
        b.put_u32(200);
        b.put_slice(&[0; 6]);
        assert!(matches!(check(&b, DEFAULT_MAX_FRAME_LENGTH), Err(FrameError::BadHeaderLength { .. })));
    }

    #[test]
    fn unknown_serialize_type_is_refused() {
        let mut b = BytesMut::new();
        b.put_u32(4);
        b.put_u32(0x0700_0000);
        assert_eq!(check(&b, DEFAULT_MAX_FRAME_LENGTH), Err(FrameError::UnknownSerializeType(7)));
    }

    #[test]
    fn garbage_json_header_is_an_error_with_excerpt() {
        let header = b"{not json";
        let mut b = BytesMut::new();
        b.put_u32(4 + header.len() as u32);
        b.put_u32(header.len() as u32);
        b.put_slice(header);
        let err = decode(&mut b, DEFAULT_MAX_FRAME_LENGTH).unwrap_err();
        assert!(err.to_string().contains("not json"), "{err}");
    }

    #[test]
    fn rust_peer_header_with_nulls_and_unsorted_keys() {
        // rocketmq-rust writes explicit nulls and its own key order.
        let header = br#"{"opaque":5,"code":0,"flag":1,"remark":null,"extFields":null,"language":"RUST","version":0,"serializeTypeCurrentRPC":"JSON"}"#;
        let mut b = BytesMut::new();
        b.put_u32(4 + header.len() as u32 + 2);
        b.put_u32(header.len() as u32);
        b.put_slice(header);
        b.put_slice(b"{}");
        let cmd = decode(&mut b, DEFAULT_MAX_FRAME_LENGTH).unwrap().unwrap();
        assert_eq!(cmd.opaque, 5);
        assert!(cmd.is_response());
        assert_eq!(cmd.remark, None);
        assert!(cmd.ext_fields.is_empty());
        assert_eq!(cmd.language, "RUST");
        assert_eq!(&cmd.body[..], b"{}");
    }

    #[test]
    fn numeric_ext_field_values_are_kept_as_strings() {
        let header = br#"{"code":0,"flag":1,"opaque":2,"extFields":{"offset":42,"ok":true,"gone":null}}"#;
        let mut b = BytesMut::new();
        b.put_u32(4 + header.len() as u32);
        b.put_u32(header.len() as u32);
        b.put_slice(header);
        let cmd = decode(&mut b, DEFAULT_MAX_FRAME_LENGTH).unwrap().unwrap();
        assert_eq!(cmd.ext_fields.get("offset").map(String::as_str), Some("42"));
        assert_eq!(cmd.ext_fields.get("ok").map(String::as_str), Some("true"));
        assert!(!cmd.ext_fields.contains_key("gone"));
    }

    #[test]
    fn truncated_rocketmq_header_is_an_error() {
        let mut cmd = RemotingCommand::request(28).with_ext("k", "v");
        cmd.serialize_type = SerializeType::RocketMq;
        let full = cmd.to_bytes();
        // Shrink the declared header length so the ext block runs past it.
        for cut in 1..10 {
            let mut b = BytesMut::from(&full[..]);
            let hl = (full.len() - 8 - cut) as u32;
            let total = 4 + hl;
            b.truncate(8 + hl as usize);
            b[0..4].copy_from_slice(&total.to_be_bytes());
            b[4..8].copy_from_slice(&((1u32 << 24) | hl).to_be_bytes());
            assert!(decode(&mut b, DEFAULT_MAX_FRAME_LENGTH).is_err(), "cut={cut}");
        }
    }

    #[test]
    fn two_frames_back_to_back() {
        let mut b = BytesMut::new();
        let mut a = RemotingCommand::request(1);
        a.opaque = 1;
        let mut c = RemotingCommand::request(2);
        c.opaque = 2;
        a.encode(&mut b);
        c.encode(&mut b);
        assert_eq!(decode(&mut b, DEFAULT_MAX_FRAME_LENGTH).unwrap().unwrap().opaque, 1);
        assert_eq!(decode(&mut b, DEFAULT_MAX_FRAME_LENGTH).unwrap().unwrap().opaque, 2);
        assert_eq!(decode(&mut b, DEFAULT_MAX_FRAME_LENGTH).unwrap(), None);
    }
}
