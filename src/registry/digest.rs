//! Content digests (`<algorithm>:<hex>`) and the hashers that compute them.
//!
//! Only sha256 and sha512 are accepted: a registry must verify every digest it
//! stores, and those are the two algorithms the OCI image spec registers.

use std::{fmt, str::FromStr};

use sha2::{Digest as _, Sha256, Sha512};

/// A supported digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, 64 hex characters; the default everywhere.
    Sha256,
    /// SHA-512, 128 hex characters.
    Sha512,
}

impl Algorithm {
    /// The name used in digests and in storage paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// Parses an algorithm name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

/// A verified-syntax digest: a supported algorithm and lower-case hex of the
/// right length.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

/// Why a string is not an acceptable digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not of the form `algorithm:encoded`.
    #[error("invalid digest format: {0:?}")]
    Format(String),
    /// A well-formed digest with an algorithm berth cannot verify.
    #[error("unsupported digest algorithm: {0:?}")]
    Algorithm(String),
    /// The encoded part is not lower-case hex of the algorithm's length.
    #[error("invalid {0} digest encoding")]
    Encoding(&'static str),
}

impl Digest {
    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lower-case hex encoding.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Digest of a byte slice.
    pub fn of(algorithm: Algorithm, data: &[u8]) -> Self {
        let mut h = Hasher::new(algorithm);
        h.update(data);
        h.finish()
    }
}

/// The OCI grammar: `[a-z0-9]+([+._-][a-z0-9]+)*`.
fn is_algorithm_grammar(s: &str) -> bool {
    let mut prev_sep = true;
    for c in s.chars() {
        let sep = matches!(c, '+' | '.' | '_' | '-');
        if sep && prev_sep || !(sep || c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return false;
        }
        prev_sep = sep;
    }
    !prev_sep
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (alg, hex) = s.split_once(':').ok_or_else(|| DigestError::Format(s.to_owned()))?;
        let encoded_ok = !hex.is_empty() && hex.chars().all(|c| c.is_ascii_alphanumeric() || "=_-".contains(c));
        if !is_algorithm_grammar(alg) || !encoded_ok {
            return Err(DigestError::Format(s.to_owned()));
        }
        let algorithm = Algorithm::parse(alg).ok_or_else(|| DigestError::Algorithm(alg.to_owned()))?;
        let hex_ok =
            hex.len() == algorithm.hex_len() && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(DigestError::Encoding(algorithm.as_str()));
        }
        Ok(Digest { algorithm, hex: hex.to_owned() })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

/// Incremental hashing for one algorithm. Cloning snapshots the state, which
/// lets an upload roll back a chunk that failed half-way.
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-512 state.
    Sha512(Box<Sha512>),
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Box::new(Sha512::new())),
        }
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Sha256(_) => Algorithm::Sha256,
            Hasher::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let algorithm = self.algorithm();
        let hex = match self {
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
        };
        Digest { algorithm, hex }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY256: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_prints() {
        let d: Digest = EMPTY256.parse().unwrap();
        assert_eq!(d.to_string(), EMPTY256);
        assert_eq!(Digest::of(Algorithm::Sha256, b""), d);
        let d512 = Digest::of(Algorithm::Sha512, b"");
        assert_eq!(d512.hex().len(), 128);
        assert_eq!(d512.to_string().parse::<Digest>().unwrap(), d512);
    }

    #[test]
    fn rejects_bad_digests() {
        let upper = EMPTY256.to_uppercase().replace("SHA256", "sha256");
        for bad in ["", "sha256", "sha256:", "sha256:xyz", ":abc", "SHA256:abc", "sha256:../../etc", &upper] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
        assert_eq!("md5:abcd".parse::<Digest>(), Err(DigestError::Algorithm("md5".into())));
        assert!(matches!("sha256:abc".parse::<Digest>(), Err(DigestError::Encoding("sha256"))));
        assert!(matches!("a+-b:abc".parse::<Digest>(), Err(DigestError::Format(_))));
    }
}
