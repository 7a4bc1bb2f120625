//! A token server's signing key for the token-auth tests: a leaf
//! certificate under a root that the registry's `rootcertbundle` holds, and
//! the JWTs it signs as distribution's token servers do.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256};
use serde_json::json;

/// The signing key and the root that vouches for it.
pub struct TokenIssuer {
    key: KeyPair,
    x5c: String,
    /// The root certificate, for `auth.token.rootcertbundle`.
    pub root_pem: String,
}

impl TokenIssuer {
    /// A fresh root and a leaf under it.
    pub fn new() -> TokenIssuer {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut root = CertificateParams::new(vec![]).unwrap();
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root_pem = root.self_signed(&root_key).unwrap().pem();
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let leaf = CertificateParams::new(vec!["token".into()]).unwrap();
        let leaf = leaf.signed_by(&key, &Issuer::from_params(&root, &root_key)).unwrap();
        TokenIssuer { key, x5c: STANDARD.encode(leaf.der()), root_pem }
    }

    /// A JWT for `sub` (issuer `issuer`, audience `registry`) granting
    /// `access` (`[(repository, actions)]`).
    pub fn token(&self, sub: &str, access: &[(&str, &[&str])]) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let access: Vec<_> = access
            .iter()
            .map(|(name, actions)| json!({"type": "repository", "name": name, "actions": actions}))
            .collect();
        let claims = json!({"iss": "issuer", "sub": sub, "aud": "registry", "exp": now + 300, "nbf": now - 10, "access": access});
        let header = json!({"alg": "ES256", "x5c": [self.x5c]});
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.key.serialize_der()).unwrap();
        let signature = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    /// What a token server answers a request for `path` with: a token for
    /// `sub` granting exactly the one repository scope asked for (the
    /// `scope` query parameter), and that scope.
    pub fn answer(&self, sub: &str, path: &str) -> (String, String) {
        let query = path.split_once('?').map_or("", |(_, q)| q);
        let scope = query.split('&').find_map(|p| p.strip_prefix("scope=")).unwrap_or_default();
        let scope = percent_encoding::percent_decode_str(scope).decode_utf8().unwrap().into_owned();
        let (name, actions) = scope.strip_prefix("repository:").and_then(|s| s.rsplit_once(':')).unwrap();
        let token = self.token(sub, &[(name, &actions.split(',').collect::<Vec<_>>())]);
        (json!({ "token": token }).to_string(), scope)
    }
}
