//! Events in distribution 2.8's JSON shape (`notifications/event.go`): what
//! happened (`action`), to what (`target`), on whose request (`request`,
//! `actor`) and on which registry node (`source`).
//!
//! Field names, their order and which ones are left out when empty follow
//! distribution, so a listener written for distribution reads berth's
//! events unchanged.

use std::time::SystemTime;

use serde::Serialize;

/// The media type of an envelope, sent as the request's `Content-Type`.
/// distribution 2.8 sends `v1` (3.x moved to `v2`).
pub const EVENTS_MEDIA_TYPE: &str = "application/vnd.docker.distribution.events.v1+json";

/// The media type distribution gives every blob event: it does not know
/// what a blob holds.
pub const BLOB_MEDIA_TYPE: &str = "application/octet-stream";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A manifest was put, or an upload completed.
    Push,
    /// A manifest or blob was read (GET or HEAD, as in distribution).
    Pull,
    /// A blob was linked from another repository.
    Mount,
    /// A manifest, tag or blob was deleted.
    Delete,
    /// berth only: a rule refused a change (an immutable tag).
    Deny,
}

impl Action {
    /// The name used in the JSON and in `ignore.actions`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Push => "push",
            Action::Pull => "pull",
            Action::Mount => "mount",
            Action::Delete => "delete",
            Action::Deny => "deny",
        }
    }
}

/// A content descriptor, as listed in `target.references`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the content is.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// Its size in bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub size: u64,
    /// Its digest.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: String,
    /// Where foreign content can be fetched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What an event is about. Go embeds a descriptor here, so `mediaType`,
/// `size` and `digest` come first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// The manifest's media type, or `application/octet-stream` for blobs.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// Size in bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub size: u64,
    /// The content's digest.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: String,
    /// Same as `size`, kept by distribution for older listeners.
    #[serde(skip_serializing_if = "is_zero")]
    pub length: u64,
    /// The repository.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub repository: String,
    /// Where a mounted blob came from.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub from_repository: String,
    /// A URL of the content, by digest.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// The tag, when the request named one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tag: String,
    /// What a manifest references, with `events.includereferences`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Descriptor>,
}

impl Target {
    /// A manifest that was pushed or pulled.
    pub fn manifest(repository: &str, media_type: &str, digest: &str, size: u64, url: String) -> Target {
        Target {
            media_type: media_type.to_owned(),
            size,
            digest: digest.to_owned(),
            length: size,
            repository: repository.to_owned(),
            url,
            ..Target::default()
        }
    }

    /// A blob that was pushed, pulled or mounted.
    pub fn blob(repository: &str, digest: &str, size: u64, url: String) -> Target {
        Target::manifest(repository, BLOB_MEDIA_TYPE, digest, size, url)
    }

    /// A manifest or blob that was deleted: distribution knows only its
    /// digest by then.
    pub fn deleted(repository: &str, digest: &str) -> Target {
        Target { digest: digest.to_owned(), repository: repository.to_owned(), ..Target::default() }
    }

    /// A tag that was deleted.
    pub fn tag(repository: &str, tag: &str) -> Target {
        Target { repository: repository.to_owned(), tag: tag.to_owned(), ..Target::default() }
    }

    /// Sets the tag the request named.
    pub fn with_tag(self, tag: Option<&str>) -> Target {
        Target { tag: tag.unwrap_or_default().to_owned(), ..self }
    }
}

/// The request that caused an event.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RequestRecord {
    /// Unique per request.
    pub id: String,
    /// The client: `X-Forwarded-For`, `X-Real-Ip`, or the peer address.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub addr: String,
    /// The `Host` the client asked for.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// The request method.
    pub method: String,
    /// The `User-Agent` header.
    pub useragent: String,
}

/// Who made the request.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ActorRecord {
    /// The authenticated user, when known.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// The registry node that generated an event.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceRecord {
    /// `hostname:port` of this node.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub addr: String,
    /// Unique per process: changes at every restart.
    #[serde(rename = "instanceID", skip_serializing_if = "String::is_empty")]
    pub instance_id: String,
}

/// The request-side part of an event, built by the http layer once per
/// request and shared by every event the request causes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    /// The request.
    pub request: RequestRecord,
    /// Its user.
    pub actor: ActorRecord,
}

/// berth's addition to an event, in a field distribution's listeners
/// ignore: which tag-lifecycle operation caused it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BerthRecord {
    /// `copy`, `promote`, `rollback`, `retention`, or what a refused
    /// request tried (`push`, `delete`).
    pub operation: String,
    /// Where a moved tag pointed before.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub previous: String,
    /// The retention policy that removed the target.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub policy: String,
    /// The immutable rule that refused the change.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rule: String,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Unique per event, so listeners can drop duplicates of a retry.
    pub id: String,
    /// When it happened, RFC 3339 with nanoseconds as Go writes it.
    pub timestamp: String,
    /// What happened.
    pub action: Action,
    /// To what.
    pub target: Target,
    /// On which request.
    pub request: RequestRecord,
    /// By whom.
    pub actor: ActorRecord,
    /// On which node.
    pub source: SourceRecord,
    /// berth only: the lifecycle operation behind the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub berth: Option<BerthRecord>,
}

impl Event {
    /// A new event, stamped now with a fresh id.
    pub fn new(action: Action, target: Target, origin: &Origin, source: &SourceRecord) -> Event {
        Event {
            id: uuid::Uuid::new_v4().to_string(),
            timestamp: rfc3339(SystemTime::now()),
            action,
            target,
            request: origin.request.clone(),
            actor: origin.actor.clone(),
            source: source.clone(),
            berth: None,
        }
    }

    /// The request body carrying this event: an envelope of one, indented
    /// as distribution indents it.
    pub fn envelope(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Envelope<'a> {
            events: [&'a Event; 1],
        }
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"   ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
        // Plain strings and numbers: serializing them cannot fail.
        let _ = Envelope { events: [self] }.serialize(&mut ser);
        out
    }
}

/// `2006-01-02T15:04:05.999999999Z`: Go's `time.RFC3339Nano` in UTC, with
/// trailing zeros of the fraction dropped.
fn rfc3339(at: SystemTime) -> String {
    let at = time::OffsetDateTime::from(at);
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    let nanos = at.nanosecond();
    if nanos != 0 {
        s.push_str(format!(".{nanos:09}").trim_end_matches('0'));
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn timestamps_as_go_writes_them() {
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_136_214_245)), "2006-01-02T15:04:05Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::new(1_136_214_245, 120_000_000)), "2006-01-02T15:04:05.12Z");
    }

    #[test]
    fn fields_in_distributions_order_and_empty_ones_left_out() {
        let origin = Origin {
            request: RequestRecord { id: "r".into(), method: "DELETE".into(), ..RequestRecord::default() },
            actor: ActorRecord::default(),
        };
        let source = SourceRecord { addr: "node:5000".into(), instance_id: "i".into() };
        let event = Event::new(Action::Delete, Target::deleted("library/a", "sha256:00"), &origin, &source);
        let json: serde_json::Value = serde_json::from_slice(&event.envelope()).unwrap();
        let event = &json["events"][0];
        let keys: Vec<&str> = event.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "timestamp", "action", "target", "request", "actor", "source"]);
        assert_eq!(event["target"], serde_json::json!({"digest": "sha256:00", "repository": "library/a"}));
        assert_eq!(event["request"], serde_json::json!({"id": "r", "method": "DELETE", "useragent": ""}));
        assert_eq!(event["actor"], serde_json::json!({}));
        assert_eq!(event["source"], serde_json::json!({"addr": "node:5000", "instanceID": "i"}));
        assert_eq!(event["action"], "delete");
    }

    #[test]
    fn blob_targets_carry_length_and_octet_stream() {
        let t = Target::blob("a", "sha256:11", 7, "http://r/v2/a/blobs/sha256:11".into()).with_tag(None);
        let json = serde_json::to_value(&t).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["mediaType", "size", "digest", "length", "repository", "url"]);
        assert_eq!(json["mediaType"], BLOB_MEDIA_TYPE);
        assert_eq!(json["length"], 7);
    }
}
