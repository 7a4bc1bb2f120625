//! Token auth, as docker does it: a promote reads with a pull token and then
//! POSTs, is challenged again for `pull,push`, fetches that token and sends
//! the same body once more.

use std::{
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256};

use super::*;

/// A token server's signing key (a leaf under a root for the registry's
/// `rootcertbundle`), as in the api tests.
struct TokenIssuer {
    key: KeyPair,
    x5c: String,
    root_pem: String,
}

impl TokenIssuer {
    fn new() -> TokenIssuer {
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut root = CertificateParams::new(vec![]).unwrap();
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root_pem = root.self_signed(&root_key).unwrap().pem();
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let leaf = CertificateParams::new(vec!["token".into()]).unwrap();
        let leaf = leaf.signed_by(&key, &Issuer::from_params(&root, &root_key)).unwrap();
        TokenIssuer { key, x5c: STANDARD.encode(leaf.der()), root_pem }
    }

    /// A JWT for `sub` granting `actions` on the repository `name`.
    fn token(&self, sub: &str, name: &str, actions: &[&str]) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let access = json!([{ "type": "repository", "name": name, "actions": actions }]);
        let claims = json!({"iss": "issuer", "sub": sub, "aud": "registry", "exp": now + 300, "nbf": now - 10, "access": access});
        let header = json!({"alg": "ES256", "x5c": [self.x5c]});
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.key.serialize_der()).unwrap();
        let signature = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

/// A token server granting bob exactly the one repository scope asked for;
/// its URL and the scopes asked, in order.
fn token_server(issuer: TokenIssuer) -> (String, Arc<Mutex<Vec<String>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let url = fake_registry(move |path| {
        let query = path.split_once('?').map_or("", |(_, q)| q);
        let scope = query.split('&').find_map(|p| p.strip_prefix("scope=")).unwrap_or_default();
        let scope = percent_encoding::percent_decode_str(scope).decode_utf8().unwrap().into_owned();
        let (name, actions) = scope.strip_prefix("repository:").and_then(|s| s.rsplit_once(':')).unwrap();
        let token = issuer.token("bob", name, &actions.split(',').collect::<Vec<_>>());
        log.lock().unwrap().push(scope.clone());
        ("200 OK\r\nContent-Type: application/json".into(), json!({ "token": token }).to_string().into_bytes())
    });
    (url, asked)
}

#[tokio::test]
async fn promote_with_token_auth_fetches_a_push_token_and_sends_the_body_again() {
    let plain = start().await;
    let [(beta, _), (latest, _), _] = lifecycle::three_images(&plain).await;
    let issuer = TokenIssuer::new();
    let bundle = plain.tmp().join("bundle.pem");
    std::fs::write(&bundle, &issuer.root_pem).unwrap();
    let (realm, asked) = token_server(issuer);
    // A second server on the first one's storage root, with token auth.
    let secure = start_config(&format!(
        "version: 0.1\nlog:\n  accesslog:\n    disabled: true\nhttp:\n  addr: 127.0.0.1:0\nauth:\n  token:\n    realm: {realm}/token\n    service: registry\n    issuer: issuer\n    rootcertbundle: '{}'\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n",
        bundle.display(),
        plain.tmp().join("root").display()
    ))
    .await;

    let promoted = berth(&secure.base, &["tag", "promote", "app", "archive=latest", "latest=beta"], &[], "").await;
    let expected = [format!("app:archive -> {latest} (was new)"), format!("app:latest -> {beta} (was {latest})")];
    assert_eq!(promoted.lines(), expected);
    assert_eq!(*asked.lock().unwrap(), ["repository:app:pull", "repository:app:pull,push"]);
    let history = berth(&secure.base, &["tag", "history", "app:latest"], &[], "").await;
    assert!(history.lines()[0].ends_with(&format!("{beta}  promote  bob")), "{history:?}");
    secure.stop().await;
    plain.stop().await;
}
