//! HTTP basic auth against bcrypt hashes, with a short cache of successful checks.
//!
//! bcrypt is deliberately slow (tens of milliseconds at cost 10), and Prometheus sends the same
//! `Authorization` header on every scrape, so successful verifications are cached for
//! [`CACHE_TTL`]. Cache keys are an HMAC of the header under a per-process random key, so the
//! cache never holds passwords or fast-to-crack hashes of them. Failed checks are never cached.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// How long a successful verification is trusted without re-running bcrypt.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(60);
/// Bounds memory when many distinct valid headers are seen (e.g. many users).
const CACHE_MAX: usize = 1024;

type CacheKey = [u8; 20];

/// The `basic_auth_users` of one web config, plus its verification cache.
#[derive(Debug)]
pub(crate) struct BasicAuth {
    users: BTreeMap<String, String>,
    hmac_key: [u8; 32],
    cache: Mutex<HashMap<CacheKey, Instant>>,
}

/// 32 bytes from the OS-seeded std hasher keys; enough to make cache keys unguessable offline.
fn random_key() -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

/// Splits `Basic base64(user:pass)`; `None` for anything else.
fn parse_basic(header: &[u8]) -> Option<(String, String)> {
    let s = std::str::from_utf8(header).ok()?.trim();
    let (scheme, rest) = s.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

impl BasicAuth {
    /// `None` when no users are configured (auth disabled).
    pub(crate) fn new(users: &BTreeMap<String, String>) -> Option<Arc<Self>> {
        if users.is_empty() {
            return None;
        }
        Some(Arc::new(BasicAuth {
            users: users.clone(),
            hmac_key: random_key(),
            cache: Mutex::new(HashMap::new()),
        }))
    }

    fn cache_key(&self, header: &[u8]) -> CacheKey {
        let mut mac =
            Hmac::<Sha1>::new_from_slice(&self.hmac_key).expect("HMAC takes any key length");
        mac.update(header);
        mac.finalize().into_bytes().into()
    }

    fn cached(&self, key: &CacheKey, now: Instant) -> bool {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(key).is_some_and(|exp| *exp > now)
    }

    fn remember(&self, key: CacheKey, now: Instant) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.retain(|_, exp| *exp > now);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(key, now + CACHE_TTL);
    }

    /// Whether the `Authorization` header value names a configured user with the right password.
    /// bcrypt runs on the blocking pool so it never stalls other connections.
    pub(crate) async fn check(self: &Arc<Self>, header: Option<&[u8]>) -> bool {
        let Some(header) = header else { return false };
        let now = Instant::now();
        let key = self.cache_key(header);
        if self.cached(&key, now) {
            return true;
        }
        let Some((user, pass)) = parse_basic(header) else {
            return false;
        };
        let this = Arc::clone(self);
        let ok = tokio::task::spawn_blocking(move || this.verify(&user, &pass))
            .await
            .unwrap_or(false);
        if ok {
            self.remember(key, Instant::now());
        }
        ok
    }

    /// Runs bcrypt even for unknown users (against another user's hash), so response time does
    /// not reveal which user names exist.
    fn verify(&self, user: &str, pass: &str) -> bool {
        match self.users.get(user) {
            Some(hash) => bcrypt::verify(pass, hash).unwrap_or(false),
            None => {
                if let Some(any) = self.users.values().next() {
                    let _ = bcrypt::verify(pass, any);
                }
                false
            }
        }
    }

    #[cfg(test)]
    fn cache_len(&self) -> usize {
        self.cache.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
        .into_bytes()
    }

    fn auth() -> Arc<BasicAuth> {
        let mut users = BTreeMap::new();
        users.insert("alice".to_string(), bcrypt::hash("s3cret:x", 4).unwrap());
        BasicAuth::new(&users).unwrap()
    }

    #[test]
    fn parses_basic_header() {
        assert_eq!(
            parse_basic(&header("u", "p:q")),
            Some(("u".into(), "p:q".into()))
        );
        assert_eq!(parse_basic(b"Bearer abc"), None);
        assert_eq!(parse_basic(b"Basic !!!"), None);
        assert_eq!(parse_basic(b"Basic"), None);
        assert_eq!(parse_basic(&[0xff, 0xfe]), None);
    }

    #[test]
    fn no_users_means_no_auth() {
        assert!(BasicAuth::new(&BTreeMap::new()).is_none());
    }

    #[tokio::test]
    async fn accepts_only_the_right_password_and_caches_success() {
        let a = auth();
        assert!(!a.check(None).await);
        assert!(!a.check(Some(&header("alice", "wrong"))).await);
        assert!(!a.check(Some(&header("bob", "s3cret:x"))).await);
        assert_eq!(a.cache_len(), 0, "failures must not be cached");
        assert!(a.check(Some(&header("alice", "s3cret:x"))).await);
        assert_eq!(a.cache_len(), 1);
        // A cached header is accepted without bcrypt; a different one still is checked.
        assert!(a.check(Some(&header("alice", "s3cret:x"))).await);
        assert!(!a.check(Some(&header("alice", "s3cret:y"))).await);
    }

    #[test]
    fn expired_entries_are_not_trusted() {
        let a = auth();
        let key = a.cache_key(b"h");
        let past = Instant::now();
        a.remember(key, past);
        assert!(a.cached(&key, past));
        assert!(!a.cached(&key, past + CACHE_TTL + Duration::from_millis(1)));
    }
}
