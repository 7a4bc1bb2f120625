use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair},
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};
use serde_json::json;

use super::*;

const REPO_PULL: fn() -> Scope = || Scope { kind: "repository", name: "a/b".into(), actions: vec!["pull"] };

struct Signer {
    key: KeyPair,
    header: serde_json::Value,
}

impl Signer {
    fn token(&self, claims: serde_json::Value) -> String {
        let enc = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let input = format!("{}.{}", enc(&self.header), enc(&claims));
        let rng = SystemRandom::new();
        let sig = match self.header["alg"].as_str() {
            Some("RS256") => {
                let pair = RsaKeyPair::from_pkcs8(&self.key.serialize_der()).unwrap();
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig).unwrap();
                sig
            }
            _ => {
                let pair =
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.key.serialize_der()).unwrap();
                pair.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec()
            }
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::new(vec![]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
}

fn good_claims() -> serde_json::Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    json!({"iss": "issuer", "aud": "registry", "exp": now + 300, "nbf": now - 10,
           "access": [{"type": "repository", "name": "a/b", "actions": ["pull", "push"]}]})
}

fn auth(dir: &Path, bundle_pem: &str, jwks: Option<serde_json::Value>) -> TokenAuth {
    let bundle = dir.join("bundle.pem");
    std::fs::write(&bundle, bundle_pem).unwrap();
    let jwks = jwks.map(|set| {
        let path = dir.join("jwks.json");
        std::fs::write(&path, set.to_string()).unwrap();
        path
    });
    TokenAuth::open(TokenOptions {
        realm: "https://auth.example/token".into(),
        service: "registry".into(),
        issuer: "issuer".into(),
        root_cert_bundle: Some(bundle),
        jwks,
        ..Default::default()
    })
    .unwrap()
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    h
}

fn challenge(e: ApiError) -> String {
    assert_eq!(e.status, 401);
    e.headers.into_iter().find(|(k, _)| *k == "WWW-Authenticate").unwrap().1
}

#[test]
fn key_id_token_signed_with_a_bundled_rsa_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).unwrap();
    let cert = CertificateParams::new(vec!["token".into()]).unwrap().self_signed(&key).unwrap();
    let auth = auth(dir.path(), &cert.pem(), None);
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.der()).unwrap();
    let kid = libtrust_key_id(parsed.public_key().raw);
    assert_eq!(kid.len(), 59);
    let signer = Signer { key, header: json!({"alg": "RS256", "kid": kid}) };
    assert!(auth.check(&bearer(&signer.token(good_claims())), &[REPO_PULL()]).is_ok());

    let mut wrong = good_claims();
    wrong["aud"] = json!("other");
    assert!(
        challenge(auth.check(&bearer(&signer.token(wrong)), &[REPO_PULL()]).unwrap_err()).contains("invalid_token")
    );
    let mut expired = good_claims();
    expired["exp"] = json!(1000);
    assert!(auth.check(&bearer(&signer.token(expired)), &[REPO_PULL()]).is_err());
    let mut issuer = good_claims();
    issuer["iss"] = json!("mallory");
    assert!(auth.check(&bearer(&signer.token(issuer)), &[REPO_PULL()]).is_err());
    let tampered = signer.token(good_claims()).replace('.', ".x");
    assert!(auth.check(&bearer(&tampered), &[REPO_PULL()]).is_err());
}

#[test]
fn x5c_chain_to_a_bundled_root() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let params = ca_params();
    let ca = params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&params, &ca_key);
    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let leaf = CertificateParams::new(vec!["token".into()]).unwrap().signed_by(&leaf_key, &issuer).unwrap();
    let auth = auth(dir.path(), &ca.pem(), None);
    let x5c = json!([STANDARD.encode(leaf.der())]);
    let signer = Signer { key: leaf_key, header: json!({"alg": "ES256", "x5c": x5c}) };
    assert!(auth.check(&bearer(&signer.token(good_claims())), &[REPO_PULL()]).is_ok());

    let push_elsewhere = Scope { kind: "repository", name: "c".into(), actions: vec!["push"] };
    let c = challenge(auth.check(&bearer(&signer.token(good_claims())), &[push_elsewhere]).unwrap_err());
    assert_eq!(
        c,
        r#"Bearer realm="https://auth.example/token",service="registry",scope="repository:c:push",error="insufficient_scope""#
    );
    let mut star = good_claims();
    star["access"] = json!([{"type": "repository", "name": "a/b", "actions": ["*"]}]);
    let delete = Scope { kind: "repository", name: "a/b".into(), actions: vec!["delete"] };
    assert!(auth.check(&bearer(&signer.token(star)), &[delete]).is_ok());

    // A chain to a root berth does not trust.
    let rogue_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let rogue_params = ca_params();
    let rogue = Issuer::from_params(&rogue_params, &rogue_key);
    let other_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let other = CertificateParams::new(vec!["token".into()]).unwrap().signed_by(&other_key, &rogue).unwrap();
    let signer = Signer { key: other_key, header: json!({"alg": "ES256", "x5c": [STANDARD.encode(other.der())]}) };
    assert!(auth.check(&bearer(&signer.token(good_claims())), &[REPO_PULL()]).is_err());
}

#[test]
fn jwks_keys_and_challenges() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let point = &key.public_key_raw()[1..];
    let jwks = json!({"keys": [{"kid": "k1", "kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[..32]), "y": URL_SAFE_NO_PAD.encode(&point[32..])}]});
    let ca_key = KeyPair::generate().unwrap();
    let auth = auth(dir.path(), &ca_params().self_signed(&ca_key).unwrap().pem(), Some(jwks));
    let signer = Signer { key, header: json!({"alg": "ES256", "kid": "k1"}) };
    assert!(auth.check(&bearer(&signer.token(good_claims())), &[REPO_PULL()]).is_ok());
    let unknown = Signer { key: KeyPair::generate().unwrap(), header: json!({"alg": "ES256", "kid": "k2"}) };
    assert!(auth.check(&bearer(&unknown.token(good_claims())), &[REPO_PULL()]).is_err());

    let c = challenge(auth.check(&HeaderMap::new(), &[REPO_PULL()]).unwrap_err());
    assert_eq!(c, r#"Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull""#);
    assert!(challenge(auth.check(&HeaderMap::new(), &[]).unwrap_err()).ends_with(r#"service="registry""#));
}
