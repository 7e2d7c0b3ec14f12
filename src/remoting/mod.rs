//! RocketMQ's native "remoting" protocol: pure frames (`frame`), request codes, one multiplexed
//! socket (`connection`), batches on a caller-owned socket (`exchange`), the per-address pool with ACL signing and TLS (`client`).

pub mod acl;
pub mod client;
pub mod codes;
pub mod connection;
pub mod error;
pub mod exchange;
pub mod frame;
pub mod stream;
pub mod tls;

pub use client::{ClientOptions, RemotingClient};
pub use error::RemotingError;
pub use frame::RemotingCommand;
