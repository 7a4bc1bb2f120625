//! The manifest PUT's parser and validator on arbitrary bytes, under every
//! Content-Type a client may send.
//!
//! Invariants of an accepted manifest: its media type is one the registry
//! serves, of the kind it was validated as; a GET serves it as that same
//! type; an image has a config, an index has none and lists only manifests.
#![no_main]

use berth::registry::manifest::{
    media_type::{self, Kind},
    parse,
};
use libfuzzer_sys::fuzz_target;

/// Content-Types the manifest PUT sees: none, generic ones, each accepted
/// type (one with parameters), and schema1, which is refused.
const CONTENT_TYPES: [Option<&str>; 9] = [
    None,
    Some(""),
    Some("application/json"),
    Some(media_type::OCI_MANIFEST),
    Some(media_type::OCI_INDEX),
    Some(media_type::DOCKER_MANIFEST),
    Some(media_type::DOCKER_LIST),
    Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
    Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
];

fuzz_target!(|body: &[u8]| {
    for content_type in CONTENT_TYPES {
        if let Ok(m) = parse::parse(body, content_type) {
            check(body, content_type, &m);
        }
    }
});

fn check(body: &[u8], content_type: Option<&str>, m: &parse::Manifest) {
    assert_eq!(media_type::kind(&m.media_type), Some(m.kind), "accepted as {:?}", m.media_type);
    assert_eq!(parse::served_media_type(body), m.media_type, "served as another type than validated");
    let header = content_type.map(media_type::essence).filter(|ct| media_type::kind(ct).is_some());
    if let Some(header) = header {
        assert_eq!(m.media_type, header, "accepted against its Content-Type");
    }
    match m.kind {
        Kind::Image => assert!(m.config.is_some(), "an image without config"),
        Kind::Index => {
            assert!(m.config.is_none(), "an index with config");
            assert!(m.references.iter().all(|d| media_type::kind(&d.media_type).is_some()), "index of non-manifests");
        }
    }
    for d in m.config.iter().chain(&m.references).chain(&m.subject) {
        assert_eq!(d.digest.to_string().parse::<berth::registry::Digest>().as_ref(), Ok(&d.digest));
    }
}
