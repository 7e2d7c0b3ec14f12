//! Broker discovery through the NameServers.
//!
//! Every NameServer is asked (cheaply, one 106 each) so `rocketmq_namesrv_up` is known for all of
//! them; the broker list is the union of their answers, because brokers register with each
//! NameServer separately and one can briefly miss a broker the others know.

use std::collections::BTreeMap;

use futures::future::join_all;

use super::body_memo::BodyMemo;
use super::fetch::NodeTarget;
use crate::admin::Admin;
use crate::protocol::ClusterInfo;
use crate::snapshot::NamesrvStatus;

pub struct Discovery {
    pub namesrvs: Vec<NamesrvStatus>,
    /// One entry per broker name: its master and slaves.
    pub groups: Vec<Vec<NodeTarget>>,
}

/// `memo` spares decoding a NameServer's answer when it is the one it sent last cycle.
pub async fn discover(admin: &Admin, namesrvs: &[String], memo: &BodyMemo<ClusterInfo>) -> Discovery {
    let answers = join_all(namesrvs.iter().map(|ns| async move {
        let r = admin.cluster_info_answer(ns).await?;
        memo.decode(ns, &r.body, |_| Admin::decode_cluster_info(ns, &r))
    }))
    .await;
    let mut statuses = Vec::new();
    // (cluster, broker) -> id -> addr; the first NameServer in list order wins on conflicts.
    let mut table: BTreeMap<(String, String), BTreeMap<i64, String>> = BTreeMap::new();
    for (ns, answer) in namesrvs.iter().zip(answers) {
        match answer {
            Ok(info) => {
                statuses.push(NamesrvStatus { addr: ns.clone(), up: true, error: None });
                for (name, data) in &info.broker_addr_table {
                    let cluster = if data.cluster.is_empty() {
                        info.cluster_addr_table
                            .iter()
                            .find(|(_, names)| names.contains(name))
                            .map(|(c, _)| c.clone())
                            .unwrap_or_default()
                    } else {
                        data.cluster.clone()
                    };
                    let entry = table.entry((cluster, name.clone())).or_default();
                    for (id, addr) in &data.broker_addrs {
                        entry.entry(*id).or_insert_with(|| addr.clone());
                    }
                }
            }
            Err(e) => {
                statuses.push(NamesrvStatus { addr: ns.clone(), up: false, error: Some(e.to_string()) });
            }
        }
    }
    let groups = table
        .into_iter()
        .map(|((cluster, broker), ids)| {
            ids.into_iter()
                .map(|(broker_id, addr)| NodeTarget { cluster: cluster.clone(), broker: broker.clone(), broker_id, addr })
                .collect()
        })
        .collect();
    Discovery { namesrvs: statuses, groups }
}
