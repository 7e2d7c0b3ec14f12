//! The last answer of each peer to a question whose answer rarely changes, so that an
//! unchanged one is not decoded again.
//!
//! A broker's configuration (26) changes only when someone updates it, and a NameServer's
//! cluster info (106) only when brokers come or go, yet every cycle asks for all of both
//! (~200 lines of config from each Java broker). An answer byte-for-byte equal to the one the
//! same address sent last cycle decodes to the same value, so the earlier result is reused: the
//! memo compares bytes, never versions or hashes, and cannot go stale. Entries of addresses
//! that a cycle did not answer are dropped at its end.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct BodyMemo<T> {
    inner: Mutex<Inner<T>>,
}

impl<T> Default for BodyMemo<T> {
    fn default() -> Self {
        BodyMemo { inner: Mutex::new(Inner { cycle: 0, last: HashMap::new() }) }
    }
}

#[derive(Debug)]
struct Inner<T> {
    /// The cycle now running; entries not touched in it are swept at its end.
    cycle: u64,
    last: HashMap<String, Entry<T>>,
}

#[derive(Debug)]
struct Entry<T> {
    body: Vec<u8>,
    value: Arc<T>,
    cycle: u64,
}

impl<T> BodyMemo<T> {
    /// `addr`'s value from `body`: the memo's when the body is the one it holds, otherwise
    /// `decode(body)`, remembered when it succeeds.
    pub fn decode<E>(&self, addr: &str, body: &[u8], decode: impl FnOnce(&[u8]) -> Result<T, E>) -> Result<Arc<T>, E> {
        {
            let mut inner = self.inner.lock().unwrap();
            let cycle = inner.cycle;
            if let Some(e) = inner.last.get_mut(addr) {
                if e.body == body {
                    e.cycle = cycle;
                    return Ok(e.value.clone());
                }
            }
        }
        // Decoded outside the lock: other nodes' answers are looked up meanwhile.
        let decoded = decode(body);
        let mut inner = self.inner.lock().unwrap();
        let cycle = inner.cycle;
        match decoded {
            Ok(value) => {
                let value = Arc::new(value);
                match inner.last.get_mut(addr) {
                    Some(e) => {
                        e.body.clear();
                        e.body.extend_from_slice(body);
                        e.value = value.clone();
                        e.cycle = cycle;
                    }
                    None => {
                        inner.last.insert(addr.to_owned(), Entry { body: body.to_vec(), value: value.clone(), cycle });
                    }
                }
                Ok(value)
            }
            Err(e) => {
                inner.last.remove(addr);
                Err(e)
            }
        }
    }

    /// Ends a cycle: forgets the addresses it did not hear from (gone, failing, or renamed), so
    /// the memo holds at most one body per live peer.
    pub fn end_cycle(&self) {
        let mut inner = self.inner.lock().unwrap();
        let cycle = inner.cycle;
        inner.last.retain(|_, e| e.cycle == cycle);
        inner.cycle += 1;
    }

    /// Addresses held (for tests and the memory accounting).
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::broker_config::BrokerConfig;
    use std::cell::Cell;

    type ConfigMemo = BodyMemo<BrokerConfig>;

    fn decode_counting<'a>(calls: &'a Cell<usize>) -> impl Fn(&[u8]) -> Result<BrokerConfig, ()> + 'a {
        move |b| {
            calls.set(calls.get() + 1);
            BrokerConfig::decode(b).map_err(|_| ())
        }
    }

    #[test]
    fn an_unchanged_body_is_not_decoded_again_and_a_changed_one_is() {
        let memo = ConfigMemo::default();
        let calls = Cell::new(0);
        let rw = b"brokerName=b\nbrokerPermission=6\n";
        let ro = b"brokerName=b\nbrokerPermission=4\n";
        let a = memo.decode("a:1", rw, decode_counting(&calls)).unwrap();
        assert_eq!((a.broker_permission(), calls.get()), (Some(6), 1));
        let again = memo.decode("a:1", rw, decode_counting(&calls)).unwrap();
        assert!(Arc::ptr_eq(&a, &again), "the same answer shares the earlier decode");
        assert_eq!(calls.get(), 1);
        // One byte differs: decoded, and the new value is what later equal bodies get.
        let changed = memo.decode("a:1", ro, decode_counting(&calls)).unwrap();
        assert_eq!((changed.broker_permission(), calls.get()), (Some(4), 2));
        assert_eq!(memo.decode("a:1", ro, decode_counting(&calls)).unwrap().broker_permission(), Some(4));
        assert_eq!(calls.get(), 2);
        // Back to the first body: not confused with what was memoised before the change.
        assert_eq!(memo.decode("a:1", rw, decode_counting(&calls)).unwrap().broker_permission(), Some(6));
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn addresses_are_kept_apart_and_a_prefix_is_not_equal() {
        let memo = ConfigMemo::default();
        let calls = Cell::new(0);
        memo.decode("a:1", b"brokerPermission=6\n", decode_counting(&calls)).unwrap();
        let b = memo.decode("b:1", b"brokerPermission=6\n", decode_counting(&calls)).unwrap();
        assert_eq!((b.broker_permission(), calls.get()), (Some(6), 2), "another node decodes its own");
        let cut = memo.decode("a:1", b"brokerPermission=6", decode_counting(&calls)).unwrap();
        assert_eq!((cut.broker_permission(), calls.get()), (Some(6), 3));
        let longer = memo.decode("a:1", b"brokerPermission=6\nbrokerRole=SLAVE\n", decode_counting(&calls)).unwrap();
        assert_eq!((longer.broker_role(), calls.get()), (Some("SLAVE"), 4));
    }

    #[test]
    fn a_failed_decode_is_not_remembered() {
        let memo = ConfigMemo::default();
        memo.decode("a:1", b"x=1\n", BrokerConfig::decode).unwrap();
        assert!(memo.decode("a:1", b"y=2\n", |_| Err("bad")).is_err());
        assert!(memo.is_empty(), "the failure drops the old entry too");
        let calls = Cell::new(0);
        memo.decode("a:1", b"x=1\n", decode_counting(&calls)).unwrap();
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn a_cycle_that_did_not_hear_from_an_address_forgets_it() {
        let memo = ConfigMemo::default();
        let calls = Cell::new(0);
        memo.decode("a:1", b"k=1\n", decode_counting(&calls)).unwrap();
        memo.decode("b:1", b"k=1\n", decode_counting(&calls)).unwrap();
        memo.end_cycle();
        assert_eq!(memo.len(), 2);
        // Next cycle only a answers (a hit still counts as heard from).
        memo.decode("a:1", b"k=1\n", decode_counting(&calls)).unwrap();
        assert_eq!(calls.get(), 2);
        memo.end_cycle();
        assert_eq!(memo.len(), 1);
        memo.decode("b:1", b"k=1\n", decode_counting(&calls)).unwrap();
        assert_eq!(calls.get(), 3, "b is decoded afresh");
    }
}
