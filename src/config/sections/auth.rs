//! `auth`: at most one provider.

use std::path::PathBuf;

use crate::config::{
    section::{Choice, Problems, Section, Visitor},
    tree::KeyPath,
};

/// The token signing algorithms distribution 3.x knows (all by default).
const SIGNING_ALGORITHMS: &[&str] = &[
    "EdDSA", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512",
];

/// `auth`: who may use the registry.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Auth {
    /// `auth.silly`: any `Authorization` header passes; for development.
    Silly {
        /// `realm` (required).
        realm: String,
        /// `service` (required).
        service: String,
    },
    /// `auth.token`: bearer tokens from an external issuer.
    Token {
        /// `realm`: the token server's URL (required).
        realm: String,
        /// `service` (required).
        service: String,
        /// `issuer` (required).
        issuer: String,
        /// `rootcertbundle`: certificates of the token signers (required
        /// unless `jwks` is set).
        rootcertbundle: Option<PathBuf>,
        /// `autoredirect`: the realm is the request's host.
        autoredirect: bool,
        /// `autoredirectpath` (default `/auth/token/`).
        autoredirectpath: String,
        /// `jwks` (3.x): a JSON Web Key Set of the token signers.
        jwks: Option<PathBuf>,
        /// `signingalgorithms` (3.x): accepted algorithms (empty: all).
        signingalgorithms: Vec<String>,
    },
    /// `auth.htpasswd`: HTTP basic auth against a bcrypt htpasswd file.
    Htpasswd {
        /// `realm` (required).
        realm: String,
        /// `path` of the htpasswd file (required).
        path: PathBuf,
    },
    /// `auth.none` (3.x): no authentication.
    #[default]
    None,
}

impl Auth {
    /// The provider's key in `auth`.
    pub fn name(&self) -> &'static str {
        match self {
            Auth::Silly { .. } => "silly",
            Auth::Token { .. } => "token",
            Auth::Htpasswd { .. } => "htpasswd",
            Auth::None => "none",
        }
    }
}

impl Section for Auth {
    const GO_MAP: bool = true;

    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.choice(self);
    }
}

impl Choice for Auth {
    const WHAT: &'static str = "auth provider";
    const KEYS: &'static [&'static str] = &["silly", "token", "htpasswd", "none"];

    fn select(key: &str) -> Self {
        match key {
            "silly" => Auth::Silly { realm: String::new(), service: String::new() },
            "token" => Auth::Token {
                realm: String::new(),
                service: String::new(),
                issuer: String::new(),
                rootcertbundle: None,
                autoredirect: false,
                autoredirectpath: "/auth/token/".into(),
                jwks: None,
                signingalgorithms: Vec::new(),
            },
            "htpasswd" => Auth::Htpasswd { realm: String::new(), path: PathBuf::new() },
            _ => Auth::None,
        }
    }

    fn key(&self) -> &'static str {
        self.name()
    }

    fn visit_variant<V: Visitor>(&mut self, v: &mut V) {
        match self {
            Auth::Silly { realm, service } => {
                v.value("realm", realm);
                v.value("service", service);
            }
            Auth::Token {
                realm,
                service,
                issuer,
                rootcertbundle,
                autoredirect,
                autoredirectpath,
                jwks,
                signingalgorithms,
            } => {
                v.value("realm", realm);
                v.value("service", service);
                v.value("issuer", issuer);
                v.value("rootcertbundle", rootcertbundle);
                v.value("autoredirect", autoredirect);
                v.value("autoredirectpath", autoredirectpath);
                v.value("jwks", jwks);
                v.value("signingalgorithms", signingalgorithms);
            }
            Auth::Htpasswd { realm, path } => {
                v.value("realm", realm);
                v.value("path", path);
            }
            Auth::None => {}
        }
    }

    fn finish_variant(&mut self, at: &KeyPath, p: &mut Problems) {
        match self {
            Auth::Silly { realm, service } => {
                p.require(at, "realm", !realm.is_empty());
                p.require(at, "service", !service.is_empty());
            }
            Auth::Token { realm, service, issuer, rootcertbundle, jwks, signingalgorithms, .. } => {
                p.require(at, "realm", !realm.is_empty());
                p.require(at, "service", !service.is_empty());
                p.require(at, "issuer", !issuer.is_empty());
                p.require(at, "rootcertbundle", rootcertbundle.is_some() || jwks.is_some());
                for alg in signingalgorithms.iter().filter(|a| !SIGNING_ALGORITHMS.contains(&a.as_str())) {
                    let why = format!("{alg:?} is not one of {}", SIGNING_ALGORITHMS.join(", "));
                    p.invalid(&at.key("signingalgorithms"), why);
                }
            }
            Auth::Htpasswd { realm, path } => {
                p.require(at, "realm", !realm.is_empty());
                p.require(at, "path", !path.as_os_str().is_empty());
            }
            Auth::None => {}
        }
    }
}
