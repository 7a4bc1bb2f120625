//! Signed upload locations (`_state`), keyed by `http.secret`.
//!
//! berth keeps upload state in storage, so the signature carries no data; it
//! binds an upload id to its repository, as distribution's `_state` does, so
//! a location handed out for one repository cannot be replayed against
//! another. Replicas must share `http.secret`, as with distribution.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Signs and checks upload locations.
#[derive(Clone)]
pub struct UploadSigner {
    key: Vec<u8>,
}

impl UploadSigner {
    /// A signer for a configured secret, or a random one (uploads then do not
    /// survive a restart, as with distribution).
    pub fn new(secret: Option<&str>) -> Self {
        let key = match secret {
            Some(s) => s.as_bytes().to_vec(),
            None => [uuid::Uuid::new_v4().into_bytes(), uuid::Uuid::new_v4().into_bytes()].concat(),
        };
        UploadSigner { key }
    }

    fn mac(&self, name: &str, id: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(name.as_bytes());
        mac.update(b"\n");
        mac.update(id.as_bytes());
        mac
    }

    /// The `_state` value for an upload.
    pub fn sign(&self, name: &str, id: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(name, id).finalize().into_bytes())
    }

    /// True when `state` was signed for this repository and id.
    pub fn verify(&self, name: &str, id: &str, state: &str) -> bool {
        URL_SAFE_NO_PAD.decode(state).is_ok_and(|sig| self.mac(name, id).verify_slice(&sig).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_name_and_id() {
        let s = UploadSigner::new(Some("secret"));
        let sig = s.sign("a/b", "id1");
        assert!(s.verify("a/b", "id1", &sig));
        assert!(!s.verify("a/c", "id1", &sig));
        assert!(!s.verify("a/b", "id2", &sig));
        assert!(!s.verify("a/b", "id1", "garbage!"));
        assert!(!UploadSigner::new(Some("other")).verify("a/b", "id1", &sig));
    }
}
