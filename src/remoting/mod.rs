//! RocketMQ's native "remoting" protocol: pure frames (`frame`), request codes, one multiplexed
//! socket (`connection`), the per-address pool with ACL signing and TLS (`client`).

pub mod acl;
pub mod client;
pub mod codes;
pub mod connection;
pub mod error;
pub mod frame;
pub mod tls;

pub use client::{ClientOptions, RemotingClient};
pub use error::RemotingError;
pub use frame::RemotingCommand;
