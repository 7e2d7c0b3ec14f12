//! ACL request signing, the same for ACL 1.0 (4.x, 5.0–5.3.2) and ACL 2.0 (5.3+): HMAC-SHA1 over
//! the values of all ext fields sorted by key, then the body, Base64-encoded (PROTOCOL.md §6.1).

use std::collections::BTreeMap;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

pub const ACCESS_KEY: &str = "AccessKey";
pub const SIGNATURE: &str = "Signature";
pub const SECURITY_TOKEN: &str = "SecurityToken";

/// Credentials for signing requests.
#[derive(Clone)]
pub struct AclCredentials {
    pub access_key: String,
    pub secret_key: String,
    pub security_token: Option<String>,
}

impl std::fmt::Debug for AclCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("AclCredentials").field("access_key", &self.access_key).finish_non_exhaustive()
    }
}

/// Signature over `fields` (sorted by key: `BTreeMap` byte order equals Java's `String.compareTo`
/// for ASCII keys, which all RocketMQ header fields are) and `body`.
pub fn signature(fields: &BTreeMap<String, String>, body: &[u8], secret_key: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret_key.as_bytes()).expect("HMAC takes any key length");
    for (k, v) in fields {
        if k != SIGNATURE {
            mac.update(v.as_bytes());
        }
    }
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Adds AccessKey (and SecurityToken) then Signature to the ext fields, as Java's `AclClientRPCHook` does.
pub fn sign(ext_fields: &mut BTreeMap<String, String>, body: &[u8], creds: &AclCredentials) {
    ext_fields.remove(SIGNATURE);
    ext_fields.insert(ACCESS_KEY.to_string(), creds.access_key.clone());
    if let Some(t) = &creds.security_token {
        ext_fields.insert(SECURITY_TOKEN.to_string(), t.clone());
    }
    let sig = signature(ext_fields, body, &creds.secret_key);
    ext_fields.insert(SIGNATURE.to_string(), sig);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(data: &str, secret: &str) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(data.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn protocol_md_test_vectors() {
        assert_eq!(raw("Hello RocketMQ Client ACL Feature", "adiaushdiaushd"), "tAb/54Rwwcq+pbH8Loi7FWX4QSQ=");
        assert_eq!(raw("aliceATopicAZbody", "secret"), "F7n5zq2HnOBfPkA/LjU/h2CZDB4=");
    }

    #[test]
    fn get_consume_stats_vector_sorted_values_only() {
        let mut f = BTreeMap::new();
        f.insert("topic".to_string(), "T1".to_string());
        f.insert("consumerGroup".to_string(), "G1".to_string());
        let creds = AclCredentials { access_key: "ak".into(), secret_key: "sk".into(), security_token: None };
        sign(&mut f, b"", &creds);
        assert_eq!(f.get("Signature").unwrap(), "uH7JeAbpBSU9hZQdj/tNc0/sP+U=");
        assert_eq!(f.get("AccessKey").unwrap(), "ak");
    }

    #[test]
    fn headerless_request_vector() {
        let mut f = BTreeMap::new();
        let creds = AclCredentials { access_key: "ak".into(), secret_key: "sk".into(), security_token: None };
        sign(&mut f, b"", &creds);
        assert_eq!(f.get("Signature").unwrap(), "AL2pakQ4gJnpWeA42COL+SacNKk=");
    }

    #[test]
    fn body_and_token_are_signed_and_resigning_is_stable() {
        let creds = AclCredentials { access_key: "ak".into(), secret_key: "sk".into(), security_token: Some("tok".into()) };
        let mut f = BTreeMap::new();
        sign(&mut f, b"brokerPermission=4\n", &creds);
        let first = f.get("Signature").unwrap().clone();
        // AccessKey < SecurityToken in byte order, so the content is "ak" + "tok" + body.
        assert_eq!(first, raw("aktokbrokerPermission=4\n", "sk"));
        sign(&mut f, b"brokerPermission=4\n", &creds);
        assert_eq!(f.get("Signature").unwrap(), &first);
        assert!(!format!("{creds:?}").contains("sk\""));
    }
}
