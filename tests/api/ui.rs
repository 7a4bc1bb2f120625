//! The web UI under `/ui/`: pages read over real HTTP, checked against what
//! was pushed and what `/v2` answers.

use reqwest::{Method, Response};

use crate::common::*;

/// Every value of `attr="..."` in a page, in order.
fn attrs(html: &str, attr: &str) -> Vec<String> {
    let marker = format!("{attr}=\"");
    html.split(&marker).skip(1).map(|rest| rest.split('"').next().unwrap().to_owned()).collect()
}

/// The repository names a catalog page links to.
fn repo_links(html: &str) -> Vec<String> {
    let links = attrs(html, "href").into_iter().filter_map(|h| h.strip_prefix("/ui/r/").map(str::to_owned));
    links.collect()
}

/// The `next` link of a page.
fn next_link(html: &str) -> Option<String> {
    html.split("class=\"next\" href=\"").nth(1).map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
}

/// The row of one tag on a repository page.
fn tag_row<'a>(html: &'a str, tag: &str) -> &'a str {
    let start = html.find(&format!("data-tag=\"{tag}\"")).unwrap_or_else(|| panic!("no row for {tag}"));
    let end = html[start..].find("</tr>").unwrap();
    &html[start..start + end]
}

async fn page(reg: &Registry, path: &str) -> String {
    let r = reg.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    assert_eq!(hdr(&r, "content-type").as_deref(), Some("text/html; charset=utf-8"));
    text(r).await
}

async fn tags_of(reg: &Registry, name: &str) -> Vec<String> {
    let list = json(reg.get(&format!("/v2/{name}/tags/list")).await).await;
    list["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn catalog_pages_and_searches() {
    let reg = start().await;
    let mut names: Vec<String> = (0..300).map(|i| format!("team-{}/app{i:03}", i % 3)).collect();
    for chunk in names.chunks(30) {
        futures_util::future::join_all(chunk.iter().map(|n| reg.push_image(n, "v1", n))).await;
    }
    names.sort();
    let first = page(&reg, "/ui/").await;
    assert!(first.contains("300 repositories"), "count shown");
    assert_eq!(repo_links(&first), names[..100], "the first page holds the first 100 names");

    let mut found = Vec::new();
    let mut next = Some("/ui/?q=Team-1&n=40".to_owned());
    while let Some(path) = next {
        let html = page(&reg, &path).await;
        assert!(html.contains("100 of 300 repositories match"), "{path}");
        let links = repo_links(&html);
        assert!(links.len() <= 40);
        found.extend(links);
        next = next_link(&html);
    }
    let expected: Vec<String> = names.iter().filter(|n| n.starts_with("team-1/")).cloned().collect();
    assert_eq!(found, expected, "the search's pages hold every match once, in order");
    let none = page(&reg, "/ui/?q=nothing-like-this").await;
    assert!(repo_links(&none).is_empty() && none.contains("0 of 300"));
    reg.stop().await;
}

#[tokio::test]
async fn repository_page_lists_every_tag() {
    let reg = start().await;
    let mut pushed = Vec::new();
    for tag in ["v1", "v2", "latest"] {
        let (digest, body) = reg.push_image("shop/web", tag, tag).await;
        let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"{tag}\"}}");
        let size = body.len() + config.len() + format!("layer bytes of {tag}").len();
        pushed.push((tag, digest, size, config.len() + format!("layer bytes of {tag}").len()));
    }
    // An index of two images: its size is its own plus its children's totals.
    let (arm, arm_body) = reg.push_image("shop/web", "arm-only", "arm").await;
    let child = Desc { media_type: OCI_MANIFEST.into(), digest: arm.clone(), size: arm_body.len() };
    let entry = |platform: &str| {
        format!(r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{arm}","size":{},"platform":{platform}}}"#, child.size)
    };
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{},{}]}}"#,
        entry(r#"{"os":"linux","architecture":"arm64","variant":"v8"}"#),
        entry(r#"{"os":"linux","architecture":"amd64"}"#)
    );
    let index_digest = reg.push_manifest("shop/web", "multi", OCI_INDEX, index.as_bytes()).await;

    let html = page(&reg, "/ui/r/shop/web").await;
    for (tag, digest, size, _) in &pushed {
        let row = tag_row(&html, tag);
        assert!(row.contains(&format!("title=\"{digest}\"")), "{tag}: full digest in the title");
        assert!(row.contains(&format!("data-bytes=\"{size}\"")), "{tag}: manifest + config + layer = {size}\n{row}");
        assert!(row.contains("linux/amd64"), "{tag}: platform from the config");
        let host = reg.base.trim_start_matches("http://");
        assert!(row.contains(&format!("data-copy=\"docker pull {host}/shop/web:{tag}\"")), "{tag}: pull command");
    }
    let arm_total = arm_body.len()
        + "{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"arm\"}".len()
        + "layer bytes of arm".len();
    let multi = tag_row(&html, "multi");
    assert!(multi.contains(&format!("title=\"{index_digest}\"")));
    assert!(multi.contains(&format!("data-bytes=\"{}\"", index.len() + 2 * arm_total)), "{multi}");
    assert!(multi.contains("linux/arm64/v8, linux/amd64"), "{multi}");
    assert_eq!(attrs(&html, "data-tag"), ["arm-only", "latest", "multi", "v1", "v2"], "every tag, sorted");
    // Storage: each distinct config and layer once (the arm image's too).
    let blobs: usize = pushed.iter().map(|p| p.3).sum::<usize>() + arm_total - arm_body.len();
    assert!(html.contains(&format!("class=\"storage\" data-bytes=\"{blobs}\"")), "storage {blobs}");

    let r = reg.get("/ui/r/no/such").await;
    assert_eq!(r.status(), 404);
    assert!(text(r).await.contains("NAME_UNKNOWN"));
    let r = reg.get("/ui/r/Bad..Name").await;
    assert_eq!(r.status(), 400, "a name the API refuses");
    reg.stop().await;
}

#[tokio::test]
async fn manifest_page_shows_layers_referrers_and_escapes() {
    let reg = start().await;
    let config = br#"{"architecture":"arm64","os":"linux","config":{"Env":["A=<b>"]}}"#;
    let layers = [b"first layer".as_slice(), b"second layer"];
    reg.push_blob("lib/x", config).await;
    for layer in layers {
        reg.push_blob("lib/x", layer).await;
    }
    let descs: Vec<Desc> = layers.iter().map(|l| Desc::of(OCI_LAYER, l)).collect();
    let hostile = r#", "annotations": {"org.example.note": "<script>alert(1)</script>"}"#;
    let body = image_manifest(Some(OCI_MANIFEST), &Desc::of(OCI_CONFIG, config), &descs, hostile);
    let digest = reg.push_manifest("lib/x", "1.0", OCI_MANIFEST, &body).await;
    let subject = Desc { media_type: OCI_MANIFEST.into(), digest: digest.clone(), size: body.len() };
    reg.push_blob("lib/x", b"{}").await;
    let sbom = image_manifest(
        Some(OCI_MANIFEST),
        &Desc::empty(),
        &[Desc::empty()],
        &format!(r#", "artifactType": "application/spdx+json", "subject": {}"#, subject.json()),
    );
    let sbom_digest = reg.push_manifest("lib/x", &sha256(&sbom), OCI_MANIFEST, &sbom).await;

    let html = page(&reg, &format!("/ui/r/lib/x/m/{digest}?tag=1.0")).await;
    for d in &descs {
        assert!(html.contains(&format!("title=\"{}\"", d.digest)), "layer {}", d.digest);
        assert!(html.contains(&format!("data-bytes=\"{}\"", d.size)));
    }
    assert!(html.contains(&format!("data-bytes=\"{}\"", body.len())), "the manifest's own size");
    assert!(html.contains("&quot;architecture&quot;: &quot;arm64&quot;"), "config, pretty and escaped");
    assert!(html.contains(&format!("title=\"{sbom_digest}\"")), "the referrer is listed");
    assert!(html.contains("application/spdx+json"), "with its artifactType");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "annotation shown as text");
    assert!(!html.contains("<script>alert"), "never as markup");
    assert!(!html.contains("<b>"), "config values escaped too");
    let host = reg.base.trim_start_matches("http://");
    assert!(html.contains(&format!(">docker pull {host}/lib/x:1.0<")), "pull command by tag");
    assert!(html.contains(&format!(">docker pull {host}/lib/x@{digest}<")), "pull command by digest");
    for (path, status) in
        [(format!("/ui/r/lib/x/m/{}", sha256(b"nothing")), 404), ("/ui/r/lib/x/m/sha256:zz".to_owned(), 400)]
    {
        let r = reg.get(&path).await;
        assert_eq!(r.status(), status, "{path}");
    }
    reg.stop().await;
}

#[tokio::test]
async fn htpasswd_guards_the_pages() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    std::fs::write(&file, format!("alice:{}\n", bcrypt::hash("s3cret", 4).unwrap())).unwrap();
    let reg =
        start_with(true, &format!("auth:\n  htpasswd:\n    realm: berth\n    path: '{}'\n", file.display())).await;
    for path in ["/ui/", "/ui/r/a", "/ui/-/style.css"] {
        let r = reg.get(path).await;
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(hdr(&r, "www-authenticate").as_deref(), Some(r#"Basic realm="berth""#), "the browser prompts");
    }
    let ok = reg.req(Method::GET, "/ui/").basic_auth("alice", Some("s3cret")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(text(ok).await.contains("0 repositories"));
    let wrong = reg.req(Method::GET, "/ui/").basic_auth("alice", Some("nope")).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    reg.stop().await;
}

/// The confirmation page's hidden token.
fn token_of(html: &str) -> String {
    html.split("name=\"token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
}

async fn post_form(reg: &Registry, path: &str, form: &str, origin: Option<&str>) -> Response {
    let mut req = reg.req(Method::POST, path).header("content-type", "application/x-www-form-urlencoded");
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    req.body(form.to_owned()).send().await.unwrap()
}

#[tokio::test]
async fn deleting_a_tag_takes_a_confirmed_form() {
    let reg = start().await;
    let (digest, _) = reg.push_image("app", "keep", "same").await;
    reg.push_image("app", "drop", "same").await;
    reg.push_image("app", "other", "other").await;
    let repo = page(&reg, "/ui/r/app").await;
    assert!(attrs(&repo, "href").iter().any(|h| h == "/ui/r/app/-/delete?tag=drop"), "delete link shown");
    let confirm = page(&reg, "/ui/r/app/-/delete?tag=drop").await;
    assert!(confirm.contains("Delete tag app:drop?"));
    let token = token_of(&confirm);
    let origin = reg.base.clone();

    let refusals = [
        ("tag=drop".to_owned(), Some(origin.as_str()), "no token"),
        (format!("tag=drop&token=x{token}"), Some(origin.as_str()), "wrong token"),
        (format!("tag=keep&token={token}"), Some(origin.as_str()), "token of another tag"),
        (format!("tag=drop&token={token}"), Some("http://evil.example"), "another site's form"),
        (format!("tag=drop&token={token}"), None, "no Origin or Referer"),
    ];
    for (form, from, why) in &refusals {
        let r = post_form(&reg, "/ui/r/app/-/delete", form, *from).await;
        assert_eq!(r.status(), 403, "{why}");
        assert!(text(r).await.contains("DENIED"), "{why}");
    }
    assert_eq!(tags_of(&reg, "app").await, ["drop", "keep", "other"], "nothing deleted by refused posts");

    let r = post_form(&reg, "/ui/r/app/-/delete", &format!("tag=drop&token={token}"), Some(&origin)).await;
    assert_eq!(r.status(), 303);
    assert_eq!(hdr(&r, "location").as_deref(), Some("/ui/r/app"));
    assert_eq!(tags_of(&reg, "app").await, ["keep", "other"], "exactly that tag is gone");
    let r = reg.get("/v2/app/manifests/keep").await;
    assert_eq!(hdr(&r, "docker-content-digest"), Some(digest.clone()), "the manifest it shared stays");

    // A manifest delete takes every tag pointing at it; a repository
    // delete takes the rest.
    let confirm = page(&reg, &format!("/ui/r/app/-/delete?digest={digest}")).await;
    let form = format!("digest={digest}&token={}", token_of(&confirm));
    assert_eq!(post_form(&reg, "/ui/r/app/-/delete", &form, Some(&origin)).await.status(), 303);
    assert_eq!(tags_of(&reg, "app").await, ["other"]);
    let confirm = page(&reg, "/ui/r/app/-/delete").await;
    let form = format!("token={}", token_of(&confirm));
    let r = post_form(&reg, "/ui/r/app/-/delete", &form, Some(&origin)).await;
    assert_eq!(r.status(), 303);
    assert_eq!(hdr(&r, "location").as_deref(), Some("/ui/"));
    assert_eq!(reg.get("/v2/app/tags/list").await.status(), 404, "the repository is gone");
    reg.stop().await;
}

#[tokio::test]
async fn deletes_disabled_or_read_only_hide_and_refuse() {
    let disabled = start_with(false, "").await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let yaml = |ro: bool| {
        format!(
            "version: 0.1\nhttp:\n  addr: 127.0.0.1:0\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n  delete:\n    enabled: true\n  maintenance:\n    readonly:\n      enabled: {ro}\n",
            root.display()
        )
    };
    let writable = start_config(&yaml(false)).await;
    writable.push_image("app", "v1", "x").await;
    writable.stop().await;
    let read_only = start_config(&yaml(true)).await;
    disabled.push_image("app", "v1", "x").await;
    for reg in [&disabled, &read_only] {
        let repo = page(reg, "/ui/r/app").await;
        assert!(!repo.contains("/-/delete"), "no delete links");
        assert_eq!(reg.get("/ui/r/app/-/delete?tag=v1").await.status(), 405, "no confirmation page");
        let origin = reg.base.clone();
        let r = post_form(reg, "/ui/r/app/-/delete", "tag=v1&token=x", Some(&origin)).await;
        assert_eq!(r.status(), 405);
        assert!(text(r).await.contains("UNSUPPORTED"));
        assert_eq!(tags_of(reg, "app").await, ["v1"], "still there");
    }
    disabled.stop().await;
    read_only.stop().await;
}

#[tokio::test]
async fn prefix_disable_and_assets() {
    let reg = start_with(true, "http:\n  prefix: /reg/\n").await;
    std::fs::create_dir_all(reg.v2().join("repositories/a/b/_manifests")).unwrap();
    let html = page(&reg, "/reg/ui/").await;
    assert!(html.contains("href=\"/reg/ui/r/a/b\""), "links keep the prefix");
    assert!(html.contains("href=\"/reg/ui/-/style.css\""));
    let css = reg.get("/reg/ui/-/style.css").await;
    assert_eq!(css.status(), 200);
    assert_eq!(hdr(&css, "cache-control").as_deref(), Some("public, max-age=86400"));
    assert!(text(css).await.contains("button.copy"));
    assert_eq!(reg.get("/reg/ui/-/copy.js").await.status(), 200);
    assert_eq!(reg.get("/reg/ui/-/nothing").await.status(), 404);
    assert_eq!(reg.get("/ui/").await.status(), 404, "outside the prefix");
    reg.stop().await;

    let off = start_with(true, "berth:\n  ui:\n    enabled: false\n").await;
    assert_eq!(off.get("/ui/").await.status(), 404);
    assert_eq!(off.get("/v2/").await.status(), 200);
    off.stop().await;
}

/// Not a timed assertion: prints what a catalog page costs with 10 000
/// repositories, the first time (a walk) and from the memo, and what a
/// repository page of 100 tags costs.
#[tokio::test]
async fn catalog_of_ten_thousand_repositories() {
    let reg = start().await;
    let (_, body) = reg.push_image("seed", "v1", "seed").await;
    for i in 0..100 {
        reg.push_manifest("seed", &format!("t{i:03}"), OCI_MANIFEST, &body).await;
    }
    let repos = reg.v2().join("repositories");
    for i in 0..10_000 {
        std::fs::create_dir_all(repos.join(format!("org{:02}/repo{i:05}/_manifests", i % 50))).unwrap();
    }
    for round in ["cold", "warm"] {
        let started = std::time::Instant::now();
        let html = page(&reg, "/ui/?n=100").await;
        println!("ui catalog page of 10001 repositories ({round}): {:?}", started.elapsed());
        assert!(html.contains("10001 repositories"));
        assert_eq!(repo_links(&html).len(), 100);
    }
    let started = std::time::Instant::now();
    let html = page(&reg, "/ui/?q=repo0999").await;
    println!("ui catalog search over 10001 repositories: {:?}", started.elapsed());
    assert_eq!(repo_links(&html).len(), 10);
    let started = std::time::Instant::now();
    let html = page(&reg, "/ui/r/seed").await;
    println!("ui repository page of 100 tags: {:?}", started.elapsed());
    assert_eq!(attrs(&html, "data-tag").len(), 100);
    reg.stop().await;
}
