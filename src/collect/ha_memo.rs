//! Which masters do not implement GET_BROKER_HA_STATUS (907), so later cycles need not ask.
//!
//! A 4.x broker answers 907 with "request code not supported" every time; asking anyway costs one
//! of four requests per master per cycle. Support can only change with the broker's build, so
//! the memo holds the version the broker reported when it refused, and forgets the address as
//! soon as that version changes (an upgrade in place is asked again on the next cycle).

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct HaMemo {
    /// address ⇒ version it reported when it answered "not supported".
    unsupported: Mutex<HashMap<String, String>>,
}

/// What this cycle learned about one master's 907 support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaAnswer {
    /// Not asked: the memo said the broker does not support it.
    Skipped,
    Supported,
    Unsupported,
    /// The request failed (timeout, I/O, decode): learn nothing.
    Failed,
}

impl HaMemo {
    /// True when `addr` refused 907 before, at a version that has not changed since.
    pub fn skip(&self, addr: &str) -> bool {
        self.unsupported.lock().unwrap().contains_key(addr)
    }

    /// Records this cycle's answer with the version the broker reported in the same cycle
    /// (`None` when its runtime info failed).
    pub fn record(&self, addr: &str, version: Option<&str>, answer: HaAnswer) {
        let mut m = self.unsupported.lock().unwrap();
        match (answer, version) {
            (HaAnswer::Unsupported, Some(v)) => {
                m.insert(addr.to_string(), v.to_string());
            }
            // Without a version there is nothing to notice an upgrade by: keep asking.
            (HaAnswer::Unsupported, None) | (HaAnswer::Supported, _) => {
                m.remove(addr);
            }
            (HaAnswer::Skipped, Some(v)) => {
                if m.get(addr).is_some_and(|known| known != v) {
                    m.remove(addr);
                }
            }
            (HaAnswer::Skipped, None) | (HaAnswer::Failed, _) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_remembered_until_the_version_changes() {
        let m = HaMemo::default();
        assert!(!m.skip("a:1"));
        m.record("a:1", Some("V4_9_8"), HaAnswer::Unsupported);
        assert!(m.skip("a:1"));
        assert!(!m.skip("b:1"), "per address");
        m.record("a:1", Some("V4_9_8"), HaAnswer::Skipped);
        assert!(m.skip("a:1"));
        m.record("a:1", None, HaAnswer::Skipped);
        assert!(
            m.skip("a:1"),
            "an unknown version is no evidence of an upgrade"
        );
        m.record("a:1", Some("V5_3_3"), HaAnswer::Skipped);
        assert!(!m.skip("a:1"), "upgraded in place: ask again");
    }

    #[test]
    fn support_or_an_unversioned_refusal_is_not_remembered() {
        let m = HaMemo::default();
        m.record("a:1", None, HaAnswer::Unsupported);
        assert!(!m.skip("a:1"));
        m.record("a:1", Some("V4_9_8"), HaAnswer::Unsupported);
        m.record("a:1", Some("V4_9_8"), HaAnswer::Failed);
        assert!(m.skip("a:1"), "a failed request teaches nothing");
        m.record("a:1", Some("V4_9_8"), HaAnswer::Supported);
        assert!(!m.skip("a:1"));
    }
}
