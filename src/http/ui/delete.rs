//! Deletes from the UI: `GET /ui/r/<name>/-/delete?tag=T` (or `digest=D`,
//! or neither for the whole repository) shows a confirmation form; posting
//! that form deletes through the same registry methods as the API, with the
//! same notification events, and redirects to what is left.

use http::{StatusCode, header};

use super::{
    super::{
        App,
        blobs::parse_digest,
        error::ApiError,
        request::{Req, decode_pairs},
        response::{self, Reply, set},
    },
    csrf, html, view,
};
use crate::{
    notifications::{Action, Target},
    registry::{Digest, Reference, RepoName, Tag},
};

/// The largest delete form body: a tag or digest and a token.
pub const FORM_LIMIT: usize = 4096;

/// What a delete removes.
enum Victim {
    Tag(Tag),
    Manifest(Digest),
    Repository,
}

impl Victim {
    /// From the `tag` or `digest` field; neither means the repository.
    fn from_fields(tag: Option<&str>, digest: Option<&str>) -> Result<Victim, ApiError> {
        match (tag.filter(|t| !t.is_empty()), digest.filter(|d| !d.is_empty())) {
            (Some(_), Some(_)) => {
                Err(ApiError::new(StatusCode::BAD_REQUEST, "UNSUPPORTED", "The operation is unsupported.")
                    .detail("name a tag or a digest, not both"))
            }
            (Some(tag), None) => Tag::parse(tag).map(Victim::Tag).ok_or_else(|| {
                ApiError::new(StatusCode::BAD_REQUEST, "TAG_INVALID", "manifest tag did not match URI")
                    .detail(format!("invalid tag {tag:?}"))
            }),
            (None, Some(digest)) => parse_digest(digest).map(Victim::Manifest),
            (None, None) => Ok(Victim::Repository),
        }
    }

    /// What the token is bound to.
    fn target(&self) -> String {
        match self {
            Victim::Tag(tag) => format!("tag:{tag}"),
            Victim::Manifest(digest) => format!("digest:{digest}"),
            Victim::Repository => "repository".to_owned(),
        }
    }
}

/// Deletes must be on and the registry writable, for the page as for the post.
fn require_deletes(app: &App) -> Result<(), ApiError> {
    if app.read_only {
        return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "The operation is unsupported.")
            .detail("the registry is in read-only mode (storage.maintenance.readonly)"));
    }
    if app.proxy {
        return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "The operation is unsupported.")
            .detail("the registry is a pull-through cache (proxy)"));
    }
    if !app.registry.deletes_enabled() {
        return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", "The operation is unsupported.")
            .detail("deletes are disabled (storage.delete.enabled)"));
    }
    Ok(())
}

/// `GET`: the confirmation page, after checking that the victim exists.
pub async fn confirm(app: &App, req: &Req, name: &RepoName) -> Result<Reply, ApiError> {
    require_deletes(app)?;
    let victim = Victim::from_fields(req.query("tag"), req.query("digest"))?;
    let repository = view::repository_url(&req.prefix, name.as_str());
    let (what, fields, back) = match &victim {
        Victim::Tag(tag) => {
            app.registry.resolve(name, &Reference::Tag(tag.clone())).await?;
            (format!("tag {name}:{tag}"), vec![("tag", tag.to_string())], repository)
        }
        Victim::Manifest(digest) => {
            app.registry.manifest_detail(name, digest).await?;
            let back = view::manifest_url(&req.prefix, name.as_str(), digest);
            (
                format!("manifest {name}@{digest} and every tag pointing at it"),
                vec![("digest", digest.to_string())],
                back,
            )
        }
        Victim::Repository => {
            app.registry.tags(name, Some(0), None).await?;
            (format!("repository {name} with all its tags and manifests"), Vec::new(), repository)
        }
    };
    let token = csrf::token(app, req, name, &victim.target());
    let markup = view::confirm(&view::ConfirmView {
        prefix: &req.prefix,
        name: name.as_str(),
        what: &what,
        fields: &fields,
        token: &token,
        back: &back,
    });
    Ok(html(StatusCode::OK, markup))
}

/// Decodes an `application/x-www-form-urlencoded` body.
/// A form encodes a space as `+` (and a `+` as `%2B`), the one way it
/// differs from a query string.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    decode_pairs(&String::from_utf8_lossy(body).replace('+', " "))
}

/// `POST`: checks origin and token, deletes, publishes the API's events,
/// and redirects (303) to the repository, or the catalog once it is gone.
pub async fn submit(app: &App, req: &mut Req, name: &RepoName) -> Result<Reply, ApiError> {
    require_deletes(app)?;
    let body = req.collect(FORM_LIMIT).await.ok().flatten().ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "UNSUPPORTED", "The operation is unsupported.")
            .detail(format!("the form must be at most {FORM_LIMIT} bytes"))
    })?;
    let fields = form_fields(&body);
    let field = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let victim = Victim::from_fields(field("tag"), field("digest"))?;
    csrf::check(app, req, name, &victim.target(), field("token"))?;
    let location = match victim {
        Victim::Tag(tag) => {
            app.registry.delete_manifest(name, &Reference::Tag(tag.clone())).await?;
            app.publish(req, Action::Delete, || Target::tag(name.as_str(), tag.as_str()));
            view::repository_url(&req.prefix, name.as_str())
        }
        Victim::Manifest(digest) => {
            let tags = app.registry.delete_manifest(name, &Reference::Digest(digest.clone())).await?;
            app.publish(req, Action::Delete, || Target::deleted(name.as_str(), &digest.to_string()));
            for tag in &tags {
                app.publish(req, Action::Delete, || Target::tag(name.as_str(), tag.as_str()));
            }
            view::repository_url(&req.prefix, name.as_str())
        }
        Victim::Repository => {
            app.registry.delete_repository(name).await?;
            app.publish(req, Action::Delete, || Target { repository: name.to_string(), ..Target::default() });
            format!("{}/ui/", req.prefix)
        }
    };
    let mut reply = response::empty(StatusCode::SEE_OTHER);
    set(&mut reply, header::LOCATION, &location);
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::form_fields;

    #[test]
    fn decodes_forms() {
        let fields = form_fields(b"tag=v1&token=a%2Bb+c&empty=&flag");
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("tag", "v1"), ("token", "a+b c"), ("empty", ""), ("flag", "")]);
    }
}
