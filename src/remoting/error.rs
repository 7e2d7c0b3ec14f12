//! Typed errors of the remoting transport and of broker answers.

use std::time::Duration;

use super::codes::response;
use super::frame::FrameError;

#[derive(Debug, thiserror::Error)]
pub enum RemotingError {
    #[error("connect to {addr} failed: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("connect to {addr} timed out after {after:?}")]
    ConnectTimeout { addr: String, after: Duration },
    #[error("TLS with {addr} failed: {reason}")]
    Tls { addr: String, reason: String },
    #[error("request {code} to {addr} timed out after {after:?}")]
    Timeout { addr: String, code: i32, after: Duration },
    #[error("I/O error with {addr}: {source}")]
    Io { addr: String, source: std::io::Error },
    #[error("{addr} closed the connection before answering")]
    Closed { addr: String },
    #[error("protocol error from {addr}: {source}")]
    Protocol { addr: String, source: FrameError },
    /// The peer answered with a non-success response code.
    #[error("request {request_code} to {addr} answered {}: {remark}", response_name(*response_code, remark))]
    Response { addr: String, request_code: i32, response_code: i32, remark: String },
    #[error("could not decode the answer to request {code} from {addr}: {reason}")]
    Decode { addr: String, code: i32, reason: String },
}

/// Human name for a response code, telling ACL 1.0 failures apart from other system errors.
fn response_name(code: i32, remark: &str) -> &'static str {
    match code {
        response::SYSTEM_ERROR if remark.contains("AclException") => "ACL denied (SYSTEM_ERROR)",
        response::SYSTEM_ERROR => "SYSTEM_ERROR",
        response::SYSTEM_BUSY => "SYSTEM_BUSY",
        response::REQUEST_CODE_NOT_SUPPORTED => "REQUEST_CODE_NOT_SUPPORTED",
        response::NO_PERMISSION => "NO_PERMISSION",
        response::TOPIC_NOT_EXIST => "TOPIC_NOT_EXIST",
        response::GO_AWAY => "GO_AWAY",
        _ => "error",
    }
}

impl RemotingError {
    /// Short label for `rocketmq_exporter_requests_total{outcome}`: a fixed, small set.
    pub fn outcome(&self) -> &'static str {
        match self {
            RemotingError::Connect { .. } | RemotingError::ConnectTimeout { .. } => "connect",
            RemotingError::Tls { .. } => "tls",
            RemotingError::Timeout { .. } => "timeout",
            RemotingError::Io { .. } | RemotingError::Closed { .. } => "transport",
            RemotingError::Protocol { .. } => "protocol",
            RemotingError::Decode { .. } => "decode",
            RemotingError::Response { response_code, remark, .. } => match *response_code {
                response::REQUEST_CODE_NOT_SUPPORTED => "unsupported",
                response::SYSTEM_BUSY => "busy",
                response::NO_PERMISSION => "denied",
                response::SYSTEM_ERROR if remark.contains("AclException") => "denied",
                response::TOPIC_NOT_EXIST => "not_found",
                response::GO_AWAY => "go_away",
                _ => "error",
            },
        }
    }

    /// The peer does not know this request (e.g. 907 on a 4.x broker). rocketmq-rust answers
    /// unknown codes with 16, so callers that probe optional codes treat both the same.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, RemotingError::Response { response_code, .. }
            if *response_code == response::REQUEST_CODE_NOT_SUPPORTED)
    }

    pub fn response_code(&self) -> Option<i32> {
        match self {
            RemotingError::Response { response_code, .. } => Some(*response_code),
            _ => None,
        }
    }

    /// The same failure again, for every request of a batch it ended (I/O errors keep their kind
    /// and message, not their source chain).
    pub(crate) fn duplicate(&self) -> RemotingError {
        let io = |e: &std::io::Error| std::io::Error::new(e.kind(), e.to_string());
        match self {
            RemotingError::Connect { addr, source } => RemotingError::Connect { addr: addr.clone(), source: io(source) },
            RemotingError::ConnectTimeout { addr, after } => RemotingError::ConnectTimeout { addr: addr.clone(), after: *after },
            RemotingError::Tls { addr, reason } => RemotingError::Tls { addr: addr.clone(), reason: reason.clone() },
            RemotingError::Timeout { addr, code, after } => RemotingError::Timeout { addr: addr.clone(), code: *code, after: *after },
            RemotingError::Io { addr, source } => RemotingError::Io { addr: addr.clone(), source: io(source) },
            RemotingError::Closed { addr } => RemotingError::Closed { addr: addr.clone() },
            RemotingError::Protocol { addr, source } => RemotingError::Protocol { addr: addr.clone(), source: source.clone() },
            RemotingError::Response { addr, request_code, response_code, remark } => RemotingError::Response {
                addr: addr.clone(),
                request_code: *request_code,
                response_code: *response_code,
                remark: remark.clone(),
            },
            RemotingError::Decode { addr, code, reason } => RemotingError::Decode { addr: addr.clone(), code: *code, reason: reason.clone() },
        }
    }

    /// Worth retrying once on a fresh connection: the server may have closed an idle one.
    pub(crate) fn is_stale_connection(&self) -> bool {
        matches!(self, RemotingError::Closed { .. } | RemotingError::Io { .. })
    }
}
