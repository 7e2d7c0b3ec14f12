//! Shared helpers for integration tests: a real rocketmq-rust peer (`peer`) and a minimal raw
//! remoting client to drive it (`raw`). Included with `mod support;`; not every test binary uses
//! every helper, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod peer;
pub mod raw;
