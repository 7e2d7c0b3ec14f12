//! What the collector hands to the HTTP side: the latest rendered exposition and readiness.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;

/// The latest exposition, rendered once per collection cycle; scrapes only read it.
///
/// The gzip form is computed here, once per cycle, so that a scrape with
/// `Accept-Encoding: gzip` costs a pointer copy rather than a compression pass.
#[derive(Debug, Clone)]
pub struct Exposition {
    /// The Prometheus text exposition (format 0.0.4).
    pub body: Bytes,
    /// `body` gzip-compressed.
    pub gzip: Bytes,
}

impl Exposition {
    /// Wraps a rendered exposition and pre-compresses it. Compression is CPU work proportional
    /// to the body (milliseconds per megabyte), so call it where rendering happens, not per scrape.
    pub fn new(body: Vec<u8>) -> Self {
        let gzip = gzip(&body);
        Exposition {
            body: Bytes::from(body),
            gzip: Bytes::from(gzip),
        }
    }
}

/// Compresses with a fast level: the exposition is re-rendered every cycle, and the size win of
/// higher levels on repetitive metric text is small.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 4 + 64), Compression::fast());
    // Writing into a Vec cannot fail.
    enc.write_all(data).expect("writing to a Vec");
    enc.finish().expect("writing to a Vec")
}

/// Shared between the collector (writer) and the HTTP server (readers); cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ServeState {
    /// `None` until the first collection cycle finished.
    pub exposition: Arc<ArcSwapOption<Exposition>>,
    /// Set by the first [`ServeState::publish`]; drives `/-/ready`.
    pub ready: Arc<AtomicBool>,
}

impl ServeState {
    /// An empty state: scrapes get 503 and `/-/ready` is 503 until the first publish.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the served exposition and marks the exporter ready.
    pub fn publish(&self, e: Exposition) {
        self.exposition.store(Some(Arc::new(e)));
        self.ready.store(true, Ordering::Release);
    }

    /// Whether a first exposition was published.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    #[test]
    fn gzip_round_trips() {
        let text = "# HELP x y\n# TYPE x gauge\nx 1\n".repeat(100);
        let e = Exposition::new(text.clone().into_bytes());
        assert_eq!(e.body, text.as_bytes());
        assert!(e.gzip.len() < e.body.len());
        let mut out = String::new();
        GzDecoder::new(&e.gzip[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn publish_sets_ready_and_replaces() {
        let s = ServeState::new();
        assert!(!s.is_ready());
        assert!(s.exposition.load().is_none());
        let clone = s.clone();
        clone.publish(Exposition::new(b"a 1\n".to_vec()));
        assert!(s.is_ready());
        clone.publish(Exposition::new(b"a 2\n".to_vec()));
        assert_eq!(s.exposition.load().as_ref().unwrap().body, &b"a 2\n"[..]);
    }
}
