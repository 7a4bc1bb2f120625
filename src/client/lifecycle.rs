//! `berth tag copy|promote|history|rollback`: a tag's lifecycle. Each move
//! reads the tags first and sends what it read along, so the registry
//! moves nothing if another client moved one of them in between.

use std::{collections::BTreeMap, fmt::Write};

use super::{
    Client, ClientError,
    moves::{History, Moved, Moves, Via},
    target,
};
use crate::registry::{Digest, RepoName, Tag};

/// Why a digest is no target for `history` and `rollback`.
const HISTORY_BY_TAG: &str = "histories are kept per tag";

/// `tag copy SRC_REF DST_TAG`: points DST_TAG at what SRC_REF names, in
/// the same repository.
pub async fn copy(client: &mut Client, source: &str, destination: &str) -> Result<String, ClientError> {
    let (name, source) = target::reference(source)?;
    let destination = destination_tag(&name, destination)?;
    let digest = client.resolve(&name, &source).await?;
    let current = client.current(&name, &destination).await?;
    let moves = Moves {
        via: Via::Copy,
        expect: BTreeMap::from([(destination.clone(), current)]),
        set: BTreeMap::from([(destination, digest)]),
    };
    Ok(moved(&name, &client.move_tags(&name, &moves).await?))
}

/// `tag promote NAME DST=SRC...`: every DST gets the digest its SRC had
/// when all were read, in one step (`archive=latest latest=beta`: archive
/// gets latest's old digest).
pub async fn promote(client: &mut Client, name: &str, assignments: &[String]) -> Result<String, ClientError> {
    let name = target::repository(name)?;
    let assignments = parse_assignments(assignments)?;
    let mut read = BTreeMap::new();
    for tag in assignments.iter().flat_map(|(destination, source)| [destination, source]) {
        if !read.contains_key(tag) {
            read.insert(tag.clone(), client.current(&name, tag).await?);
        }
    }
    let mut set = BTreeMap::new();
    for (destination, source) in assignments {
        let digest = read[&source].clone().ok_or_else(|| {
            ClientError::Usage(format!("the source tag {name}:{source} does not exist; nothing changed"))
        })?;
        set.insert(destination, digest);
    }
    let moves = Moves { via: Via::Promote, expect: read, set };
    Ok(moved(&name, &client.move_tags(&name, &moves).await?))
}

/// `tag history NAME:TAG`: newest first, `*` on the entry that made the
/// current digest current.
pub async fn history(client: &mut Client, reference: &str, json: bool) -> Result<String, ClientError> {
    let (name, tag) = target::tagged(reference, HISTORY_BY_TAG)?;
    let history = client.history(&name, &tag).await?;
    if json {
        // Serializing plain data to a String cannot fail.
        return Ok(serde_json::to_string_pretty(&history).unwrap_or_default() + "\n");
    }
    Ok(history_lines(&history))
}

/// `tag rollback NAME:TAG [DIGEST]`: back to DIGEST, which must be in the
/// tag's history, or else to the newest digest there that is not current.
pub async fn rollback(client: &mut Client, reference: &str, digest: Option<&str>) -> Result<String, ClientError> {
    let (name, tag) = target::tagged(reference, HISTORY_BY_TAG)?;
    let wanted: Option<Digest> =
        digest.map(|d| d.parse().map_err(|e| ClientError::Usage(format!("{d:?}: {e}")))).transpose()?;
    let history = client.history(&name, &tag).await?;
    let digest = rollback_target(&history, wanted.as_ref())?;
    let current = history.current.as_deref().map(parse_digest).transpose()?;
    let moves = Moves {
        via: Via::Rollback,
        expect: BTreeMap::from([(tag.clone(), current)]),
        set: BTreeMap::from([(tag, digest)]),
    };
    Ok(moved(&name, &client.move_tags(&name, &moves).await?))
}

/// The tag a copy goes to: `TAG`, or `NAME:TAG` of the source's repository.
fn destination_tag(name: &RepoName, text: &str) -> Result<Tag, ClientError> {
    if !text.contains([':', '@', '/']) {
        return Tag::parse(text)
            .ok_or_else(|| ClientError::Usage(format!("{text:?}: expected a tag, or NAME:TAG with NAME {name}")));
    }
    let (other, tag) = target::tagged(text, "the destination is a tag")?;
    if other != *name {
        return Err(ClientError::Usage(format!(
            "{text:?}: a copy stays in {name}; to copy into {other}, push the image there (pull and push, or mount its blobs)"
        )));
    }
    Ok(tag)
}

/// `DST=SRC` pairs of tags; a destination named twice is refused.
fn parse_assignments(texts: &[String]) -> Result<Vec<(Tag, Tag)>, ClientError> {
    let mut assignments: Vec<(Tag, Tag)> = Vec::new();
    for text in texts {
        let usage = || ClientError::Usage(format!("{text:?}: expected DST=SRC, two tags, such as archive=latest"));
        let (destination, source) = text.split_once('=').ok_or_else(usage)?;
        let (destination, source) = (Tag::parse(destination).ok_or_else(usage)?, Tag::parse(source).ok_or_else(usage)?);
        if assignments.iter().any(|(d, _)| *d == destination) {
            return Err(ClientError::Usage(format!("the tag {destination} is assigned twice")));
        }
        assignments.push((destination, source));
    }
    Ok(assignments)
}

/// The digest a rollback goes to.
fn rollback_target(history: &History, wanted: Option<&Digest>) -> Result<Digest, ClientError> {
    let shown = format!("{}:{}", history.name, history.tag);
    let found = match wanted {
        Some(wanted) => {
            let wanted = wanted.to_string();
            let found = history.history.iter().find(|e| e.digest == wanted);
            found.ok_or_else(|| ClientError::Usage(format!("{wanted} is not in the history of {shown}")))?
        }
        None => {
            let earlier = history.history.iter().find(|e| Some(e.digest.as_str()) != history.current.as_deref());
            earlier.ok_or_else(|| ClientError::Usage(format!("{shown} has no earlier digest to roll back to")))?
        }
    };
    parse_digest(&found.digest)
}

fn parse_digest(text: &str) -> Result<Digest, ClientError> {
    text.parse().map_err(|e| ClientError::Invalid {
        context: "the tag history".into(),
        reason: format!("digest {text:?}: {e}"),
    })
}

/// `<at>  <digest>  <via>  <by>` lines, `-` for no user, `* ` before the
/// newest entry at the current digest and `  ` before the others. Times
/// are padded to one width: RFC 3339 drops a fraction's trailing zeros.
fn history_lines(history: &History) -> String {
    let current = history.history.iter().position(|e| Some(e.digest.as_str()) == history.current.as_deref());
    let width = history.history.iter().map(|e| e.at.len()).max().unwrap_or_default();
    let mut out = String::new();
    for (i, entry) in history.history.iter().enumerate() {
        let mark = if Some(i) == current { '*' } else { ' ' };
        let by = if entry.by.is_empty() { "-" } else { &entry.by };
        let _ = writeln!(out, "{mark} {:<width$}  {}  {}  {by}", entry.at, entry.digest, entry.via);
    }
    out
}

/// `NAME:TAG -> DIGEST (was DIGEST|new)`, a line per moved tag.
fn moved(name: &RepoName, moved: &[Moved]) -> String {
    moved
        .iter()
        .map(|m| format!("{name}:{} -> {} (was {})\n", m.tag, m.digest, m.previous.as_deref().unwrap_or("new")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::moves::HistoryEntry;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn history(current: Option<char>, digests: &[char]) -> History {
        let entry = |(i, c): (usize, &char)| HistoryEntry {
            digest: digest(*c),
            at: format!("2026-11-24T11:00:0{i}Z"),
            via: "push".into(),
            by: if i == 0 { "alice".into() } else { String::new() },
        };
        History {
            name: "app".into(),
            tag: "latest".into(),
            current: current.map(digest),
            history: digests.iter().enumerate().map(entry).collect(),
        }
    }

    #[test]
    fn assignments() {
        let parsed = parse_assignments(&["archive=latest".into(), "latest=beta".into()]).unwrap();
        let names: Vec<_> = parsed.iter().map(|(d, s)| (d.as_str(), s.as_str())).collect();
        assert_eq!(names, [("archive", "latest"), ("latest", "beta")]);
        for bad in ["latest", "=beta", "latest=", "a:b=c", "a=b=c"] {
            assert!(parse_assignments(&[bad.into()]).is_err(), "{bad}");
        }
        let twice = parse_assignments(&["a=b".into(), "a=c".into()]).unwrap_err();
        assert_eq!(twice.to_string(), "the tag a is assigned twice");
    }

    #[test]
    fn destinations() {
        let name = RepoName::parse("my/app").unwrap();
        assert_eq!(destination_tag(&name, "v2").unwrap().as_str(), "v2");
        assert_eq!(destination_tag(&name, "my/app:v2").unwrap().as_str(), "v2");
        let across = destination_tag(&name, "other:v2").unwrap_err().to_string();
        assert!(across.contains("a copy stays in my/app"), "{across}");
        assert!(destination_tag(&name, &format!("my/app@{}", digest('a'))).is_err());
        assert!(destination_tag(&name, "-v2").is_err());
    }

    #[test]
    fn rollback_targets() {
        let h = history(Some('b'), &['b', 'b', 'a', 'c']);
        assert_eq!(rollback_target(&h, None).unwrap().to_string(), digest('a'));
        let c: Digest = digest('c').parse().unwrap();
        assert_eq!(rollback_target(&h, Some(&c)).unwrap(), c);
        let missing: Digest = digest('d').parse().unwrap();
        let e = rollback_target(&h, Some(&missing)).unwrap_err().to_string();
        assert_eq!(e, format!("{} is not in the history of app:latest", digest('d')));
        assert!(rollback_target(&history(Some('a'), &['a']), None).is_err());
        // A deleted tag rolls back to its last digest.
        assert_eq!(rollback_target(&history(None, &['a', 'b']), None).unwrap().to_string(), digest('a'));
    }

    #[test]
    fn history_marks_the_current_entry() {
        let mut h = history(Some('b'), &['b', 'a', 'b']);
        h.history[1].at = "2026-11-24T11:00:01.5Z".into();
        let text = history_lines(&h);
        let (a, b) = (digest('a'), digest('b'));
        let expected = format!(
            "* 2026-11-24T11:00:00Z    {b}  push  alice\n  2026-11-24T11:00:01.5Z  {a}  push  -\n  2026-11-24T11:00:02Z    {b}  push  -\n"
        );
        assert_eq!(text, expected);
    }
}
