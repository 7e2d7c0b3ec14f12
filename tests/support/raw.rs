//! A deliberately small raw remoting client for tests: one TCP connection, one request at a time,
//! responses matched by opaque. It exists so tests can put real traffic into a real peer without
//! depending on the exporter's own transport (which is what is under test elsewhere).

use std::time::Duration;

use bytes::BytesMut;
use rocketmq_exporter::remoting::codes::{request, response};
use rocketmq_exporter::remoting::frame::{self, FrameError, RemotingCommand, DEFAULT_MAX_FRAME_LENGTH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one request may take before the test gives up on it.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Java's `MessageDecoder.NAME_VALUE_SEPARATOR` / `PROPERTY_SEPARATOR` for message properties.
const NAME_VALUE_SEPARATOR: char = '\u{1}';
const PROPERTY_SEPARATOR: char = '\u{2}';

#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error("connect to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame: {0}")]
    Frame(#[from] FrameError),
    #[error("peer closed the connection before answering opaque {0}")]
    Closed(i32),
    #[error("no answer to request code {code} within {CALL_TIMEOUT:?}")]
    Timeout { code: i32 },
    #[error("request code {request} answered with code {code}, remark {remark:?}")]
    Refused { request: i32, code: i32, remark: Option<String> },
}

/// One connection to one remoting server.
pub struct RawClient {
    addr: String,
    stream: TcpStream,
    buf: BytesMut,
    next_opaque: i32,
}

impl RawClient {
    pub async fn connect(addr: &str) -> Result<Self, RawError> {
        let stream = tokio::time::timeout(CALL_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| RawError::Connect {
                addr: addr.to_string(),
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
            })?
            .map_err(|source| RawError::Connect { addr: addr.to_string(), source })?;
        stream.set_nodelay(true)?;
        Ok(RawClient { addr: addr.to_string(), stream, buf: BytesMut::with_capacity(64 * 1024), next_opaque: 1 })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `req` (its opaque is overwritten) and returns the response with the same opaque,
    /// whatever its code. Frames with other opaques (late answers, server requests) are skipped.
    pub async fn call(&mut self, mut req: RemotingCommand) -> Result<RemotingCommand, RawError> {
        let code = req.code;
        req.opaque = self.next_opaque;
        self.next_opaque = self.next_opaque.wrapping_add(1);
        let opaque = req.opaque;
        tokio::time::timeout(CALL_TIMEOUT, async {
            self.stream.write_all(&req.to_bytes()).await?;
            loop {
                while let Some(cmd) = frame::decode(&mut self.buf, DEFAULT_MAX_FRAME_LENGTH)? {
                    if cmd.is_response() && cmd.opaque == opaque {
                        return Ok(cmd);
                    }
                }
                if self.stream.read_buf(&mut self.buf).await? == 0 {
                    return Err(RawError::Closed(opaque));
                }
            }
        })
        .await
        .map_err(|_| RawError::Timeout { code })?
    }

    /// Like [`call`](Self::call) but any response code other than SUCCESS is an error.
    pub async fn call_ok(&mut self, req: RemotingCommand) -> Result<RemotingCommand, RawError> {
        let request = req.code;
        let resp = self.call(req).await?;
        if resp.code != response::SUCCESS {
            return Err(RawError::Refused { request, code: resp.code, remark: resp.remark });
        }
        Ok(resp)
    }
}

/// One request on a fresh connection.
pub async fn call_once(addr: &str, req: RemotingCommand) -> Result<RemotingCommand, RawError> {
    RawClient::connect(addr).await?.call(req).await
}

/// UPDATE_AND_CREATE_TOPIC (17) to a broker, with Java's `CreateTopicRequestHeader` fields.
pub fn create_topic_request(topic: &str, queues: u32, perm: u32) -> RemotingCommand {
    RemotingCommand::request(request::UPDATE_AND_CREATE_TOPIC)
        .with_ext("topic", topic)
        .with_ext("defaultTopic", "TBW102")
        .with_ext("readQueueNums", queues.to_string())
        .with_ext("writeQueueNums", queues.to_string())
        .with_ext("perm", perm.to_string())
        .with_ext("topicFilterType", "SINGLE_TAG")
        .with_ext("topicSysFlag", "0")
        .with_ext("order", "false")
}

/// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200): body is a `SubscriptionGroupConfig` with Java's
/// defaults spelled out, so the peer's serde defaults do not matter.
pub fn create_group_request(group: &str) -> RemotingCommand {
    let body = serde_json::json!({
        "groupName": group,
        "consumeEnable": true,
        "consumeFromMinEnable": true,
        "consumeBroadcastEnable": true,
        "consumeMessageOrderly": false,
        "retryQueueNums": 1,
        "retryMaxTimes": 16,
        "brokerId": 0,
        "whichBrokerWhenConsumeSlowly": 1,
        "notifyConsumerIdsChangedEnable": true,
        "groupSysFlag": 0,
        "consumeTimeoutMinute": 15
    });
    RemotingCommand::request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
        .with_body(serde_json::to_vec(&body).expect("static JSON serializes"))
}

/// Message properties as Java's `MessageDecoder.messageProperties2String` writes them: tag
/// `drain`, `WAIT=true`, then `extra`.
fn message_properties(extra: &[(&str, &str)]) -> String {
    let mut p = format!("TAGS{NAME_VALUE_SEPARATOR}drain{PROPERTY_SEPARATOR}WAIT{NAME_VALUE_SEPARATOR}true{PROPERTY_SEPARATOR}");
    for (k, v) in extra {
        p.push_str(&format!("{k}{NAME_VALUE_SEPARATOR}{v}{PROPERTY_SEPARATOR}"));
    }
    p
}

/// SEND_MESSAGE (10) with `SendMessageRequestHeader` (v1 field names) to an explicit queue.
pub fn send_message_request(producer_group: &str, topic: &str, queue_id: u32, body: Vec<u8>) -> RemotingCommand {
    let born =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let properties = message_properties(&[]);
    RemotingCommand::request(request::SEND_MESSAGE)
        .with_ext("producerGroup", producer_group)
        .with_ext("topic", topic)
        .with_ext("defaultTopic", "TBW102")
        .with_ext("defaultTopicQueueNums", "4")
        .with_ext("queueId", queue_id.to_string())
        .with_ext("sysFlag", "0")
        .with_ext("bornTimestamp", born.to_string())
        .with_ext("flag", "0")
        .with_ext("properties", properties)
        .with_ext("reconsumeTimes", "0")
        .with_ext("unitMode", "false")
        .with_ext("batch", "false")
        .with_body(body)
}

/// SEND_MESSAGE (10) of a message with delay level `level` (property `DELAY`, as Java's
/// `Message.setDelayTimeLevel`): the broker stores it in SCHEDULE_TOPIC_XXXX queue `level − 1`
/// and its delivery task moves it to `topic` when due.
pub fn send_delayed_message_request(producer_group: &str, topic: &str, queue_id: u32, level: u32, body: Vec<u8>) -> RemotingCommand {
    let properties = message_properties(&[("DELAY", &level.to_string())]);
    send_message_request(producer_group, topic, queue_id, body).with_ext("properties", properties)
}

/// SEND_MESSAGE (10) of a 5.x timer message delivered `secs` after the send (property
/// `TIMER_DELAY_SEC`, as Java's `Message.setDelayTimeSec`): the broker stores it in the timer
/// wheel's topic `rmq_sys_wheel_timer`, not in a delay level.
pub fn send_timer_message_request(producer_group: &str, topic: &str, queue_id: u32, secs: u32, body: Vec<u8>) -> RemotingCommand {
    let properties = message_properties(&[("TIMER_DELAY_SEC", &secs.to_string())]);
    send_message_request(producer_group, topic, queue_id, body).with_ext("properties", properties)
}

/// Java's `MessageSysFlag.TRANSACTION_PREPARED_TYPE` and `TRANSACTION_ROLLBACK_TYPE`.
pub const TRANSACTION_PREPARED: i32 = 0x1 << 2;
pub const TRANSACTION_ROLLBACK: i32 = 0x3 << 2;
/// END_TRANSACTION (37): a transactional producer's commit or rollback of a half message.
pub const END_TRANSACTION: i32 = 37;

/// SEND_MESSAGE (10) of a transactional half message, as Java's `TransactionMQProducer` sends
/// it: sysFlag TRANSACTION_PREPARED, properties `TRAN_MSG=true` and `PGROUP=<producer group>`.
/// The broker stores it in RMQ_SYS_TRANS_HALF_TOPIC until END_TRANSACTION or its check gives up.
pub fn send_half_message_request(producer_group: &str, topic: &str, queue_id: u32, body: Vec<u8>) -> RemotingCommand {
    let mut req = send_message_request(producer_group, topic, queue_id, body);
    let properties = message_properties(&[("TRAN_MSG", "true"), ("PGROUP", producer_group)]);
    req = req.with_ext("sysFlag", TRANSACTION_PREPARED.to_string()).with_ext("properties", properties);
    req
}

/// The commit-log offset inside an offset message id (`MessageDecoder.createMessageId`: store
/// host IPv4 and port, 8 hex bytes, then the offset, 16 hex digits), as the send answer's `msgId`.
pub fn commit_log_offset_of(offset_msg_id: &str) -> Option<i64> {
    let hex = offset_msg_id.get(offset_msg_id.len().checked_sub(16)?..)?;
    u64::from_str_radix(hex, 16).ok().map(|v| v as i64)
}

/// END_TRANSACTION (37) for a half message: `send_answer` is the broker's answer to
/// [`send_half_message_request`] (its `msgId` and `queueOffset`), `commit_or_rollback` one of
/// the TRANSACTION_* flags.
pub fn end_transaction_request(producer_group: &str, send_answer: &RemotingCommand, commit_or_rollback: i32) -> Option<RemotingCommand> {
    let msg_id = send_answer.ext_fields.get("msgId")?;
    let queue_offset = send_answer.ext_fields.get("queueOffset")?;
    let commit_log_offset = commit_log_offset_of(msg_id)?;
    let mut req = RemotingCommand::request(END_TRANSACTION)
        .with_ext("producerGroup", producer_group)
        .with_ext("tranStateTableOffset", queue_offset.clone())
        .with_ext("commitLogOffset", commit_log_offset.to_string())
        .with_ext("commitOrRollback", commit_or_rollback.to_string())
        .with_ext("fromTransactionCheck", "false")
        .with_ext("msgId", msg_id.clone());
    if let Some(t) = send_answer.ext_fields.get("transactionId") {
        req = req.with_ext("transactionId", t.clone());
    }
    Some(req)
}

/// UPDATE_CONSUMER_OFFSET (15): what a consumer's offset store sends; moves the group's offset.
pub fn update_consumer_offset_request(group: &str, topic: &str, queue_id: u32, offset: i64) -> RemotingCommand {
    RemotingCommand::request(request::UPDATE_CONSUMER_OFFSET)
        .with_ext("consumerGroup", group)
        .with_ext("topic", topic)
        .with_ext("queueId", queue_id.to_string())
        .with_ext("commitOffset", offset.to_string())
}

/// UPDATE_BROKER_CONFIG (25): body is Java properties text, e.g. `brokerPermission=4\n`.
pub fn update_broker_config_request(properties: &str) -> RemotingCommand {
    RemotingCommand::request(request::UPDATE_BROKER_CONFIG).with_body(properties.as_bytes().to_vec())
}

/// GET_ROUTEINFO_BY_TOPIC (105), asking for standard JSON like a 5.x client.
pub fn route_request(topic: &str) -> RemotingCommand {
    RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC)
        .with_ext("topic", topic)
        .with_ext("acceptStandardJsonOnly", "true")
}

/// GET_BROKER_CONSUME_STATS (317).
pub fn broker_consume_stats_request() -> RemotingCommand {
    RemotingCommand::request(request::GET_BROKER_CONSUME_STATS).with_ext("isOrder", "false")
}

/// GET_CONSUME_STATS (208) for one group and topic.
pub fn consume_stats_request(group: &str, topic: &str) -> RemotingCommand {
    RemotingCommand::request(request::GET_CONSUME_STATS).with_ext("consumerGroup", group).with_ext("topic", topic)
}

/// GET_TOPIC_STATS_INFO (202) for one topic.
pub fn topic_stats_request(topic: &str) -> RemotingCommand {
    RemotingCommand::request(request::GET_TOPIC_STATS_INFO).with_ext("topic", topic)
}

/// Parses a `GET_BROKER_CONFIG` body. The peer writes `key:value` lines while Java writes
/// `key=value`; both are accepted, splitting at the first separator of either kind.
pub fn parse_config_body(body: &[u8]) -> std::collections::BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|line| {
            let idx = line.find(['=', ':'])?;
            Some((line[..idx].trim().to_string(), line[idx + 1..].trim().to_string()))
        })
        .collect()
}
