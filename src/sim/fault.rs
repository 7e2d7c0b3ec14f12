//! Per-node misbehaviour, switchable at runtime, so clients can be tested against the ways a
//! real remoting peer (or something that is not one) fails.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::remoting::frame::RemotingCommand;

/// How a simulated server answers requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Normal answers.
    #[default]
    None,
    /// Accept and read requests, never reply (like a 4.9 NameServer on unknown codes).
    NeverAnswer,
    /// Reply with random bytes that are not a valid frame.
    Garbage,
    /// Reply with a length word announcing a 2 GB frame.
    OversizedLength,
    /// Send the first half of the real response frame, then close the connection.
    CloseMidFrame,
    /// A valid frame whose JSON body is cut in half.
    TruncatedJson,
    /// Answer normally after a delay.
    Latency(Duration),
}

/// Bytes to write: a frame's head and its body, kept apart so that a cached body goes out as it
/// is, by a vectored write, instead of being copied into each answer. 200 simulated brokers
/// share two cores with the client they answer, and copying ~20 KB per broker per cycle is the
/// simulator's cost, not a broker's.
#[derive(Debug, Clone, Default)]
pub struct Wire {
    pub head: Bytes,
    pub body: Bytes,
}

impl Wire {
    /// The whole frame of `resp`, its body shared.
    pub fn frame(resp: &RemotingCommand) -> Wire {
        let mut head = BytesMut::with_capacity(192);
        resp.encode_head(&mut head);
        Wire { head: head.freeze(), body: resp.body.clone() }
    }

    /// The bytes in one buffer (tests, and the faults that cut a frame).
    pub fn to_bytes(&self) -> Bytes {
        if self.body.is_empty() {
            return self.head.clone();
        }
        let mut b = BytesMut::with_capacity(self.head.len() + self.body.len());
        b.put_slice(&self.head);
        b.put_slice(&self.body);
        b.freeze()
    }
}

impl From<Bytes> for Wire {
    fn from(head: Bytes) -> Wire {
        Wire { head, body: Bytes::new() }
    }
}

/// What the connection should do for one request.
#[derive(Debug)]
pub enum Action {
    /// Write these bytes.
    Send(Wire),
    /// Write these bytes after a delay.
    SendAfter(Duration, Wire),
    /// Write these bytes, then close the connection.
    SendThenClose(Wire),
    /// Write nothing.
    Nothing,
}

/// Turns the normal response into what `fault` makes of it. `seed` varies the garbage.
pub fn apply(fault: Fault, response: Option<RemotingCommand>, seed: u64) -> Action {
    let Some(resp) = response else { return Action::Nothing };
    match fault {
        Fault::None => Action::Send(Wire::frame(&resp)),
        Fault::NeverAnswer => Action::Nothing,
        Fault::Garbage => Action::Send(garbage(seed).into()),
        Fault::OversizedLength => {
            let mut b = BytesMut::with_capacity(24);
            b.put_u32(0x8000_0000);
            b.put_u32(0x0000_0010);
            b.put_slice(b"{\"code\":0,\"flag\"");
            Action::Send(b.freeze().into())
        }
        Fault::CloseMidFrame => {
            let full = resp.to_bytes();
            let half = (full.len() / 2).max(1);
            Action::SendThenClose(full.slice(..half).into())
        }
        Fault::TruncatedJson => {
            let mut r = resp;
            let body = if r.body.is_empty() { Bytes::from_static(b"{\"table\":{\"brokerVersion\":\"4") } else { r.body.clone() };
            let cut = (body.len() / 2).max(1).min(body.len());
            r.body = body.slice(..cut);
            Action::Send(Wire::frame(&r))
        }
        Fault::Latency(d) => Action::SendAfter(d, Wire::frame(&resp)),
    }
}

/// 64 pseudo-random bytes whose first byte is ≥ 0x40, so the length word always exceeds the
/// 16 MiB frame cap and can never be mistaken for a frame.
fn garbage(seed: u64) -> Bytes {
    let mut x = seed ^ 0xA076_1D64_78BD_642F;
    let mut out = Vec::with_capacity(64);
    for _ in 0..64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push((x >> 24) as u8);
    }
    out[0] |= 0x40;
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remoting::frame::{check, DEFAULT_MAX_FRAME_LENGTH};

    fn resp() -> RemotingCommand {
        let req = RemotingCommand::request(28);
        RemotingCommand::response_to(&req, 0, None).with_body(&b"{\"table\":{\"a\":\"b\"}}"[..])
    }

    #[test]
    fn garbage_is_never_a_frame() {
        for seed in 0..200 {
            let Action::Send(b) = apply(Fault::Garbage, Some(resp()), seed) else { panic!() };
            let b = b.to_bytes();
            assert!(check(&b, DEFAULT_MAX_FRAME_LENGTH).unwrap_err().is_fatal());
        }
    }

    #[test]
    fn oversized_announces_two_gb() {
        let Action::Send(b) = apply(Fault::OversizedLength, Some(resp()), 0) else { panic!() };
        let b = b.to_bytes();
        assert!(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) >= 1 << 31);
    }

    #[test]
    fn truncated_json_is_a_valid_frame_with_cut_body() {
        let Action::Send(b) = apply(Fault::TruncatedJson, Some(resp()), 0) else { panic!() };
        let b = b.to_bytes();
        let mut buf = BytesMut::from(&b[..]);
        let cmd = crate::remoting::frame::decode(&mut buf, DEFAULT_MAX_FRAME_LENGTH).unwrap().unwrap();
        assert!(serde_json::from_slice::<serde_json::Value>(&cmd.body).is_err());
        assert!(!cmd.body.is_empty());
    }

    #[test]
    fn close_mid_frame_sends_half() {
        let full = resp().to_bytes();
        let Action::SendThenClose(b) = apply(Fault::CloseMidFrame, Some(resp()), 0) else { panic!() };
        let b = b.to_bytes();
        assert_eq!(b.len(), full.len() / 2);
        assert_eq!(check(&b, DEFAULT_MAX_FRAME_LENGTH), Err(crate::remoting::frame::FrameError::Incomplete));
    }

    /// A frame sent as head and body is byte for byte the frame encoded whole, in either header
    /// format, with or without a body.
    #[test]
    fn a_frame_in_two_parts_is_the_whole_frame() {
        use crate::remoting::frame::SerializeType;
        for ser in [SerializeType::Json, SerializeType::RocketMq] {
            for body in [&b""[..], &b"{\"table\":{\"a\":\"b\"}}"[..]] {
                let mut r = resp().with_body(body).with_ext("version", "7");
                r.serialize_type = ser;
                r.remark = Some("a \"remark\"".into());
                let w = Wire::frame(&r);
                assert_eq!(w.to_bytes(), r.to_bytes(), "{ser:?}");
                assert_eq!(w.body.len(), body.len());
                let Action::SendAfter(_, l) = apply(Fault::Latency(Duration::from_millis(1)), Some(r.clone()), 0) else { panic!() };
                assert_eq!(l.to_bytes(), r.to_bytes());
            }
        }
    }

    #[test]
    fn unanswered_stays_unanswered() {
        assert!(matches!(apply(Fault::Latency(Duration::from_millis(5)), None, 0), Action::Nothing));
        assert!(matches!(apply(Fault::NeverAnswer, Some(resp()), 0), Action::Nothing));
    }
}
