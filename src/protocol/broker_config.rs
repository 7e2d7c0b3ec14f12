//! `GET_BROKER_CONFIG` (26): the broker's effective configuration as text.
//!
//! Java writes `key=value` lines with no escaping; rocketmq-rust writes `key:value`. Values may
//! contain `=`, `:` and `\` (Windows paths), so each line is split at its first separator and the
//! rest is kept verbatim — never through a Java-properties parser, which would mangle `\`.

use std::collections::BTreeMap;

use super::DecodeError;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerConfig {
    pub entries: BTreeMap<String, String>,
}

impl BrokerConfig {
    /// Invalid UTF-8 is replaced rather than refused: a single odd byte in, say, a path value
    /// must not hide `brokerPermission`.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_where(body, |_| true)
    }

    /// Like [`decode`](Self::decode), keeping only `keys`: a Java broker sends ~200 lines and a
    /// collection cycle reads five of them, on every node.
    pub fn decode_keys(body: &[u8], keys: &[&str]) -> Result<Self, DecodeError> {
        Self::decode_where(body, |k| keys.contains(&k))
    }

    /// Works on bytes: only kept values are converted (lossily) to text, where converting the
    /// whole ~8 KB body first, then splitting the text into lines, went over every byte twice
    /// (about 10 % slower, BENCHMARKS.md §1). Same result as splitting the lossy text: `=`, `:`, `\n` and
    /// `\r` are ASCII, which never belongs to an invalid sequence, so lossy conversion commutes
    /// with splitting at them (`same_as_splitting_the_lossy_text` checks it).
    fn decode_where(body: &[u8], keep: impl Fn(&str) -> bool) -> Result<Self, DecodeError> {
        let mut entries = BTreeMap::new();
        let mut rest = body;
        while !rest.is_empty() {
            // As `str::lines`: "\r\n" ends a line too, a bare "\r" (also at the very end) does not.
            let (line, next) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (rest[..i].strip_suffix(b"\r").unwrap_or(&rest[..i]), &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = next;
            let Some(sep) = line.iter().position(|&b| b == b'=' || b == b':') else {
                continue;
            };
            let raw_key = &line[..sep];
            // Keys are ASCII in practice; any other byte takes the text route (Unicode trim).
            let key: std::borrow::Cow<'_, str> = if raw_key.is_ascii() {
                // `str::trim`'s ASCII whitespace (it includes \x0B, which `trim_ascii` does not).
                let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r');
                let start = raw_key.iter().position(|b| !ws(b)).unwrap_or(raw_key.len());
                let end = raw_key.iter().rposition(|b| !ws(b)).map_or(start, |i| i + 1);
                std::borrow::Cow::Borrowed(std::str::from_utf8(&raw_key[start..end]).expect("ASCII"))
            } else {
                std::borrow::Cow::Owned(String::from_utf8_lossy(raw_key).trim().to_owned())
            };
            if key.is_empty() || key.starts_with('#') || key.starts_with('!') || !keep(&key) {
                continue;
            }
            entries.insert(key.into_owned(), String::from_utf8_lossy(&line[sep + 1..]).into_owned());
        }
        Ok(BrokerConfig { entries })
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.entries.get(k).map(String::as_str)
    }

    /// `brokerPermission`: 6 = RW, 4 = read-only (drained writes).
    pub fn broker_permission(&self) -> Option<i64> {
        self.get("brokerPermission")?.trim().parse().ok()
    }

    /// `brokerRole`: `ASYNC_MASTER`, `SYNC_MASTER` or `SLAVE`.
    pub fn broker_role(&self) -> Option<&str> {
        Some(self.get("brokerRole")?.trim()).filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_lines_split_at_first_equals_value_verbatim() {
        let body = b"brokerPermission=4\nbrokerRole=ASYNC_MASTER\nnamesrvAddr=10.0.0.1:9876;10.0.0.2:9876\nstorePathRootDir=C:\\rocketmq\\store\nweird=a=b:c\nempty=\n\nnoseparator\n";
        let c = BrokerConfig::decode(body).unwrap();
        assert_eq!(c.broker_permission(), Some(4));
        assert_eq!(c.broker_role(), Some("ASYNC_MASTER"));
        assert_eq!(c.get("namesrvAddr"), Some("10.0.0.1:9876;10.0.0.2:9876"));
        assert_eq!(c.get("storePathRootDir"), Some("C:\\rocketmq\\store"));
        assert_eq!(c.get("weird"), Some("a=b:c"));
        assert_eq!(c.get("empty"), Some(""));
        assert_eq!(c.get("noseparator"), None);
        assert_eq!(c.entries.len(), 6);
    }

    #[test]
    fn decode_keys_keeps_only_the_named_keys_with_the_same_values() {
        let body = b"brokerName=b1\nbrokerPermission=4\n#brokerId=9\nbrokerId=0\nnamesrvAddr=a:1\nbrokerRole:SLAVE\r\nbrokerIdX=3\n";
        let keys = ["brokerPermission", "brokerRole", "brokerId", "missing"];
        let some = BrokerConfig::decode_keys(body, &keys).unwrap();
        let all = BrokerConfig::decode(body).unwrap();
        assert_eq!(some.entries.len(), 3, "{some:?}");
        for k in keys {
            assert_eq!(some.get(k), all.get(k), "{k}");
        }
        assert_eq!(some.get("brokerName"), None);
        assert_eq!(some.get("brokerIdX"), None);
        assert_eq!(some.broker_permission(), Some(4));
        assert_eq!(some.broker_role(), Some("SLAVE"));
    }

    /// The text route this decoder replaced: the whole body converted, then split into lines.
    fn decode_via_text(body: &[u8]) -> BTreeMap<String, String> {
        let text = String::from_utf8_lossy(body);
        let mut entries = BTreeMap::new();
        for line in text.lines() {
            let Some(sep) = line.bytes().position(|b| b == b'=' || b == b':') else { continue };
            let key = line[..sep].trim();
            if key.is_empty() || key.starts_with('#') || key.starts_with('!') {
                continue;
            }
            entries.insert(key.to_owned(), line[sep + 1..].to_owned());
        }
        entries
    }

    #[test]
    fn same_as_splitting_the_lossy_text() {
        // Separators, line ends, whitespace (ASCII and not), comment marks, invalid and
        // multi-byte UTF-8 (whole and cut), and plain letters.
        let alphabet: Vec<u8> = b"==::\n\n\r \t\x0B\x0C#!abcAB01\xff\xc3\xa9\xe3\x80\x80\xc2\xa0\xc2\x85".to_vec();
        let mut rng = crate::protocol::test_rng::XorShift(0x9e37_79b9_7f4a_7c15);
        for case in 0..20_000 {
            let len = (rng.next() % 64) as usize;
            let body = rng.bytes(&alphabet, len);
            let got = BrokerConfig::decode(&body).unwrap().entries;
            assert_eq!(got, decode_via_text(&body), "case {case}: {:?}", String::from_utf8_lossy(&body));
        }
        // Unicode whitespace around a key is trimmed as before (U+3000, U+00A0, U+0085).
        let c = BrokerConfig::decode("\u{3000}brokerRole\u{a0}=SLAVE\n\u{85}brokerId=1".as_bytes()).unwrap();
        assert_eq!(c.broker_role(), Some("SLAVE"));
        assert_eq!(c.get("brokerId"), Some("1"));
    }

    #[test]
    fn rocketmq_rust_colon_lines_and_crlf() {
        let c = BrokerConfig::decode(
            b"brokerPermission:6\r\nbrokerRole:SLAVE\r\nnamesrvAddr:127.0.0.1:9876\r\n",
        )
        .unwrap();
        assert_eq!(c.broker_permission(), Some(6));
        assert_eq!(c.broker_role(), Some("SLAVE"));
        assert_eq!(c.get("namesrvAddr"), Some("127.0.0.1:9876"));
    }

    #[test]
    fn missing_or_bad_values() {
        let c = BrokerConfig::decode(b"brokerPermission=rw\nbrokerRole=\n").unwrap();
        assert_eq!(c.broker_permission(), None);
        assert_eq!(c.broker_role(), None);
        let c = BrokerConfig::decode(b"").unwrap();
        assert!(c.entries.is_empty());
        let c = BrokerConfig::decode(b"brokerName=b\xffx\nbrokerPermission=2").unwrap();
        assert_eq!(c.broker_permission(), Some(2));
        assert_eq!(c.get("brokerName"), Some("b\u{fffd}x"));
    }
}
