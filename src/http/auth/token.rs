//! Docker token authentication: Bearer JWTs issued by an external token
//! server, as distribution's `auth.token` provider checks them.
//!
//! A token is trusted when its signature verifies with a key berth trusts:
//! the leaf of an `x5c` chain that verifies against `rootcertbundle`, or a
//! key named by `kid` — a certificate of `rootcertbundle` (by its libtrust
//! key ID, as distribution names them) or an entry of `jwks`. Then the
//! issuer, audience (`service`), validity window and the `access` claim
//! must cover what the request needs.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use http::{HeaderMap, header};
use rustls_pki_types::TrustAnchor;
use rustls_pki_types::{CertificateDer, UnixTime, pem::PemObject};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use webpki::{EndEntityCert, KeyPurposeIdIter};

use super::{Scope, unauthorized};
use crate::http::error::ApiError;

/// Clock skew tolerated on `exp` and `nbf`, as in distribution.
const LEEWAY_SECS: i64 = 60;

/// The algorithms berth can verify. HMAC (`HS*`) needs a shared secret that
/// distribution's configuration has no place for.
const ALGORITHMS: [&str; 10] =
    ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

/// `auth.token` as berth uses it.
#[derive(Debug, Clone, Default)]
pub struct TokenOptions {
    /// Where clients get tokens.
    pub realm: String,
    /// This registry's name in tokens (`aud`).
    pub service: String,
    /// Who must have issued tokens (`iss`).
    pub issuer: String,
    /// PEM certificates whose keys, or which as roots, vouch for tokens.
    pub root_cert_bundle: Option<PathBuf>,
    /// A JSON Web Key Set of further trusted keys.
    pub jwks: Option<PathBuf>,
    /// Algorithms accepted; empty means all berth can verify.
    pub signing_algorithms: Vec<String>,
    /// Derive the realm from the request's host (`autoredirect`).
    pub auto_redirect: bool,
    /// The realm's path when redirecting automatically.
    pub auto_redirect_path: String,
}

/// Why the token configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A file could not be read or parsed.
    #[error("auth.token.{key}: {path}: {why}")]
    File {
        /// The setting.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// An algorithm berth cannot verify.
    #[error("auth.token.signingalgorithms: {0:?} is not supported")]
    Algorithm(String),
}

/// A public key that can verify JWT signatures.
#[derive(Debug, Clone)]
enum PublicKey {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec(Vec<u8>),
    Ed25519(Vec<u8>),
}

impl PublicKey {
    /// Parses the key of a DER certificate.
    fn of_certificate(der: &[u8]) -> Result<PublicKey, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
        let spki = cert.public_key();
        if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" {
            return Ok(PublicKey::Ed25519(spki.subject_public_key.data.to_vec()));
        }
        match spki.parsed().map_err(|e| e.to_string())? {
            // DER integers carry a leading zero byte when the top bit is set;
            // the verifier wants the bare big-endian magnitude.
            x509_parser::public_key::PublicKey::RSA(rsa) => Ok(PublicKey::Rsa {
                n: strip_leading_zeros(rsa.modulus).to_vec(),
                e: strip_leading_zeros(rsa.exponent).to_vec(),
            }),
            x509_parser::public_key::PublicKey::EC(point) => Ok(PublicKey::Ec(point.data().to_vec())),
            _ => Err("unsupported public key type".into()),
        }
    }

    /// Verifies `signature` over `message` with a JWT algorithm.
    fn verify(&self, alg: &str, message: &[u8], signature: &[u8]) -> bool {
        let rsa = |a: &'static signature::RsaParameters, n: &[u8], e: &[u8]| {
            RsaPublicKeyComponents { n, e }.verify(a, message, signature).is_ok()
        };
        let key = |a: &'static dyn VerificationAlgorithm, bytes: &[u8]| {
            UnparsedPublicKey::new(a, bytes).verify(message, signature).is_ok()
        };
        match (self, alg) {
            (PublicKey::Rsa { n, e }, "RS256") => rsa(&signature::RSA_PKCS1_2048_8192_SHA256, n, e),
            (PublicKey::Rsa { n, e }, "RS384") => rsa(&signature::RSA_PKCS1_2048_8192_SHA384, n, e),
            (PublicKey::Rsa { n, e }, "RS512") => rsa(&signature::RSA_PKCS1_2048_8192_SHA512, n, e),
            (PublicKey::Rsa { n, e }, "PS256") => rsa(&signature::RSA_PSS_2048_8192_SHA256, n, e),
            (PublicKey::Rsa { n, e }, "PS384") => rsa(&signature::RSA_PSS_2048_8192_SHA384, n, e),
            (PublicKey::Rsa { n, e }, "PS512") => rsa(&signature::RSA_PSS_2048_8192_SHA512, n, e),
            (PublicKey::Ec(p), "ES256") if p.len() == 65 => key(&signature::ECDSA_P256_SHA256_FIXED, p),
            (PublicKey::Ec(p), "ES384") if p.len() == 97 => key(&signature::ECDSA_P384_SHA384_FIXED, p),
            (PublicKey::Ec(p), "ES512") if p.len() == 133 => key(&signature::ECDSA_P521_SHA512_FIXED, p),
            (PublicKey::Ed25519(p), "EdDSA") => key(&signature::ED25519, p),
            _ => false,
        }
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// distribution's (libtrust's) key ID: the first 240 bits of the SHA-256 of
/// the DER public key, base32, in 12 groups of 4 joined by `:`.
fn libtrust_key_id(spki_der: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let hash = Sha256::digest(spki_der);
    // 30 bytes are 48 base32 characters exactly: no padding.
    let mut chars = Vec::with_capacity(48);
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in &hash[..30] {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            chars.push(ALPHABET[((buffer >> bits) & 31) as usize]);
        }
    }
    chars.chunks(4).map(|g| String::from_utf8_lossy(g).into_owned()).collect::<Vec<_>>().join(":")
}

/// One key of a JSON Web Key Set.
#[derive(Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: String,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

impl Jwk {
    fn key(&self) -> Option<PublicKey> {
        let b64 = |v: &Option<String>| v.as_deref().and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok());
        match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => Some(PublicKey::Rsa { n: b64(&self.n)?, e: b64(&self.e)? }),
            ("EC", Some("P-256" | "P-384" | "P-521")) => {
                Some(PublicKey::Ec([vec![4], b64(&self.x)?, b64(&self.y)?].concat()))
            }
            ("OKP", Some("Ed25519")) => Some(PublicKey::Ed25519(b64(&self.x)?)),
            _ => None,
        }
    }
}

/// The JWT header fields that select the key.
#[derive(Deserialize)]
struct JwtHeader {
    alg: String,
    kid: Option<String>,
    x5c: Option<Vec<String>>,
}

/// One entry of the `access` claim.
#[derive(Deserialize)]
struct Access {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
}

/// `aud` may be one string or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    /// The user the token was issued to (the event actor).
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    nbf: Option<i64>,
    #[serde(default)]
    access: Vec<Access>,
}

/// x5c chains may use any key usage, as distribution verifies them with
/// `ExtKeyUsageAny`.
struct AnyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, _: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

/// A configured token provider.
pub struct TokenAuth {
    options: TokenOptions,
    anchors: Vec<TrustAnchor<'static>>,
    keys: HashMap<String, PublicKey>,
    algorithms: Vec<String>,
}

fn file_error(key: &'static str, path: &Path, why: impl ToString) -> TokenError {
    TokenError::File { key, path: path.to_owned(), why: why.to_string() }
}

impl TokenAuth {
    /// Loads the trusted certificates and keys.
    pub fn open(options: TokenOptions) -> Result<TokenAuth, TokenError> {
        let mut keys = HashMap::new();
        let mut anchors = Vec::new();
        if let Some(bundle) = &options.root_cert_bundle {
            for cert in &load_bundle(bundle)? {
                let (_, parsed) =
                    x509_parser::parse_x509_certificate(cert).map_err(|e| file_error("rootcertbundle", bundle, e))?;
                let key = PublicKey::of_certificate(cert).map_err(|e| file_error("rootcertbundle", bundle, e))?;
                keys.insert(libtrust_key_id(parsed.public_key().raw), key);
                let anchor =
                    webpki::anchor_from_trusted_cert(cert).map_err(|e| file_error("rootcertbundle", bundle, e))?;
                anchors.push(anchor.to_owned());
            }
        }
        if let Some(path) = &options.jwks {
            keys.extend(load_jwks(path)?);
        }
        let algorithms = if options.signing_algorithms.is_empty() {
            ALGORITHMS.iter().map(|a| a.to_string()).collect()
        } else {
            for alg in &options.signing_algorithms {
                if !ALGORITHMS.contains(&alg.as_str()) {
                    return Err(TokenError::Algorithm(alg.clone()));
                }
            }
            options.signing_algorithms.clone()
        };
        Ok(TokenAuth { options, anchors, keys, algorithms })
    }

    /// Lets a request with a token granting `scopes` through; returns the
    /// token's subject.
    pub fn check(&self, headers: &HeaderMap, scopes: &[Scope]) -> Result<Option<String>, ApiError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let Some(token) = token else { return Err(self.challenge(headers, scopes, None)) };
        let claims = self.verify(token).map_err(|why| {
            tracing::debug!(why, "token refused");
            self.challenge(headers, scopes, Some("invalid_token"))
        })?;
        let granted = |s: &Scope| {
            claims.access.iter().any(|a| {
                a.kind == s.kind
                    && a.name == s.name
                    && s.actions.iter().all(|want| a.actions.iter().any(|have| have == want || have == "*"))
            })
        };
        if scopes.iter().all(granted) {
            Ok(claims.sub)
        } else {
            Err(self.challenge(headers, scopes, Some("insufficient_scope")))
        }
    }

    fn challenge(&self, headers: &HeaderMap, scopes: &[Scope], error: Option<&str>) -> ApiError {
        let realm = match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
            Some(host) if self.options.auto_redirect => format!("https://{host}{}", self.options.auto_redirect_path),
            _ => self.options.realm.clone(),
        };
        let mut challenge = format!("Bearer realm={realm:?},service={:?}", self.options.service);
        if !scopes.is_empty() {
            // distribution's token provider: one entry per resource with its
            // actions comma-joined (silly auth lists one entry per action).
            let entries: Vec<String> = scopes.iter().map(Scope::to_string).collect();
            challenge.push_str(&format!(",scope={:?}", entries.join(" ")));
        }
        if let Some(error) = error {
            challenge.push_str(&format!(",error={error:?}"));
        }
        unauthorized(challenge)
    }

    /// Checks a token's signature and claims; returns its grants.
    fn verify(&self, token: &str) -> Result<Claims, String> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err("not a JWS compact token".into());
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|e| e.to_string());
        let header: JwtHeader = serde_json::from_slice(&decode(h)?).map_err(|e| e.to_string())?;
        if !self.algorithms.contains(&header.alg) {
            return Err(format!("algorithm {} not accepted", header.alg));
        }
        let key = self.signing_key(&header)?;
        if !key.verify(&header.alg, format!("{h}.{p}").as_bytes(), &decode(s)?) {
            return Err("signature does not verify".into());
        }
        let claims: Claims = serde_json::from_slice(&decode(p)?).map_err(|e| e.to_string())?;
        self.check_claims(&claims)?;
        Ok(claims)
    }

    fn signing_key(&self, header: &JwtHeader) -> Result<PublicKey, String> {
        if let Some(chain) = &header.x5c {
            let ders: Vec<CertificateDer<'static>> = chain
                .iter()
                .map(|c| STANDARD.decode(c).map(CertificateDer::from).map_err(|e| e.to_string()))
                .collect::<Result<_, _>>()?;
            let (leaf, intermediates) = ders.split_first().ok_or("empty x5c")?;
            let cert = EndEntityCert::try_from(leaf).map_err(|e| e.to_string())?;
            cert.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &self.anchors,
                intermediates,
                UnixTime::now(),
                AnyUsage,
                None,
                None,
            )
            .map_err(|e| format!("x5c chain: {e}"))?;
            return PublicKey::of_certificate(leaf);
        }
        let kid = header.kid.as_deref().ok_or("token names no key (no x5c, no kid)")?;
        self.keys.get(kid).cloned().ok_or_else(|| format!("unknown key id {kid}"))
    }

    fn check_claims(&self, claims: &Claims) -> Result<(), String> {
        if claims.iss.as_deref() != Some(self.options.issuer.as_str()) {
            return Err("wrong issuer".into());
        }
        let audience_ok = match &claims.aud {
            Some(Audience::One(a)) => *a == self.options.service,
            Some(Audience::Many(all)) => all.contains(&self.options.service),
            None => false,
        };
        if !audience_ok {
            return Err("wrong audience".into());
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        match claims.exp {
            Some(exp) if exp + LEEWAY_SECS >= now => {}
            _ => return Err("expired or no exp".into()),
        }
        if claims.nbf.is_some_and(|nbf| nbf - LEEWAY_SECS > now) {
            return Err("not yet valid".into());
        }
        Ok(())
    }
}

fn load_bundle(bundle: &Path) -> Result<Vec<CertificateDer<'static>>, TokenError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(bundle)
        .map_err(|e| file_error("rootcertbundle", bundle, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error("rootcertbundle", bundle, e))?;
    if certs.is_empty() {
        return Err(file_error("rootcertbundle", bundle, "no PEM certificate found"));
    }
    Ok(certs)
}

fn load_jwks(path: &Path) -> Result<HashMap<String, PublicKey>, TokenError> {
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<Jwk>,
    }
    let text = std::fs::read(path).map_err(|e| file_error("jwks", path, e))?;
    let set: Set = serde_json::from_slice(&text).map_err(|e| file_error("jwks", path, e))?;
    let mut keys = HashMap::new();
    for jwk in set.keys {
        let kid = jwk.kid.clone().ok_or_else(|| file_error("jwks", path, "a key has no kid"))?;
        let key = jwk.key().ok_or_else(|| file_error("jwks", path, format!("key {kid}: unsupported or incomplete")))?;
        keys.insert(kid, key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests;
