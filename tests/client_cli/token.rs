//! Token auth, as docker does it: a promote reads with a pull token and then
//! POSTs, is challenged again for `pull,push`, fetches that token and sends
//! the same body once more.

use std::sync::{Arc, Mutex};

use super::*;
use crate::token_issuer::TokenIssuer;

/// A token server granting bob exactly the one repository scope asked for;
/// its URL and the scopes asked, in order.
fn token_server(issuer: TokenIssuer) -> (String, Arc<Mutex<Vec<String>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let url = fake_http(move |head| {
        let (token, scope) = issuer.answer("bob", request_path(head));
        log.lock().unwrap().push(scope);
        ("200 OK\r\nContent-Type: application/json".into(), token.into_bytes())
    });
    (url, asked)
}

#[tokio::test]
async fn promote_with_token_auth_fetches_a_push_token_and_sends_the_body_again() {
    let plain = start().await;
    let [(beta, _), (latest, _), _] = lifecycle::three_images(&plain).await;
    let issuer = TokenIssuer::new();
    let bundle = plain.tmp().join("bundle.pem");
    std::fs::write(&bundle, &issuer.root_pem).unwrap();
    let (realm, asked) = token_server(issuer);
    // A second server on the first one's storage root, with token auth.
    let secure = start_config(&format!(
        "version: 0.1\nlog:\n  accesslog:\n    disabled: true\nhttp:\n  addr: 127.0.0.1:0\nauth:\n  token:\n    realm: {realm}/token\n    service: registry\n    issuer: issuer\n    rootcertbundle: '{}'\nstorage:\n  filesystem:\n    rootdirectory: '{}'\n",
        bundle.display(),
        plain.tmp().join("root").display()
    ))
    .await;

    let promoted = berth(&secure.base, &["tag", "promote", "app", "archive=latest", "latest=beta"], &[], "").await;
    let expected = [format!("app:archive -> {latest} (was new)"), format!("app:latest -> {beta} (was {latest})")];
    assert_eq!(promoted.lines(), expected);
    assert_eq!(*asked.lock().unwrap(), ["repository:app:pull", "repository:app:pull,push"]);
    let history = berth(&secure.base, &["tag", "history", "app:latest"], &[], "").await;
    assert!(history.lines()[0].ends_with(&format!("{beta}  promote  bob")), "{history:?}");
    secure.stop().await;
    plain.stop().await;
}
