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

    fn decode_where(body: &[u8], keep: impl Fn(&str) -> bool) -> Result<Self, DecodeError> {
        let text = String::from_utf8_lossy(body);
        let mut entries = BTreeMap::new();
        for line in text.lines() {
            // A byte search (both separators are ASCII, so the index is a char boundary);
            // `find` with a char pattern decodes every char and costs several times more.
            let Some(sep) = line.bytes().position(|b| b == b'=' || b == b':') else {
                continue;
            };
            let key = line[..sep].trim();
            if key.is_empty() || key.starts_with('#') || key.starts_with('!') || !keep(key) {
                continue;
            }
            entries.insert(key.to_owned(), line[sep + 1..].to_owned());
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
