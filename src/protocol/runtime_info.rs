//! `GET_BROKER_RUNTIME_INFO` (28): a `KVTable` of strings, parsed into typed figures.
//!
//! Every value is text formatted by Java (PROTOCOL.md §3.11): TPS triples with empty slots,
//! `Double.toString` exponents, locale decimal commas in `String.format` output, human-readable
//! byte sizes, and `-1`/`"null"` sentinels. Each figure is parsed on its own so one odd value costs
//! that figure, never the whole table; `raw` keeps everything for whoever needs more.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use super::lenient_json::{de, from_slice};
use super::strict_json::{field, find_stop, Reader};
use super::DecodeError;

/// A `"<10s> <1min> <10min>"` rate; a window the broker has not filled yet is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TpsTriple {
    pub w10: Option<f64>,
    pub w60: Option<f64>,
    pub w600: Option<f64>,
}

impl TpsTriple {
    /// Splits on single spaces keeping empty slots positional (`"3.2  "` ⇒ `(3.2, -, -)`).
    /// `None` when no slot holds a number.
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.split(' ').map(de::parse_f64);
        let t = TpsTriple {
            w10: it.next().flatten(),
            w60: it.next().flatten(),
            w600: it.next().flatten(),
        };
        (t.w10.is_some() || t.w60.is_some() || t.w600.is_some()).then_some(t)
    }
}

/// Parsed runtime info. Every field is `None` when its key is missing or unparsable.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuntimeInfo {
    pub raw: BTreeMap<String, String>,

    pub put_tps: Option<TpsTriple>,
    /// 5.x `getTransferredTps`, else 4.x `getTransferedTps`.
    pub get_transferred_tps: Option<TpsTriple>,
    pub get_found_tps: Option<TpsTriple>,
    pub get_miss_tps: Option<TpsTriple>,
    pub get_total_tps: Option<TpsTriple>,

    pub msg_put_total_today_now: Option<i64>,
    pub msg_get_total_today_now: Option<i64>,
    pub msg_put_total_today_morning: Option<i64>,
    pub msg_get_total_today_morning: Option<i64>,
    pub msg_put_total_yesterday_morning: Option<i64>,
    pub msg_get_total_yesterday_morning: Option<i64>,

    pub send_thread_pool_queue_size: Option<i64>,
    pub send_thread_pool_queue_capacity: Option<i64>,
    pub send_thread_pool_queue_head_wait_ms: Option<i64>,
    pub pull_thread_pool_queue_size: Option<i64>,
    pub pull_thread_pool_queue_capacity: Option<i64>,
    pub pull_thread_pool_queue_head_wait_ms: Option<i64>,

    /// `pageCacheLockTimeMills`: how long the current put has held the commitlog lock.
    pub page_cache_lock_time_ms: Option<i64>,
    /// `earliestMessageTimeStamp`; Java's `-1` (empty store) is `None`.
    pub earliest_message_timestamp_ms: Option<i64>,
    /// Used fraction 0–1 of the fullest commitlog path; Java's `-1` (missing path) is kept.
    pub commit_log_disk_ratio: Option<f64>,
    pub consume_queue_disk_ratio: Option<f64>,
    pub commit_log_max_offset: Option<i64>,
    pub commit_log_min_offset: Option<i64>,
    pub dispatch_behind_bytes: Option<i64>,
    /// `remainHowManyDataToFlush`, from its human-readable form.
    pub remain_how_many_data_to_flush_bytes: Option<i64>,
    /// `remainHowManyDataToCommit` (only with the transient store pool).
    pub remain_how_many_data_to_commit_bytes: Option<i64>,
    /// `commitLogDirCapacity`: (total, free) bytes of the store root's filesystem.
    pub commit_log_dir_capacity: Option<(i64, i64)>,
    /// delay level ⇒ (delivered offset, max offset).
    pub schedule_message_offsets: BTreeMap<i32, (i64, i64)>,

    /// 5.x timer wheel figures.
    pub timer_offset_behind: Option<i64>,
    pub timer_read_behind: Option<i64>,
    pub timer_congest_num: Option<i64>,
    pub timer_enqueue_tps: Option<f64>,
    pub timer_dequeue_tps: Option<f64>,

    pub broker_version_desc: Option<String>,
    /// The `MQVersion` ordinal (`"479"`) from Java; rocketmq-rust sends a name (`"V5_3_3"`).
    pub broker_version: Option<String>,
    pub boot_timestamp_ms: Option<i64>,
    /// 5.x only.
    pub broker_active: Option<bool>,
    /// ms; written with the broker's locale decimal separator.
    pub put_latency_99: Option<f64>,
    pub put_latency_999: Option<f64>,
    pub put_message_entire_time_max_ms: Option<i64>,
    pub get_message_entire_time_max_ms: Option<i64>,
    /// Java reports 1 when the true count is 0.
    pub put_message_times_total: Option<i64>,
    pub put_message_size_total: Option<i64>,
    pub put_message_failed_times: Option<i64>,
    pub put_message_average_size: Option<f64>,
    /// Counts per latency bucket of the last print window, in Java's bucket order; `None`
    /// before the first window (`"null"`).
    pub put_message_distribute_time: Option<Vec<(String, i64)>>,
    pub start_accept_send_request_timestamp_ms: Option<i64>,
    /// `runtime`, e.g. `"[ 0 days, 1 hours, 2 minutes, 3 seconds ]"`, verbatim.
    pub runtime: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KvTable {
    #[serde(deserialize_with = "de::string_map")]
    table: BTreeMap<String, String>,
}

/// Every key read into a typed field, in ascending byte order (checked at compile time), so
/// [`RuntimeInfo::from_sorted`] finds them all in one merge walk over a sorted table.
const KEYS: [&str; 48] = [
    "bootTimestamp",
    "brokerActive",
    "brokerVersion",
    "brokerVersionDesc",
    "commitLogDirCapacity",
    "commitLogDiskRatio",
    "commitLogMaxOffset",
    "commitLogMinOffset",
    "consumeQueueDiskRatio",
    "dispatchBehindBytes",
    "earliestMessageTimeStamp",
    "getFoundTps",
    "getMessageEntireTimeMax",
    "getMissTps",
    "getTotalTps",
    "getTransferedTps",
    "getTransferredTps",
    "msgGetTotalTodayMorning",
    "msgGetTotalTodayNow",
    "msgGetTotalYesterdayMorning",
    "msgPutTotalTodayMorning",
    "msgPutTotalTodayNow",
    "msgPutTotalYesterdayMorning",
    "pageCacheLockTimeMills",
    "pullThreadPoolQueueCapacity",
    "pullThreadPoolQueueHeadWaitTimeMills",
    "pullThreadPoolQueueSize",
    "putLatency99",
    "putLatency999",
    "putMessageAverageSize",
    "putMessageDistributeTime",
    "putMessageEntireTimeMax",
    "putMessageFailedTimes",
    "putMessageSizeTotal",
    "putMessageTimesTotal",
    "putTps",
    "remainHowManyDataToCommit",
    "remainHowManyDataToFlush",
    "runtime",
    "sendThreadPoolQueueCapacity",
    "sendThreadPoolQueueHeadWaitTimeMills",
    "sendThreadPoolQueueSize",
    "startAcceptSendRequestTimeStamp",
    "timerCongestNum",
    "timerDequeueTps",
    "timerEnqueueTps",
    "timerOffsetBehind",
    "timerReadBehind",
];

const fn str_lt(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

const _: () = {
    let mut i = 1;
    while i < KEYS.len() {
        assert!(str_lt(KEYS[i - 1], KEYS[i]), "KEYS must be sorted and unique");
        i += 1;
    }
};

/// Index of `k` in [`KEYS`]; used in const context, so a missing key fails the build.
const fn key_index(k: &str) -> usize {
    let mut i = 0;
    while i < KEYS.len() {
        if !str_lt(KEYS[i], k) && !str_lt(k, KEYS[i]) {
            return i;
        }
        i += 1;
    }
    panic!("key missing from KEYS")
}

/// `KVTable` on the strict reader, with `de::string_map`'s rules: a later duplicate key wins,
/// and one whose last value is `null` is absent. `None` means "use the lenient path".
pub(super) fn fast_table(body: &[u8]) -> Option<BTreeMap<String, String>> {
    let mut r = Reader::new(body);
    let mut table: Option<BTreeMap<String, String>> = None;
    r.object(|r, key| {
        if key != b"table" {
            return r.skip_field(key);
        }
        if table.is_some() {
            return None;
        }
        let t = table.insert(BTreeMap::new());
        if r.null() {
            return Some(());
        }
        r.object(|r, k| {
            let k = field::utf8(k)?;
            match field::opt_string(r)? {
                Some(v) => {
                    t.insert(k.to_owned(), v);
                }
                None => {
                    t.remove(k);
                }
            }
            Some(())
        })
    })?;
    r.end()?;
    Some(table.unwrap_or_default())
}

/// One `scheduleMessageOffset_<level>` entry: `"<delivered>,<max>"`.
fn schedule_entry(level: &str, v: &str) -> Option<(i32, (i64, i64))> {
    let level = level.trim().parse::<i32>().ok()?;
    let (d, m) = v.split_once(',')?;
    Some((level, (de::parse_i64(d)?, de::parse_i64(m)?)))
}

/// Index of `k` in [`KEYS`]. Keys are looked up by length first: most of a body's ~80 keys
/// have a length no wanted key has, and the rest meet one or two candidates.
fn wanted_key(k: &[u8]) -> Option<usize> {
    static BY_LEN: std::sync::OnceLock<Vec<Vec<usize>>> = std::sync::OnceLock::new();
    let table = BY_LEN.get_or_init(|| {
        let mut t = vec![Vec::new(); KEYS.iter().map(|k| k.len()).max().unwrap_or(0) + 1];
        for (i, key) in KEYS.iter().enumerate() {
            t[key.len()].push(i);
        }
        t
    });
    table.get(k.len())?.iter().copied().find(|&i| KEYS[i].as_bytes() == k)
}

/// The typed figures straight from the body, with no map: values stay borrowed, keys outside
/// [`KEYS`] and the delay levels are skipped. Same rules as [`fast_table`] (a later duplicate wins,
/// a last value of `null` is absent); `None` means "use another path".
pub(super) fn fast_figures(body: &[u8]) -> Option<RuntimeInfo> {
    if let Some(info) = plain_figures(body) {
        return Some(info);
    }
    let mut r = Reader::new(body);
    let mut vals: [Option<Cow<'_, str>>; KEYS.len()] = [const { None }; KEYS.len()];
    // Delay levels are few (≤ 18); kept in arrival order, resolved like the map would.
    let mut schedule: Vec<(String, Option<Cow<'_, str>>)> = Vec::new();
    let mut seen_table = false;
    r.object(|r, key| {
        if key != b"table" {
            return r.skip_field(key);
        }
        if std::mem::replace(&mut seen_table, true) {
            return None;
        }
        if r.null() {
            return Some(());
        }
        r.object(|r, k| {
            let v = field::opt_str(r)?;
            if let Some(i) = wanted_key(k) {
                vals[i] = v;
            } else {
                let k = field::utf8(k)?;
                if k.starts_with("scheduleMessageOffset_") {
                    schedule.push((k.to_owned(), v));
                }
            }
            Some(())
        })
    })?;
    r.end()?;
    let mut levels: BTreeMap<String, Cow<'_, str>> = BTreeMap::new();
    for (k, v) in schedule {
        match v {
            Some(v) => levels.insert(k, v),
            None => levels.remove(&k),
        };
    }
    let schedule_message_offsets = levels
        .iter()
        .filter_map(|(k, v)| schedule_entry(k.strip_prefix("scheduleMessageOffset_")?, v))
        .collect();
    let vals: [Option<&str>; KEYS.len()] = std::array::from_fn(|i| vals[i].as_deref());
    Some(RuntimeInfo::from_values(&vals, schedule_message_offsets))
}

/// The figures from a body in exactly the form Java's fastjson writes: `{"table":{` then
/// `"key":"value"` pairs separated by commas, then `}}`, no whitespace, no `null`, no control
/// character in any string, and no escape but in values nobody reads ([`skip_string`]). The
/// body is checked as UTF-8 once and each string read in one pass, with none of the general
/// reader's per-token work. Anything else is `None`, for [`fast_figures`]' general reader,
/// which then decides exactly as before; the differential tests hold both to the lenient path.
pub(super) fn plain_figures(body: &[u8]) -> Option<RuntimeInfo> {
    const OPEN: &[u8] = b"{\"table\":{";
    let text = std::str::from_utf8(body).ok()?;
    let b = text.as_bytes();
    if !b.starts_with(OPEN) {
        return None;
    }
    // A string's text from `at` (just past its opening quote) and the index past its closing
    // quote; `None` at an escape or a control character.
    #[inline(always)]
    fn string(text: &str, at: usize) -> Option<(&str, usize)> {
        let b = text.as_bytes();
        let i = find_stop(b, at)?;
        if b[i] != b'"' {
            return None;
        }
        // Cut at ASCII quotes of a valid UTF-8 text: a char boundary on either side.
        Some((&text[at..i], i + 1))
    }
    let mut vals: [Option<&str>; KEYS.len()] = [None; KEYS.len()];
    let mut schedule: Vec<(&str, &str)> = Vec::new();
    let mut at = OPEN.len();
    if b.get(at) == Some(&b'}') {
        at += 1;
    } else {
        loop {
            if b.get(at) != Some(&b'"') {
                return None;
            }
            let (k, next) = string(text, at + 1)?;
            if b.get(next..next + 2) != Some(b":\"") {
                return None;
            }
            let next = if let Some(i) = wanted_key(k.as_bytes()) {
                let (v, next) = string(text, next + 2)?;
                vals[i] = Some(v);
                next
            } else if k.starts_with("scheduleMessageOffset_") {
                let (v, next) = string(text, next + 2)?;
                schedule.push((k, v));
                next
            } else {
                skip_string(b, next + 2)?
            };
            match b.get(next) {
                Some(b',') => at = next + 1,
                Some(b'}') => {
                    at = next + 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    if &b[at..] != b"}" {
        return None;
    }
    // As the general path: a later duplicate level wins, levels in key order.
    let mut levels: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in schedule {
        levels.insert(k, v);
    }
    let schedule_message_offsets = levels
        .iter()
        .filter_map(|(k, v)| schedule_entry(k.strip_prefix("scheduleMessageOffset_")?, v))
        .collect();
    Some(RuntimeInfo::from_values(&vals, schedule_message_offsets))
}

/// Past the closing quote of a string whose value nobody reads, from just past its opening
/// quote. Such values may hold escapes (rocketmq-rust nests JSON in one); only the escapes
/// every reader accepts alike pass (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, and `\u`
/// outside the surrogates), and a control character is refused, so that skipping never accepts
/// what the general reader would refuse: anything else is `None`.
fn skip_string(b: &[u8], mut at: usize) -> Option<usize> {
    loop {
        at = find_stop(b, at)?;
        match b[at] {
            b'"' => return Some(at + 1),
            b'\\' => {}
            _ => return None,
        }
        match *b.get(at + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => at += 2,
            b'u' => {
                let hex = std::str::from_utf8(b.get(at + 2..at + 6)?).ok()?;
                if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return None;
                }
                let unit = u16::from_str_radix(hex, 16).ok()?;
                if (0xD800..0xE000).contains(&unit) {
                    return None;
                }
                at += 6;
            }
            _ => return None,
        }
    }
}

/// Parses `MixAll.humanReadableByteCount` output: `"12 B"`, `"1.5 GiB"`, `"1,5 GiB"` (locale
/// comma), SI `"1.5 kB"`, or a bare number of bytes. Rounds to whole bytes.
pub fn parse_human_bytes(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s
        .find(|c: char| c.is_ascii_alphabetic() && c != 'E' && c != 'e')
        .unwrap_or(s.len());
    let (num, unit) = (s[..split].trim(), s[split..].trim());
    let v = de::parse_f64(num)?;
    let mult: f64 = match unit {
        "" | "B" => 1.0,
        _ => {
            let (prefix, binary) = if let Some(p) = unit.strip_suffix("iB") {
                (p, true)
            } else if let Some(p) = unit.strip_suffix('B') {
                (p, false)
            } else {
                return None;
            };
            let exp = match prefix {
                "K" | "k" => 1,
                "M" => 2,
                "G" => 3,
                "T" => 4,
                "P" => 5,
                "E" => 6,
                _ => return None,
            };
            (if binary { 1024f64 } else { 1000f64 }).powi(exp)
        }
    };
    let bytes = (v * mult).round();
    (bytes.is_finite() && bytes.abs() < 9.2e18).then_some(bytes as i64)
}

/// `"Total : 100.0 GiB, Free : 50.0 GiB."` ⇒ (total, free). The split is at `", Free"` so a
/// locale decimal comma inside the sizes does not matter.
fn parse_dir_capacity(s: &str) -> Option<(i64, i64)> {
    let s = s.trim().trim_end_matches('.');
    let (total, free) = s.split_once("Free")?;
    let total = total.trim_end().trim_end_matches(',');
    let total = total.split_once(':')?.1;
    let free = free.split_once(':')?.1;
    Some((parse_human_bytes(total)?, parse_human_bytes(free)?))
}

/// `"[<=0ms]:3 [0~10ms]:5 … "` ⇒ [("<=0ms", 3), ("0~10ms", 5), …].
fn parse_distribute_time(s: &str) -> Option<Vec<(String, i64)>> {
    let s = s.trim();
    if s.is_empty() || s == "null" {
        return None;
    }
    s.split_whitespace()
        .map(|tok| {
            let (bucket, n) = tok.rsplit_once("]:")?;
            Some((bucket.strip_prefix('[')?.to_owned(), de::parse_i64(n)?))
        })
        .collect()
}

/// Delay-level plus timer messages not yet delivered; None when neither is known.
pub fn pending_sum(delay_level: Option<i64>, timer: Option<i64>) -> Option<i64> {
    match (delay_level, timer) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

impl RuntimeInfo {
    /// A strict fast path reads the usual `{"table":{"k":"v",…}}` straight into the map; anything
    /// unusual goes through the lenient path (same value or error).
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        match fast_table(body) {
            Some(table) => Ok(Self::from_table(table)),
            None => Self::decode_lenient(body),
        }
    }

    /// The typed figures only: `raw` stays empty. What the collector needs, without one owned
    /// key and value per table entry; same figures as [`RuntimeInfo::decode`].
    pub fn decode_figures(body: &[u8]) -> Result<Self, DecodeError> {
        match fast_figures(body) {
            Some(info) => Ok(info),
            None => Self::decode_lenient(body).map(|mut info| {
                info.raw = BTreeMap::new();
                info
            }),
        }
    }

    /// The lenient path alone (pre-pass + serde). Public for the benchmark baseline and the fast
    /// path's differential tests.
    #[doc(hidden)]
    pub fn decode_lenient(body: &[u8]) -> Result<Self, DecodeError> {
        let kv: KvTable = from_slice("KVTable", body)?;
        Ok(Self::from_table(kv.table))
    }

    pub fn from_table(table: BTreeMap<String, String>) -> Self {
        let mut info = Self::from_sorted(table.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        info.raw = table;
        info
    }

    /// The typed figures from `(key, value)` pairs in ascending key order without duplicates
    /// (a `BTreeMap`'s order): one merge walk against [`KEYS`] instead of a map lookup per
    /// figure. `raw` is left empty.
    fn from_sorted<'t>(entries: impl Iterator<Item = (&'t str, &'t str)>) -> Self {
        let mut vals: [Option<&str>; KEYS.len()] = [None; KEYS.len()];
        let mut schedule_message_offsets = BTreeMap::new();
        let mut ki = 0;
        for (k, v) in entries {
            while ki < KEYS.len() && KEYS[ki] < k {
                ki += 1;
            }
            if ki < KEYS.len() && KEYS[ki] == k {
                vals[ki] = Some(v);
            } else if let Some(level) = k.strip_prefix("scheduleMessageOffset_") {
                if let Some((level, offsets)) = schedule_entry(level, v) {
                    schedule_message_offsets.insert(level, offsets);
                }
            }
        }
        Self::from_values(&vals, schedule_message_offsets)
    }

    /// The typed figures from each [`KEYS`] entry's value (by index) and the parsed delay levels.
    fn from_values(vals: &[Option<&str>; KEYS.len()], schedule_message_offsets: BTreeMap<i32, (i64, i64)>) -> Self {
        macro_rules! s {
            ($k:literal) => {
                vals[const { key_index($k) }]
                    .map(de::trim)
                    .filter(|v| !v.is_empty() && *v != "null")
            };
        }
        macro_rules! int {
            ($k:literal) => {
                s!($k).and_then(de::parse_i64)
            };
        }
        macro_rules! float {
            ($k:literal) => {
                s!($k).and_then(de::parse_f64)
            };
        }
        macro_rules! tps {
            ($k:literal) => {
                s!($k).and_then(TpsTriple::parse)
            };
        }
        macro_rules! bytes {
            ($k:literal) => {
                s!($k).and_then(parse_human_bytes)
            };
        }
        macro_rules! text {
            ($k:literal) => {
                s!($k).map(str::to_owned)
            };
        }

        RuntimeInfo {
            put_tps: tps!("putTps"),
            get_transferred_tps: tps!("getTransferredTps").or_else(|| tps!("getTransferedTps")),
            get_found_tps: tps!("getFoundTps"),
            get_miss_tps: tps!("getMissTps"),
            get_total_tps: tps!("getTotalTps"),
            msg_put_total_today_now: int!("msgPutTotalTodayNow"),
            msg_get_total_today_now: int!("msgGetTotalTodayNow"),
            msg_put_total_today_morning: int!("msgPutTotalTodayMorning"),
            msg_get_total_today_morning: int!("msgGetTotalTodayMorning"),
            msg_put_total_yesterday_morning: int!("msgPutTotalYesterdayMorning"),
            msg_get_total_yesterday_morning: int!("msgGetTotalYesterdayMorning"),
            send_thread_pool_queue_size: int!("sendThreadPoolQueueSize"),
            send_thread_pool_queue_capacity: int!("sendThreadPoolQueueCapacity"),
            send_thread_pool_queue_head_wait_ms: int!("sendThreadPoolQueueHeadWaitTimeMills"),
            pull_thread_pool_queue_size: int!("pullThreadPoolQueueSize"),
            pull_thread_pool_queue_capacity: int!("pullThreadPoolQueueCapacity"),
            pull_thread_pool_queue_head_wait_ms: int!("pullThreadPoolQueueHeadWaitTimeMills"),
            page_cache_lock_time_ms: int!("pageCacheLockTimeMills"),
            earliest_message_timestamp_ms: int!("earliestMessageTimeStamp").filter(|&t| t >= 0),
            commit_log_disk_ratio: float!("commitLogDiskRatio"),
            consume_queue_disk_ratio: float!("consumeQueueDiskRatio"),
            commit_log_max_offset: int!("commitLogMaxOffset"),
            commit_log_min_offset: int!("commitLogMinOffset"),
            dispatch_behind_bytes: int!("dispatchBehindBytes"),
            remain_how_many_data_to_flush_bytes: bytes!("remainHowManyDataToFlush"),
            remain_how_many_data_to_commit_bytes: bytes!("remainHowManyDataToCommit"),
            commit_log_dir_capacity: s!("commitLogDirCapacity").and_then(parse_dir_capacity),
            schedule_message_offsets,
            timer_offset_behind: int!("timerOffsetBehind"),
            timer_read_behind: int!("timerReadBehind"),
            timer_congest_num: int!("timerCongestNum"),
            timer_enqueue_tps: float!("timerEnqueueTps"),
            timer_dequeue_tps: float!("timerDequeueTps"),
            broker_version_desc: text!("brokerVersionDesc"),
            broker_version: text!("brokerVersion"),
            boot_timestamp_ms: int!("bootTimestamp"),
            broker_active: s!("brokerActive").and_then(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            }),
            put_latency_99: float!("putLatency99"),
            put_latency_999: float!("putLatency999"),
            put_message_entire_time_max_ms: int!("putMessageEntireTimeMax"),
            get_message_entire_time_max_ms: int!("getMessageEntireTimeMax"),
            put_message_times_total: int!("putMessageTimesTotal"),
            put_message_size_total: int!("putMessageSizeTotal"),
            put_message_failed_times: int!("putMessageFailedTimes"),
            put_message_average_size: float!("putMessageAverageSize"),
            put_message_distribute_time: s!("putMessageDistributeTime")
                .and_then(parse_distribute_time),
            start_accept_send_request_timestamp_ms: int!("startAcceptSendRequestTimeStamp"),
            runtime: text!("runtime"),
            raw: BTreeMap::new(),
        }
    }

    /// delayed messages not yet delivered: Σ over levels max(max−delivered,0) plus 5.x timer backlog where present; None when neither kind of key is present
    ///
    /// The 5.x timer backlog is `timerCongestNum` (messages waiting in the wheel) plus
    /// `timerOffsetBehind` (timer messages not yet enqueued into the wheel).
    pub fn scheduled_pending(&self) -> Option<i64> {
        pending_sum(self.delay_level_pending(), self.timer_pending())
    }

    /// Delay-level messages not yet delivered: Σ over the `scheduleMessageOffset_<level>` keys of
    /// max(max − delivered, 0). None without such keys: the broker lists a level only once its
    /// delivery task has recorded progress, so a level used just now may be missing.
    pub fn delay_level_pending(&self) -> Option<i64> {
        (!self.schedule_message_offsets.is_empty()).then(|| {
            self.schedule_message_offsets
                .values()
                .fold(0i64, |acc, &(delivered, max)| acc.saturating_add(max.saturating_sub(delivered).max(0)))
        })
    }

    /// 5.x timer messages not yet delivered (`timerCongestNum` + `timerOffsetBehind`); None on
    /// brokers without a timer wheel.
    pub fn timer_pending(&self) -> Option<i64> {
        match (self.timer_congest_num, self.timer_offset_behind) {
            (None, None) => None,
            (c, o) => Some(c.unwrap_or(0).max(0).saturating_add(o.unwrap_or(0).max(0))),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The plain scan takes Java's form and escapes in unread values, and leaves the rest to
    /// the general reader (the differential tests check the values it gives).
    #[test]
    fn plain_scan_takes_what_it_can_and_leaves_the_rest() {
        let takes = [
            r#"{"table":{}}"#,
            r#"{"table":{"commitLogMaxOffset":"5","putTps":"1.0 2.0 3.0","scheduleMessageOffset_3":"1,4"}}"#,
            r#"{"table":{"x":"{\"a\":\"\u00e9\\\/\n\"}","commitLogMaxOffset":"5"}}"#,
        ];
        for body in takes {
            let info = plain_figures(body.as_bytes()).unwrap_or_else(|| panic!("refused {body}"));
            let mut lenient = RuntimeInfo::decode_lenient(body.as_bytes()).unwrap();
            lenient.raw.clear();
            assert_eq!(info, lenient, "{body}");
        }
        let info = plain_figures(takes[1].as_bytes()).unwrap();
        assert_eq!((info.commit_log_max_offset, info.schedule_message_offsets.get(&3)), (Some(5), Some(&(1, 4))));
        let leaves = [
            r#"{"table":{"commitLogMaxOffset":"5\u0036"}}"#,
            r#"{"table":{"commit\u004cogMaxOffset":"5"}}"#,
            r#"{"table":{"x":"\x"}}"#,
            r#"{"table":{"x":"\ud83d\ude00"}}"#,
            "{\"table\":{\"x\":\"tab\there\"}}",
            r#"{"table": {}}"#,
            r#"{"table":{"k":null}}"#,
            r#"{"table":{"k":1}}"#,
            r#"{"table":{}} "#,
            r#"{"other":1,"table":{}}"#,
        ];
        for body in leaves {
            assert!(plain_figures(body.as_bytes()).is_none(), "took {body}");
        }
        assert!(plain_figures(b"{\"table\":{\"k\":\"\xff\"}}").is_none(), "invalid UTF-8");
    }

    #[test]
    fn wanted_key_finds_every_key_and_nothing_else() {
        for (i, k) in KEYS.iter().enumerate() {
            assert_eq!(wanted_key(k.as_bytes()), Some(i), "{k}");
            let mut other = k.as_bytes().to_vec();
            *other.last_mut().unwrap() ^= 0x20;
            assert_eq!(wanted_key(&other), None, "{k} with its last letter's case flipped");
            let cut = &k[..k.len() - 1];
            assert_eq!(wanted_key(cut.as_bytes()), KEYS.iter().position(|x| *x == cut), "{k} cut");
        }
        assert_eq!(wanted_key(b""), None);
        assert_eq!(wanted_key(&[b'x'; 300]), None);
    }

    use super::*;

    fn table(pairs: &[(&str, &str)]) -> RuntimeInfo {
        RuntimeInfo::from_table(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn tps_triples() {
        assert_eq!(
            TpsTriple::parse("3.2  "),
            Some(TpsTriple {
                w10: Some(3.2),
                w60: None,
                w600: None
            })
        );
        assert_eq!(
            TpsTriple::parse("1.0E-4 0.5 12"),
            Some(TpsTriple {
                w10: Some(1.0e-4),
                w60: Some(0.5),
                w600: Some(12.0)
            })
        );
        assert_eq!(
            TpsTriple::parse("NaN Infinity 2.0"),
            Some(TpsTriple {
                w10: None,
                w60: None,
                w600: Some(2.0)
            })
        );
        assert_eq!(
            TpsTriple::parse(" 4.0 "),
            Some(TpsTriple {
                w10: None,
                w60: Some(4.0),
                w600: None
            })
        );
        assert_eq!(TpsTriple::parse("  "), None);
        assert_eq!(TpsTriple::parse(""), None);
    }

    #[test]
    fn human_bytes() {
        assert_eq!(parse_human_bytes("12 B"), Some(12));
        assert_eq!(parse_human_bytes("0 B"), Some(0));
        assert_eq!(parse_human_bytes("-5 B"), Some(-5));
        assert_eq!(parse_human_bytes("1.5 GiB"), Some(1_610_612_736));
        assert_eq!(parse_human_bytes("1,5 GiB"), Some(1_610_612_736));
        assert_eq!(parse_human_bytes("1.0 KiB"), Some(1024));
        assert_eq!(parse_human_bytes("100.0 MiB"), Some(104_857_600));
        assert_eq!(parse_human_bytes("2.0 TiB"), Some(2 * (1i64 << 40)));
        assert_eq!(parse_human_bytes("8.0 EiB"), None, "beyond i64");
        assert_eq!(parse_human_bytes("1.5 kB"), Some(1500));
        assert_eq!(parse_human_bytes("3.0 MB"), Some(3_000_000));
        assert_eq!(parse_human_bytes("4096"), Some(4096));
        assert_eq!(parse_human_bytes("1.0E3 B"), Some(1000));
        assert_eq!(parse_human_bytes("1.5 XiB"), None);
        assert_eq!(parse_human_bytes("GiB"), None);
        assert_eq!(parse_human_bytes(""), None);
    }

    #[test]
    fn dir_capacity() {
        assert_eq!(
            parse_dir_capacity("Total : 100.0 GiB, Free : 50.0 GiB."),
            Some((100 << 30, 50 << 30))
        );
        assert_eq!(
            parse_dir_capacity("Total : 1,5 TiB, Free : 0,5 TiB."),
            Some((3 << 39, 1 << 39))
        );
        assert_eq!(
            parse_dir_capacity("Total : 12 B, Free : 0 B."),
            Some((12, 0))
        );
        assert_eq!(parse_dir_capacity("garbage"), None);
    }

    #[test]
    fn java_498_table() {
        let body = br#"{"table":{"bootTimestamp":"1700000000000","brokerVersion":"409","brokerVersionDesc":"V4_9_8","commitLogDirCapacity":"Total : 100.0 GiB, Free : 50.0 GiB.","commitLogDiskRatio":"0.5","commitLogDiskRatio_/data/store/commitlog":"0.5","commitLogMaxOffset":"9223372036854775807","commitLogMinOffset":"0","consumeQueueDiskRatio":"0.5","dispatchBehindBytes":"0","dispatchMaxBuffer":"0","earliestMessageTimeStamp":"-1","getFoundTps":"0.0 0.0 0.0","getMissTps":"3.2  ","getTotalTps":"3.2 3.1 3.0","getTransferedTps":"7.5 6.5 5.5","msgGetTotalTodayNow":"100","msgPutTotalTodayNow":"200","msgPutTotalTodayMorning":"150","pageCacheLockTimeMills":"0","pullThreadPoolQueueHeadWaitTimeMills":"0","pullThreadPoolQueueSize":"0","putLatency99":"1,25","putLatency999":"2.00","putMessageDistributeTime":"null","putMessageTimesTotal":"1","putTps":"1.0E-4 0.0 0.0","remainHowManyDataToFlush":"12 B","remainTransientStoreBufferNumbs":"2147483647","runtime":"[ 1,234 days, 1 hours, 2 minutes, 3 seconds ]","scheduleMessageOffset_1":"10,12","scheduleMessageOffset_2":"7,5","sendThreadPoolQueueHeadWaitTimeMills":"15","sendThreadPoolQueueSize":"3"}}"#;
        let r = RuntimeInfo::decode(body).unwrap();
        assert_eq!(r.broker_version_desc.as_deref(), Some("V4_9_8"));
        assert_eq!(r.broker_version.as_deref(), Some("409"));
        assert_eq!(r.commit_log_max_offset, Some(i64::MAX));
        assert_eq!(r.earliest_message_timestamp_ms, None);
        assert_eq!(r.get_transferred_tps.unwrap().w10, Some(7.5));
        assert_eq!(
            r.get_miss_tps,
            Some(TpsTriple {
                w10: Some(3.2),
                w60: None,
                w600: None
            })
        );
        assert_eq!(r.put_tps.unwrap().w10, Some(1.0e-4));
        assert_eq!(r.put_latency_99, Some(1.25));
        assert_eq!(r.put_latency_999, Some(2.0));
        assert_eq!(r.put_message_distribute_time, None);
        assert_eq!(r.remain_how_many_data_to_flush_bytes, Some(12));
        assert_eq!(r.commit_log_dir_capacity, Some((100 << 30, 50 << 30)));
        assert_eq!(r.send_thread_pool_queue_size, Some(3));
        assert_eq!(r.send_thread_pool_queue_head_wait_ms, Some(15));
        assert_eq!(r.broker_active, None);
        assert_eq!(
            r.schedule_message_offsets,
            BTreeMap::from([(1, (10, 12)), (2, (7, 5))])
        );
        // Level 2 has delivered past max (never negative); no timer keys on 4.9.
        assert_eq!(r.scheduled_pending(), Some(2));
        assert_eq!(r.msg_put_total_today_morning, Some(150));
        assert_eq!(r.raw["remainTransientStoreBufferNumbs"], "2147483647");
        assert_eq!(
            r.runtime.as_deref(),
            Some("[ 1,234 days, 1 hours, 2 minutes, 3 seconds ]")
        );
    }

    #[test]
    fn java_533_table() {
        let r = table(&[
            ("getTransferredTps", "1.0 2.0 3.0"),
            ("getTransferedTps", "9.0 9.0 9.0"),
            ("brokerActive", "true"),
            ("timerCongestNum", "40"),
            ("timerOffsetBehind", "2"),
            ("timerReadBehind", "0"),
            ("timerEnqueueTps", "0.0"),
            ("earliestMessageTimeStamp", "1700000000000"),
            ("remainHowManyDataToFlush", "1,5 GiB"),
            (
                "putMessageDistributeTime",
                "[<=0ms]:3 [0~10ms]:5 [10~50ms]:0 [10s~]:1 ",
            ),
            ("brokerVersion", "479"),
        ]);
        assert_eq!(
            r.get_transferred_tps.unwrap().w600,
            Some(3.0),
            "5.x key wins"
        );
        assert_eq!(r.broker_active, Some(true));
        assert_eq!(r.scheduled_pending(), Some(42));
        assert_eq!(r.timer_read_behind, Some(0));
        assert_eq!(r.timer_enqueue_tps, Some(0.0));
        assert_eq!(r.earliest_message_timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(r.remain_how_many_data_to_flush_bytes, Some(1_610_612_736));
        let d = r.put_message_distribute_time.unwrap();
        assert_eq!(d.len(), 4);
        assert_eq!(d[0], ("<=0ms".to_string(), 3));
        assert_eq!(d[3], ("10s~".to_string(), 1));
    }

    #[test]
    fn scheduled_pending_combines_both_kinds() {
        let r = table(&[
            ("scheduleMessageOffset_3", "5,10"),
            ("timerCongestNum", "7"),
        ]);
        assert_eq!(r.scheduled_pending(), Some(12));
        assert_eq!(table(&[("putTps", "1 1 1")]).scheduled_pending(), None);
        assert_eq!(
            table(&[("scheduleMessageOffset_1", "5,5")]).scheduled_pending(),
            Some(0)
        );
        assert_eq!(
            table(&[
                ("scheduleMessageOffset_x", "5,9"),
                ("scheduleMessageOffset_2", "bad")
            ])
            .scheduled_pending(),
            None
        );
    }

    #[test]
    fn rocketmq_rust_table() {
        // Version as a name, no thread-pool keys, numbers and nulls as JSON values.
        let body = br#"{"table":{"brokerVersion":"V5_3_3","brokerVersionDesc":"V5_3_3","commitLogMaxOffset":12345,"brokerActive":"false","putTps":"0.0 0.0 0.0","earliestMessageTimeStamp":null,"x":true}}"#;
        let r = RuntimeInfo::decode(body).unwrap();
        assert_eq!(r.broker_version.as_deref(), Some("V5_3_3"));
        assert_eq!(r.commit_log_max_offset, Some(12345));
        assert_eq!(r.broker_active, Some(false));
        assert_eq!(r.send_thread_pool_queue_size, None);
        assert_eq!(r.pull_thread_pool_queue_head_wait_ms, None);
        assert_eq!(r.earliest_message_timestamp_ms, None);
        assert!(!r.raw.contains_key("earliestMessageTimeStamp"));
        assert_eq!(r.raw["x"], "true");
    }

    #[test]
    fn odd_values_cost_only_their_field() {
        let r = table(&[
            ("commitLogMaxOffset", "abc"),
            ("commitLogMinOffset", " 42 "),
            ("putTps", "x y z"),
            ("commitLogDiskRatio", "-1"),
            ("brokerActive", "maybe"),
            ("putLatency99", ""),
        ]);
        assert_eq!(r.commit_log_max_offset, None);
        assert_eq!(r.commit_log_min_offset, Some(42));
        assert_eq!(r.put_tps, None);
        assert_eq!(r.commit_log_disk_ratio, Some(-1.0));
        assert_eq!(r.broker_active, None);
        assert_eq!(r.put_latency_99, None);
        assert_eq!(RuntimeInfo::decode(b"{}").unwrap(), RuntimeInfo::default());
        assert!(RuntimeInfo::decode(b"{\"table\":[]}").is_err());
    }
}
