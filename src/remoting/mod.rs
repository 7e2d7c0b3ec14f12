//! RocketMQ's native "remoting" protocol: frames, codes, and (in `connection`/`client`) the
//! async transport.

pub mod codes;
pub mod frame;
