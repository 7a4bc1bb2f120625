use super::*;
use crate::registry::Algorithm;

fn d(data: &str) -> String {
    Digest::of(Algorithm::Sha256, data.as_bytes()).to_string()
}

fn image(media_type: Option<&str>, extra: &str) -> String {
    let mt = media_type.map(|m| format!(r#""mediaType":"{m}","#)).unwrap_or_default();
    format!(
        r#"{{"schemaVersion":2,{mt}"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":3}}]{extra}}}"#,
        d("c"),
        d("l")
    )
}

#[test]
fn accepts_oci_and_docker_images() {
    let m = parse(image(Some(media_type::OCI_MANIFEST), "").as_bytes(), Some(media_type::OCI_MANIFEST)).unwrap();
    assert_eq!(m.kind, Kind::Image);
    assert_eq!(m.references.len(), 1);
    assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.oci.image.config.v1+json"));
    let m = parse(image(Some(media_type::DOCKER_MANIFEST), "").as_bytes(), None).unwrap();
    assert_eq!(m.media_type, media_type::DOCKER_MANIFEST);
    let m =
        parse(image(None, "").as_bytes(), Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8")).unwrap();
    assert_eq!(m.media_type, media_type::OCI_MANIFEST);
}

#[test]
fn reads_subject_and_artifact_type() {
    let extra = format!(
        r#","artifactType":"application/x.sig","subject":{{"mediaType":"{}","digest":"{}","size":9}},"annotations":{{"a":"b"}}"#,
        media_type::OCI_MANIFEST,
        d("s")
    );
    let m = parse(image(Some(media_type::OCI_MANIFEST), &extra).as_bytes(), None).unwrap();
    assert_eq!(m.subject.unwrap().digest.to_string(), d("s"));
    assert_eq!(m.artifact_type.as_deref(), Some("application/x.sig"));
    assert_eq!(m.annotations.unwrap()["a"], "b");
}

#[test]
fn accepts_indexes() {
    let body = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"{}","size":5,"platform":{{"os":"linux","architecture":"arm64"}}}}]}}"#,
        media_type::DOCKER_LIST,
        media_type::DOCKER_MANIFEST,
        d("x")
    );
    let m = parse(body.as_bytes(), Some(media_type::DOCKER_LIST)).unwrap();
    assert_eq!(m.kind, Kind::Index);
    assert_eq!(served_media_type(body.as_bytes()), media_type::DOCKER_LIST);
    assert_eq!(served_media_type(br#"{"schemaVersion":2,"manifests":[]}"#), media_type::OCI_INDEX);
}

#[test]
fn rejects_invalid_manifests() {
    let nested = "[".repeat(10_000);
    let cases: Vec<(String, Option<&str>)> = vec![
        ("not json".into(), None),
        ("[1,2]".into(), None),
        (nested, None),
        (r#"{"schemaVersion":1,"fsLayers":[]}"#.into(), None),
        (image(None, ""), Some("application/vnd.docker.distribution.manifest.v1+prettyjws")),
        (image(Some(media_type::OCI_MANIFEST), ""), Some(media_type::DOCKER_MANIFEST)),
        (image(Some("application/x-unknown"), ""), None),
        (image(Some(media_type::OCI_MANIFEST), "").replace(r#""schemaVersion":2"#, r#""schemaVersion":3"#), None),
        (image(Some(media_type::OCI_MANIFEST), "").replace(&d("l"), "sha256:zz"), None),
        (image(Some(media_type::OCI_MANIFEST), "").replace(r#""size":3"#, r#""size":-3"#), None),
        (format!(r#"{{"schemaVersion":2,"mediaType":"{}","layers":[]}}"#, media_type::OCI_MANIFEST), None),
        (format!(r#"{{"schemaVersion":2,"mediaType":"{}"}}"#, media_type::OCI_INDEX), None),
        (
            image(Some(media_type::OCI_MANIFEST), "")
                .replace(r#""size":3"#, r#""size":3,"urls":["http://example.invalid/x"]"#),
            None,
        ),
    ];
    for (body, ct) in cases {
        assert!(parse(body.as_bytes(), ct).is_err(), "{body:.80} {ct:?}");
    }
}

/// Fails fuzz/manifest's invariant (input made by hand, not yet found by
/// the fuzzer itself): with a repeated key, validation took the last
/// value and serving refused the body, so an index was served as an image.
#[test]
fn serves_a_repeated_key_as_validated() {
    let index = format!(r#""mediaType":"x","schemaVersion":2,"mediaType":"{}","manifests":[]"#, media_type::OCI_INDEX);
    let no_type = r#""manifests":null,"schemaVersion":2,"manifests":[]"#.to_owned();
    for body in [index, no_type] {
        let body = format!("{{{body}}}");
        let m = parse(body.as_bytes(), None).unwrap();
        assert_eq!(served_media_type(body.as_bytes()), m.media_type, "{body}");
    }
    assert_eq!(served_media_type(b"not json"), media_type::OCI_MANIFEST);
}

/// What serving makes of odd stored bytes: a non-string `mediaType` counts
/// as absent, escaped keys are keys, anything but an object is an image.
#[test]
fn serves_odd_bodies_by_their_shape() {
    let cases = [
        (r#"{"mediaType":7,"manifests":[]}"#, media_type::OCI_INDEX),
        (r#"{"mediaType":null,"layers":[]}"#, media_type::OCI_MANIFEST),
        (r#"{"media\u0054ype":"x/y","manifests":null}"#, "x/y"),
        (r#"{"m\u0061nifests":{"a":[1,{"b":2}]}}"#, media_type::OCI_INDEX),
        (r#"{"manifests":[],"mediaType":"x/y"} trailing"#, media_type::OCI_MANIFEST),
        (r#"["mediaType","x/y"]"#, media_type::OCI_MANIFEST),
        ("", media_type::OCI_MANIFEST),
    ];
    for (body, want) in cases {
        assert_eq!(served_media_type(body.as_bytes()), want, "{body}");
    }
}
