//! `GET_BROKER_HA_STATUS` (907, 5.x only): replication state as the master's HA service sees it.

use serde::Deserialize;

use super::lenient_json::{de, from_slice};
use super::DecodeError;

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HaRuntimeInfo {
    #[serde(deserialize_with = "de::bool")]
    pub master: bool,
    #[serde(deserialize_with = "de::i64")]
    pub master_commit_log_max_offset: i64,
    #[serde(deserialize_with = "de::i32")]
    pub in_sync_slave_nums: i32,
    /// Master only: one per connected slave.
    #[serde(deserialize_with = "de::vec_skip_null")]
    pub ha_connection_info: Vec<HaConnectionRuntimeInfo>,
    /// Slave only (a default object on a master).
    #[serde(deserialize_with = "de::or_default")]
    pub ha_client_runtime_info: Option<HaClientRuntimeInfo>,
}

/// One slave connection on the master.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HaConnectionRuntimeInfo {
    /// The slave's HA socket `ip:ephemeralPort`, not its remoting address: match by IP.
    #[serde(deserialize_with = "de::string")]
    pub addr: String,
    /// Replication lag in bytes.
    #[serde(deserialize_with = "de::i64")]
    pub diff: i64,
    #[serde(deserialize_with = "de::bool")]
    pub in_sync: bool,
    #[serde(deserialize_with = "de::i64")]
    pub slave_ack_offset: i64,
    #[serde(deserialize_with = "de::i64")]
    pub transfer_from_where: i64,
    #[serde(deserialize_with = "de::i64")]
    pub transferred_byte_in_second: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HaClientRuntimeInfo {
    #[serde(deserialize_with = "de::string")]
    pub master_addr: String,
    #[serde(deserialize_with = "de::i64")]
    pub max_offset: i64,
    #[serde(deserialize_with = "de::i64")]
    pub master_flush_offset: i64,
    #[serde(deserialize_with = "de::i64")]
    pub last_read_timestamp: i64,
    #[serde(deserialize_with = "de::i64")]
    pub last_write_timestamp: i64,
    #[serde(deserialize_with = "de::i64")]
    pub transferred_byte_in_second: i64,
}

impl HaConnectionRuntimeInfo {
    /// The IP part of `addr`, to match against a slave's registered address.
    pub fn ip(&self) -> &str {
        self.addr
            .rsplit_once(':')
            .map_or(self.addr.as_str(), |(ip, _)| ip)
    }
}

impl HaRuntimeInfo {
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        from_slice("HARuntimeInfo", body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_533_master() {
        let body = br#"{"haClientRuntimeInfo":{"lastReadTimestamp":0,"lastWriteTimestamp":0,"masterFlushOffset":0,"maxOffset":0,"transferredByteInSecond":0},"haConnectionInfo":[{"addr":"10.0.0.2:53412","diff":1048576,"inSync":true,"slaveAckOffset":9223372036853727231,"transferFromWhere":9223372036853727231,"transferredByteInSecond":2048}],"inSyncSlaveNums":1,"master":true,"masterCommitLogMaxOffset":9223372036854775807}"#;
        let h = HaRuntimeInfo::decode(body).unwrap();
        assert!(h.master);
        assert_eq!(h.master_commit_log_max_offset, i64::MAX);
        assert_eq!(h.in_sync_slave_nums, 1);
        let c = &h.ha_connection_info[0];
        assert_eq!(c.diff, 1_048_576);
        assert_eq!(c.slave_ack_offset + c.diff, i64::MAX);
        assert!(c.in_sync);
        assert_eq!(c.ip(), "10.0.0.2");
        assert_eq!(h.ha_client_runtime_info.unwrap().master_addr, "");
    }

    #[test]
    fn java_533_slave_and_rust_nulls() {
        let body = br#"{"haClientRuntimeInfo":{"lastReadTimestamp":1700000000001,"lastWriteTimestamp":1700000000002,"masterAddr":"10.0.0.1:10912","masterFlushOffset":500,"maxOffset":400,"transferredByteInSecond":7},"haConnectionInfo":[],"inSyncSlaveNums":0,"master":false,"masterCommitLogMaxOffset":0}"#;
        let h = HaRuntimeInfo::decode(body).unwrap();
        assert!(!h.master);
        let c = h.ha_client_runtime_info.unwrap();
        assert_eq!(
            (c.max_offset, c.master_flush_offset, c.last_write_timestamp),
            (400, 500, 1_700_000_000_002)
        );
        let h = HaRuntimeInfo::decode(br#"{"master":true,"haConnectionInfo":null,"haClientRuntimeInfo":null,"inSyncSlaveNums":null}"#).unwrap();
        assert!(h.ha_connection_info.is_empty() && h.ha_client_runtime_info.is_none());
    }
}
