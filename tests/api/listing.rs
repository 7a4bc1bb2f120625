//! `/v2/<name>/tags/list` (end-8a/b) and `/v2/_catalog`.

use serde_json::{Value, json};

use crate::common::*;

/// An empty OCI index needs no blobs: the cheapest way to make a repository.
const EMPTY_INDEX: &[u8] =
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;

async fn make_repos(reg: &Registry, names: &[&str]) {
    for name in names {
        reg.push_manifest(name, "latest", OCI_INDEX, EMPTY_INDEX).await;
    }
}

/// GET a listing: its JSON body and its Link header.
async fn page(reg: &Registry, path: &str) -> (Value, Option<String>) {
    let r = reg.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    assert!(hdr(&r, "content-type").unwrap_or_default().starts_with("application/json"), "{path}");
    let link = hdr(&r, "link");
    (json(r).await, link)
}

/// The URL path inside `<...>; rel="next"`.
fn next(link: &str) -> &str {
    link.strip_prefix('<').and_then(|l| l.strip_suffix(">; rel=\"next\"")).unwrap_or_else(|| panic!("{link}"))
}

#[tokio::test]
async fn tags_list_in_lexical_order_with_pagination() {
    let reg = start().await;
    let (_, body) = reg.push_image("lib/app", "v2", "seed").await;
    for tag in ["v10", "latest", "Alpha", "_x"] {
        reg.push_manifest("lib/app", tag, OCI_MANIFEST, &body).await;
    }
    let (all, link) = page(&reg, "/v2/lib/app/tags/list").await;
    assert_eq!(all, json!({"name": "lib/app", "tags": ["Alpha", "_x", "latest", "v10", "v2"]}));
    assert_eq!(link, None);

    let (first, link) = page(&reg, "/v2/lib/app/tags/list?n=2").await;
    assert_eq!(first["tags"], json!(["Alpha", "_x"]));
    let link = link.expect("Link to the next page");
    assert_eq!(link, "</v2/lib/app/tags/list?last=_x&n=2>; rel=\"next\"");
    let (second, link) = page(&reg, next(&link)).await;
    assert_eq!(second["tags"], json!(["latest", "v10"]));
    let link = link.expect("Link to the last page");
    assert_eq!(link, "</v2/lib/app/tags/list?last=v10&n=2>; rel=\"next\"");
    let (third, link) = page(&reg, next(&link)).await;
    assert_eq!(third["tags"], json!(["v2"]));
    assert_eq!(link, None);

    let (rest, link) = page(&reg, "/v2/lib/app/tags/list?last=latest").await;
    assert_eq!(rest["tags"], json!(["v10", "v2"]));
    assert_eq!(link, None);
    let (exact, link) = page(&reg, "/v2/lib/app/tags/list?n=5").await;
    assert_eq!(exact["tags"], all["tags"]);
    assert_eq!(link, None);
    let (none, link) = page(&reg, "/v2/lib/app/tags/list?n=0").await;
    assert_eq!(none, json!({"name": "lib/app", "tags": []}));
    assert_eq!(link, None);
    reg.stop().await;
}

#[tokio::test]
async fn tags_list_of_an_unknown_repository_is_name_unknown() {
    let reg = start().await;
    reg.push_image("known", "v1", "seed").await;
    reg.push_blob("blobs/only", b"a blob is not a repository").await;
    for name in ["unknown", "known/sub", "blobs/only"] {
        expect_error(reg.get(&format!("/v2/{name}/tags/list")).await, 404, "NAME_UNKNOWN").await;
    }
    expect_error(reg.get("/v2/known/tags/list?n=x").await, 400, "PAGINATION_NUMBER_INVALID").await;
    reg.stop().await;
}

#[tokio::test]
async fn catalog_in_lexical_order_with_pagination() {
    let reg = start().await;
    make_repos(&reg, &["b", "a/two", "c/d/e", "a", "a/one"]).await;
    reg.push_blob("blobonly", b"not a repository until it has a manifest").await;
    let (all, link) = page(&reg, "/v2/_catalog").await;
    assert_eq!(all, json!({"repositories": ["a", "a/one", "a/two", "b", "c/d/e"]}));
    assert_eq!(link, None);

    let (first, link) = page(&reg, "/v2/_catalog?n=2").await;
    assert_eq!(first["repositories"], json!(["a", "a/one"]));
    let link = link.expect("Link");
    assert_eq!(link, "</v2/_catalog?last=a%2Fone&n=2>; rel=\"next\"");
    let (second, link) = page(&reg, next(&link)).await;
    assert_eq!(second["repositories"], json!(["a/two", "b"]));
    let link = link.expect("Link");
    assert_eq!(link, "</v2/_catalog?last=b&n=2>; rel=\"next\"");
    let (third, link) = page(&reg, next(&link)).await;
    assert_eq!(third["repositories"], json!(["c/d/e"]));
    assert_eq!(link, None);

    let (rest, _) = page(&reg, "/v2/_catalog?last=a%2Ftwo").await;
    assert_eq!(rest["repositories"], json!(["b", "c/d/e"]));
    let (none, link) = page(&reg, "/v2/_catalog?n=0").await;
    assert_eq!(none, json!({"repositories": []}));
    assert_eq!(link, None);
    expect_error(reg.get("/v2/_catalog?n=-1").await, 400, "PAGINATION_NUMBER_INVALID").await;
    expect_error(reg.get("/v2/_catalog?n=ten").await, 400, "PAGINATION_NUMBER_INVALID").await;
    reg.stop().await;
}

/// distribution compares names component by component (`/` sorts before
/// every other character), so `a/b` comes before `a-b` and `a.b`.
#[tokio::test]
async fn catalog_orders_names_component_wise_like_distribution() {
    let reg = start().await;
    make_repos(&reg, &["a-b", "a.b", "a/b", "a"]).await;
    let (all, _) = page(&reg, "/v2/_catalog").await;
    assert_eq!(all["repositories"], json!(["a", "a/b", "a-b", "a.b"]));
    let (rest, _) = page(&reg, "/v2/_catalog?last=a%2Fb").await;
    assert_eq!(rest["repositories"], json!(["a-b", "a.b"]));
    reg.stop().await;
}

#[tokio::test]
async fn catalog_n_above_maxentries_is_pagination_number_invalid() {
    let reg = start_with(true, "catalog:\n  maxentries: 5\n").await;
    let names: Vec<String> = (0..7).map(|i| format!("repo{i}")).collect();
    make_repos(&reg, &names.iter().map(String::as_str).collect::<Vec<_>>()).await;
    expect_error(reg.get("/v2/_catalog?n=6").await, 400, "PAGINATION_NUMBER_INVALID").await;
    let (five, link) = page(&reg, "/v2/_catalog?n=5").await;
    assert_eq!(five["repositories"], json!(["repo0", "repo1", "repo2", "repo3", "repo4"]));
    assert_eq!(link.as_deref(), Some("</v2/_catalog?last=repo4&n=5>; rel=\"next\""));
    reg.stop().await;
}

/// distribution's default page is 100 entries, lowered to catalog.maxentries
/// when that is smaller; it does not refuse a request without `n`.
#[tokio::test]
async fn catalog_without_n_is_capped_by_maxentries() {
    let reg = start_with(true, "catalog:\n  maxentries: 5\n").await;
    let names: Vec<String> = (0..7).map(|i| format!("repo{i}")).collect();
    make_repos(&reg, &names.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (five, link) = page(&reg, "/v2/_catalog").await;
    assert_eq!(five["repositories"], json!(["repo0", "repo1", "repo2", "repo3", "repo4"]));
    assert_eq!(link.as_deref(), Some("</v2/_catalog?last=repo4&n=5>; rel=\"next\""));
    reg.stop().await;
}

#[tokio::test]
async fn catalog_default_page_is_100() {
    let reg = start().await;
    let names: Vec<String> = (0..105).map(|i| format!("r{i:03}")).collect();
    make_repos(&reg, &names.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (first, link) = page(&reg, "/v2/_catalog").await;
    assert_eq!(first["repositories"], json!(names[..100]));
    let link = link.expect("Link");
    assert_eq!(link, "</v2/_catalog?last=r099&n=100>; rel=\"next\"");
    let (second, link) = page(&reg, next(&link)).await;
    assert_eq!(second["repositories"], json!(names[100..]));
    assert_eq!(link, None);
    reg.stop().await;
}

#[tokio::test]
async fn listings_on_the_inmemory_driver() {
    let reg = start_memory().await;
    make_repos(&reg, &["x/b", "x/a", "y"]).await;
    let (_, body) = reg.push_image("x/a", "v1", "seed").await;
    reg.push_manifest("x/a", "v0", OCI_MANIFEST, &body).await;
    let (all, _) = page(&reg, "/v2/_catalog").await;
    assert_eq!(all["repositories"], json!(["x/a", "x/b", "y"]));
    let (first, link) = page(&reg, "/v2/_catalog?n=1").await;
    assert_eq!(first["repositories"], json!(["x/a"]));
    assert_eq!(link.as_deref(), Some("</v2/_catalog?last=x%2Fa&n=1>; rel=\"next\""));
    let (tags, link) = page(&reg, "/v2/x/a/tags/list?n=2").await;
    assert_eq!(tags, json!({"name": "x/a", "tags": ["latest", "v0"]}));
    assert_eq!(link.as_deref(), Some("</v2/x/a/tags/list?last=v0&n=2>; rel=\"next\""));
    expect_error(reg.get("/v2/nope/tags/list").await, 404, "NAME_UNKNOWN").await;
    reg.stop().await;
}
