//! `GET_BROKER_CLUSTER_INFO` (106): which brokers exist, their addresses, and their clusters.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::lenient_json::{de, from_slice};
use super::DecodeError;

/// The NameServer's view of every broker group and cluster.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClusterInfo {
    /// brokerName ⇒ its group.
    #[serde(deserialize_with = "de::map_skip_null")]
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// clusterName ⇒ brokerNames (a Java `Set`, so an array).
    #[serde(deserialize_with = "cluster_table")]
    pub cluster_addr_table: BTreeMap<String, Vec<String>>,
}

/// One broker group: a master and its slaves sharing a `brokerName`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BrokerData {
    #[serde(deserialize_with = "de::string")]
    pub cluster: String,
    #[serde(deserialize_with = "de::string")]
    pub broker_name: String,
    /// brokerId ⇒ `ip:port`; 0 is the master. fastjson writes the ids as bare numbers.
    #[serde(deserialize_with = "de::id_map")]
    pub broker_addrs: BTreeMap<i64, String>,
    /// 5.x slave-acting-master: id 0 may then be missing while the group still serves.
    #[serde(deserialize_with = "de::bool")]
    pub enable_acting_master: bool,
    #[serde(deserialize_with = "de::opt_string")]
    pub zone_name: Option<String>,
}

impl BrokerData {
    /// Address of the master (brokerId 0), if one is registered.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&0).map(String::as_str)
    }
}

fn cluster_table<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    struct Names(#[serde(deserialize_with = "de::vec_skip_null")] Vec<String>);
    let m: BTreeMap<String, Names> = de::map_skip_null(d)?;
    Ok(m.into_iter().map(|(k, Names(v))| (k, v)).collect())
}

impl ClusterInfo {
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        from_slice("ClusterInfo", body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_3369_payload() {
        // PROTOCOL.md §5.2, apache/rocketmq#3369 verbatim.
        let body = br#"{"brokerAddrTable":{"broker_37_master":{"brokerAddrs":{0:"172.16.16.37:10911"},"brokerName":"broker_37_master","cluster":"37_cluster"}},"clusterAddrTable":{"37_cluster":["broker_37_master"]}}"#;
        let ci = ClusterInfo::decode(body).unwrap();
        let bd = &ci.broker_addr_table["broker_37_master"];
        assert_eq!(bd.cluster, "37_cluster");
        assert_eq!(bd.broker_name, "broker_37_master");
        assert_eq!(bd.master_addr(), Some("172.16.16.37:10911"));
        assert!(!bd.enable_acting_master);
        assert_eq!(bd.zone_name, None);
        assert_eq!(
            ci.cluster_addr_table["37_cluster"],
            vec!["broker_37_master".to_string()]
        );
    }

    #[test]
    fn rocketmq_rust_fixture_5x_shape() {
        // PROTOCOL.md §5.2, mxsm/rocketmq-rust cluster_info.rs fixture verbatim.
        let body = br#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#;
        let ci = ClusterInfo::decode(body).unwrap();
        assert_eq!(
            ci.broker_addr_table["broker-a"].broker_addrs,
            BTreeMap::from([(0, "127.0.0.1:10911".to_string())])
        );
        assert_eq!(ci.cluster_addr_table["DefaultCluster"], vec!["broker-a"]);
    }

    #[test]
    fn java_533_master_and_slaves_with_zone() {
        let body = br#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911",2:"10.0.0.3:10911"},"brokerName":"broker-a","cluster":"c1","enableActingMaster":true,"zoneName":"az-1"},"broker-b":{"brokerAddrs":{1:"10.0.0.5:10911"},"brokerName":"broker-b","cluster":"c1","enableActingMaster":true}},"clusterAddrTable":{"c1":["broker-a","broker-b"]}}"#;
        let ci = ClusterInfo::decode(body).unwrap();
        let a = &ci.broker_addr_table["broker-a"];
        assert_eq!(a.broker_addrs.len(), 3);
        assert_eq!(a.broker_addrs[&2], "10.0.0.3:10911");
        assert_eq!(a.zone_name.as_deref(), Some("az-1"));
        assert!(a.enable_acting_master);
        let b = &ci.broker_addr_table["broker-b"];
        assert_eq!(b.master_addr(), None);
        assert_eq!(b.broker_addrs[&1], "10.0.0.5:10911");
    }

    #[test]
    fn rocketmq_rust_quoted_keys_and_nulls() {
        let body = br#"{
            "brokerAddrTable": {"broker-a": {"cluster": "DefaultCluster", "brokerName": "broker-a",
                "brokerAddrs": {"0": "127.0.0.1:10911", "1": null}, "enableActingMaster": null, "zoneName": null}},
            "clusterAddrTable": {"DefaultCluster": ["broker-a", null], "Empty": null}
        }"#;
        let ci = ClusterInfo::decode(body).unwrap();
        let a = &ci.broker_addr_table["broker-a"];
        assert_eq!(
            a.broker_addrs,
            BTreeMap::from([(0, "127.0.0.1:10911".to_string())])
        );
        assert!(!a.enable_acting_master);
        assert_eq!(a.zone_name, None);
        assert_eq!(
            ci.cluster_addr_table.get("DefaultCluster"),
            Some(&vec!["broker-a".to_string()])
        );
        assert!(!ci.cluster_addr_table.contains_key("Empty"));
    }

    #[test]
    fn negative_and_large_ids() {
        let body =
            br#"{"brokerAddrTable":{"b":{"brokerAddrs":{-1:"x:1",9223372036854775807:"y:2"}}}}"#;
        let ci = ClusterInfo::decode(body).unwrap();
        let ids: Vec<i64> = ci.broker_addr_table["b"]
            .broker_addrs
            .keys()
            .copied()
            .collect();
        assert_eq!(ids, vec![-1, i64::MAX]);
    }

    #[test]
    fn empty_object_and_garbage() {
        assert_eq!(ClusterInfo::decode(b"{}").unwrap(), ClusterInfo::default());
        assert!(ClusterInfo::decode(b"").is_err());
        assert!(ClusterInfo::decode(
            b"{\"brokerAddrTable\":{\"b\":{\"brokerAddrs\":{abc:\"x\"}}}}"
        )
        .is_err());
        assert!(ClusterInfo::decode(b"[1,2]").is_err());
    }
}
