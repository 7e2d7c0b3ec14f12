//! Why a response body could not be turned into a typed value.
//!
//! Every variant names *what* was being decoded (e.g. "ConsumeStatsList") so that a log line or a
//! `rocketmq_exporter_…_error` label points straight at the request that went wrong, and carries a
//! short excerpt of the offending bytes, because these bodies are too big to log whole.

/// A body that could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The body was not JSON we understand, even after the fastjson pre-pass.
    #[error("cannot decode {what}: {reason} near {excerpt}")]
    Json {
        what: &'static str,
        reason: String,
        excerpt: String,
    },
    /// The body of a text response was not UTF-8.
    #[error("cannot decode {what}: body is not UTF-8")]
    Utf8 { what: &'static str },
    /// The lenient pre-pass found broken structure (unterminated string, unbalanced brackets).
    /// `what` is empty when the caller was [`super::lenient_json::normalize`] itself.
    #[error("malformed JSON{}: {reason} at byte {offset} near {excerpt}", if what.is_empty() { String::new() } else { format!(" in {what}") })]
    Malformed {
        what: &'static str,
        reason: &'static str,
        offset: usize,
        excerpt: String,
    },
    /// fastjson's circular-reference marker `{"$ref":…}`: the real value is elsewhere in the graph,
    /// and reading the marker as a value would silently produce zeros, so refuse the body.
    #[error("cannot decode {what}: body contains a fastjson \"$ref\" back-reference")]
    CircularRef { what: &'static str },
    /// The response carried no body at all.
    #[error("cannot decode {what}: empty body")]
    Empty { what: &'static str },
}

impl DecodeError {
    /// Attaches the decoded type's name to an error raised before it was known.
    pub(crate) fn with_what(self, name: &'static str) -> Self {
        match self {
            DecodeError::Malformed {
                reason,
                offset,
                excerpt,
                ..
            } => DecodeError::Malformed {
                what: name,
                reason,
                offset,
                excerpt,
            },
            other => other,
        }
    }
}

/// Up to 40 bytes either side of `offset`, lossily decoded and quoted, for error messages.
pub(crate) fn excerpt_at(bytes: &[u8], offset: usize) -> String {
    const SIDE: usize = 40;
    let offset = offset.min(bytes.len());
    let start = offset.saturating_sub(SIDE);
    let end = (offset + SIDE).min(bytes.len());
    let s = String::from_utf8_lossy(&bytes[start..end]);
    format!(
        "{}{:?}{}",
        if start > 0 { "…" } else { "" },
        s,
        if end < bytes.len() { "…" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_is_bounded_and_marks_cuts() {
        let body = vec![b'x'; 1000];
        let e = excerpt_at(&body, 500);
        assert!(e.starts_with('…') && e.ends_with('…'));
        assert_eq!(e.matches('x').count(), 80);
        assert_eq!(excerpt_at(b"abc", 99), "\"abc\"");
        assert_eq!(excerpt_at(b"", 0), "\"\"");
    }

    #[test]
    fn with_what_names_malformed_errors() {
        let e = DecodeError::Malformed {
            what: "",
            reason: "r",
            offset: 3,
            excerpt: "x".into(),
        };
        let named = e.with_what("ClusterInfo");
        assert!(named.to_string().contains("in ClusterInfo"), "{named}");
    }
}
