//! Strict fast path for 208/317: fastjson's usual output read in one pass with no copy of the
//! body and no intermediate values. `None` whenever anything is unusual (JSON-string keys,
//! duplicate fields, a `$ref`, …); the lenient path then decides.
//!
//! One parser feeds a [`Sink`], so the owned [`ConsumeStatsList`] and the borrowing
//! [`ConsumeRows`] share it.

use std::borrow::Cow;

use super::{ConsumeRow, ConsumeRows, ConsumeStats, ConsumeStatsList, MessageQueue, OffsetWrapper, RowVisitor};
use crate::protocol::strict_json::{field, Reader};

/// Rows per table to reserve on the first row (typical queue counts are 4–16).
const FIRST_RESERVE: usize = 8;

/// Where the parser puts what it reads, in wire order.
pub(in crate::protocol) trait Sink<'a> {
    fn broker_addr(&mut self, v: Option<Cow<'a, str>>);
    fn total_diff(&mut self, v: Option<i64>);
    fn total_inflight_diff(&mut self, v: Option<i64>);
    /// A group entry starts (its stats follow).
    fn group(&mut self, name: Cow<'a, str>);
    /// A `ConsumeStats` of the current group starts.
    fn stats(&mut self);
    /// `consumeTps` of the current stats.
    fn tps(&mut self, v: Option<f64>);
    /// One queue row of the current stats.
    fn row(&mut self, mq: Mq<'a>, ow: OffsetWrapper);
}

/// A `MessageQueue` key with names borrowed from the body where they have no escapes.
pub(in crate::protocol) struct Mq<'a> {
    pub topic: Cow<'a, str>,
    pub broker_name: Cow<'a, str>,
    pub queue_id: i32,
}

impl<'a> Sink<'a> for ConsumeStatsList {
    fn broker_addr(&mut self, v: Option<Cow<'a, str>>) {
        self.broker_addr = v.map(Cow::into_owned);
    }
    fn total_diff(&mut self, v: Option<i64>) {
        self.total_diff = v;
    }
    fn total_inflight_diff(&mut self, v: Option<i64>) {
        self.total_inflight_diff = v;
    }
    fn group(&mut self, name: Cow<'a, str>) {
        self.groups.push((name.into_owned(), Vec::new()));
    }
    fn stats(&mut self) {
        if let Some((_, s)) = self.groups.last_mut() {
            s.push(ConsumeStats::default());
        }
    }
    fn tps(&mut self, v: Option<f64>) {
        if let Some(cs) = self.groups.last_mut().and_then(|(_, s)| s.last_mut()) {
            cs.consume_tps = v;
        }
    }
    fn row(&mut self, mq: Mq<'a>, ow: OffsetWrapper) {
        if let Some(cs) = self.groups.last_mut().and_then(|(_, s)| s.last_mut()) {
            if cs.offset_table.is_empty() {
                cs.offset_table.reserve(FIRST_RESERVE);
            }
            let mq = MessageQueue {
                topic: mq.topic.into_owned(),
                broker_name: mq.broker_name.into_owned(),
                queue_id: mq.queue_id,
            };
            cs.offset_table.push((mq, ow));
        }
    }
}

/// Collects a single `ConsumeStats` (208 body).
struct One(ConsumeStats);

impl<'a> Sink<'a> for One {
    fn broker_addr(&mut self, _: Option<Cow<'a, str>>) {}
    fn total_diff(&mut self, _: Option<i64>) {}
    fn total_inflight_diff(&mut self, _: Option<i64>) {}
    fn group(&mut self, _: Cow<'a, str>) {}
    fn stats(&mut self) {}
    fn tps(&mut self, v: Option<f64>) {
        self.0.consume_tps = v;
    }
    fn row(&mut self, mq: Mq<'a>, ow: OffsetWrapper) {
        if self.0.offset_table.is_empty() {
            self.0.offset_table.reserve(FIRST_RESERVE);
        }
        let mq = MessageQueue {
            topic: mq.topic.into_owned(),
            broker_name: mq.broker_name.into_owned(),
            queue_id: mq.queue_id,
        };
        self.0.offset_table.push((mq, ow));
    }
}

/// Builds [`ConsumeRows`]; `group` is the group being read.
#[derive(Default)]
pub(in crate::protocol) struct RowSink<'a> {
    pub rows: ConsumeRows<'a>,
    group: Cow<'a, str>,
}

impl<'a> Sink<'a> for RowSink<'a> {
    fn broker_addr(&mut self, v: Option<Cow<'a, str>>) {
        self.rows.broker_addr = v;
    }
    fn total_diff(&mut self, v: Option<i64>) {
        self.rows.total_diff = v;
    }
    fn total_inflight_diff(&mut self, v: Option<i64>) {
        self.rows.total_inflight_diff = v;
    }
    fn group(&mut self, name: Cow<'a, str>) {
        self.group = name;
    }
    fn stats(&mut self) {}
    fn tps(&mut self, _: Option<f64>) {}
    fn row(&mut self, mq: Mq<'a>, ow: OffsetWrapper) {
        let rows = &mut self.rows.rows;
        if rows.is_empty() {
            rows.reserve(64);
        }
        rows.push(ConsumeRow {
            group: self.group.clone(),
            topic: mq.topic,
            broker_name: mq.broker_name,
            queue_id: mq.queue_id,
            offsets: ow,
        });
    }
}

/// Hands rows straight to a [`RowVisitor`].
pub(in crate::protocol) struct VisitSink<'v, V>(pub &'v mut V);

impl<'a, V: RowVisitor> Sink<'a> for VisitSink<'_, V> {
    fn broker_addr(&mut self, _: Option<Cow<'a, str>>) {}
    fn total_diff(&mut self, _: Option<i64>) {}
    fn total_inflight_diff(&mut self, _: Option<i64>) {}
    fn group(&mut self, name: Cow<'a, str>) {
        self.0.group(&name);
    }
    fn stats(&mut self) {}
    fn tps(&mut self, _: Option<f64>) {}
    fn row(&mut self, mq: Mq<'a>, ow: OffsetWrapper) {
        self.0.row(&mq.topic, mq.queue_id, &ow);
    }
}

/// Marks `bit` as seen; `None` if it was (serde refuses duplicate struct fields).
#[inline]
fn once(seen: &mut u8, bit: u8) -> Option<()> {
    (*seen & bit == 0).then(|| *seen |= bit)
}


pub(in crate::protocol) fn consume_stats_list<'a, S: Sink<'a>>(body: &'a [u8], out: &mut S) -> Option<()> {
    let mut r = Reader::new(body);
    let mut seen = 0u8;
    r.object(|r, key| match key {
        b"brokerAddr" => {
            once(&mut seen, 1)?;
            out.broker_addr(field::opt_str(r)?);
            Some(())
        }
        b"consumeStatsList" => {
            once(&mut seen, 2)?;
            groups(r, out)
        }
        b"totalDiff" => {
            once(&mut seen, 4)?;
            out.total_diff(field::opt_i64(r)?);
            Some(())
        }
        b"totalInflightDiff" => {
            once(&mut seen, 8)?;
            out.total_inflight_diff(field::opt_i64(r)?);
            Some(())
        }
        _ => r.skip_field(key),
    })?;
    r.end()
}

pub(in crate::protocol) fn consume_stats_body(body: &[u8]) -> Option<ConsumeStats> {
    let mut r = Reader::new(body);
    let mut one = One(ConsumeStats::default());
    consume_stats(&mut r, &mut one)?;
    r.end()?;
    Some(one.0)
}

/// `[{group: [ConsumeStats…]}, …]`; `null` lists and elements are skipped.
fn groups<'a, S: Sink<'a>>(r: &mut Reader<'a>, out: &mut S) -> Option<()> {
    if r.null() {
        return Some(());
    }
    r.array(|r| {
        if r.null() {
            return Some(());
        }
        r.object_with_keys(|r, group| {
            out.group(group);
            if !r.null() {
                r.array(|r| {
                    if !r.null() {
                        out.stats();
                        consume_stats(r, out)?;
                    }
                    Some(())
                })?;
            }
            Some(())
        })
    })
}

fn consume_stats<'a, S: Sink<'a>>(r: &mut Reader<'a>, out: &mut S) -> Option<()> {
    let mut seen = 0u8;
    r.object(|r, key| match key {
        b"consumeTps" => {
            once(&mut seen, 1)?;
            out.tps(field::opt_f64(r)?);
            Some(())
        }
        b"offsetTable" => {
            once(&mut seen, 2)?;
            offset_table(r, out)
        }
        _ => r.skip_field(key),
    })
}

/// fastjson's `{{mq}:{offsets},…}`; `null` table or values are skipped. JSON-string keys
/// (rocketmq-rust) are escaped text, so they bail to the lenient path.
fn offset_table<'a, S: Sink<'a>>(r: &mut Reader<'a>, out: &mut S) -> Option<()> {
    if r.null() {
        return Some(());
    }
    // Java's fastjson layout first, entry by entry; anything else takes the general reader.
    if r.exact(b"{}") {
        return Some(());
    }
    if r.exact(b"{") {
        // The previous entry's names: the next entry's are usually the same.
        let mut names = ("", "");
        loop {
            let at = r.pos();
            match fastjson_entry(r, &mut names) {
                Some((mq, ow)) => out.row(mq, ow),
                None => {
                    r.rewind(at);
                    let mq = message_queue(r)?;
                    r.eat(b':')?;
                    if !r.null() {
                        let ow = offset_wrapper(r)?;
                        out.row(mq, ow);
                    }
                }
            }
            if r.eat(b'}').is_some() {
                return Some(());
            }
            r.eat(b',')?;
        }
    }
    r.object_keyed(message_queue, |r, mq| {
        if r.null() {
            return Some(());
        }
        let ow = offset_wrapper(r)?;
        out.row(mq, ow);
        Some(())
    })
}

/// One offset-table entry exactly as Java's fastjson writes it, fields in name order and no
/// whitespace: `{"brokerName":"b","queueId":0,"topic":"t"}:{"brokerOffset":1,"consumerOffset":1,
/// "lastTimestamp":0[,"pullOffset":0]}`. The values are what the general reader would make of
/// the same text; `None` (the caller rewinds) for any other layout or value form.
#[inline]
fn fastjson_entry<'a>(r: &mut Reader<'a>, names: &mut (&'a str, &'a str)) -> Option<(Mq<'a>, OffsetWrapper)> {
    if !r.exact(b"{\"brokerName\":\"") {
        return None;
    }
    let broker_name = r.plain_str_rest_as(names.0)?;
    if !r.exact(b",\"queueId\":") {
        return None;
    }
    let queue_id = r.plain_int()?.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
    if !r.exact(b",\"topic\":\"") {
        return None;
    }
    let topic = r.plain_str_rest_as(names.1)?;
    *names = (broker_name, topic);
    if !r.exact(b"}:{\"brokerOffset\":") {
        return None;
    }
    let broker_offset = r.plain_int()?;
    if !r.exact(b",\"consumerOffset\":") {
        return None;
    }
    let consumer_offset = r.plain_int()?;
    if !r.exact(b",\"lastTimestamp\":") {
        return None;
    }
    let last_timestamp = r.plain_int()?;
    let pull_offset = if r.exact(b",\"pullOffset\":") { Some(r.plain_int()?) } else { None };
    if !r.exact(b"}") {
        return None;
    }
    let mq = Mq { topic: Cow::Borrowed(topic), broker_name: Cow::Borrowed(broker_name), queue_id };
    Some((mq, OffsetWrapper { broker_offset, consumer_offset, pull_offset, last_timestamp }))
}

fn message_queue<'a>(r: &mut Reader<'a>) -> Option<Mq<'a>> {
    let mut mq = Mq {
        topic: Cow::Borrowed(""),
        broker_name: Cow::Borrowed(""),
        queue_id: 0,
    };
    let mut seen = 0u8;
    r.object(|r, key| match key {
        b"topic" => {
            once(&mut seen, 1)?;
            mq.topic = field::opt_str(r)?.unwrap_or_default();
            Some(())
        }
        b"brokerName" => {
            once(&mut seen, 2)?;
            mq.broker_name = field::opt_str(r)?.unwrap_or_default();
            Some(())
        }
        b"queueId" => {
            once(&mut seen, 4)?;
            let v = field::opt_i64(r)?.unwrap_or(0);
            mq.queue_id = v.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
            Some(())
        }
        _ => r.skip_field(key),
    })?;
    Some(mq)
}

fn offset_wrapper(r: &mut Reader<'_>) -> Option<OffsetWrapper> {
    let mut o = OffsetWrapper::default();
    let mut seen = 0u8;
    r.object(|r, key| {
        let (bit, slot) = match key {
            b"brokerOffset" => (1, &mut o.broker_offset),
            b"consumerOffset" => (2, &mut o.consumer_offset),
            b"lastTimestamp" => (4, &mut o.last_timestamp),
            b"pullOffset" => {
                once(&mut seen, 8)?;
                o.pull_offset = field::opt_i64(r)?;
                return Some(());
            }
            _ => return r.skip_field(key),
        };
        once(&mut seen, bit)?;
        *slot = field::opt_i64(r)?.unwrap_or(0);
        Some(())
    })?;
    Some(o)
}
