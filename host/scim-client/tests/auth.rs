//! Signing in to the target, against the Zoom simulator's Server-to-Server OAuth endpoint (and a
//! small RFC 6749 token endpoint) over real HTTP on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use scim::ResourceKind;
use scim_client::{
    ClientConfig, ClientError, ErrorCode, OAuthClient, OAuthStyle, Problem, ScimClient, Secret,
    SignInFailure, TargetAuth,
};
use zoom_sim::{OAuthApp, SimConfig, SimState};

const CLIENT_ID: &str = "s2s-client";
const SECRET: &str = "s2s-5ecret-value";
const ACCOUNT: &str = "acct-42";

/// A simulator with an OAuth app whose tokens live `ttl_secs`; its origin.
async fn sim(ttl_secs: u64) -> (SimState, String) {
    let config = SimConfig {
        oauth: Some(OAuthApp {
            client_id: CLIENT_ID.into(),
            client_secret: SECRET.into(),
            account_id: ACCOUNT.into(),
            token_ttl_secs: ttl_secs,
        }),
        ..SimConfig::new("unused-fixed-token")
    };
    let state = SimState::new(&config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(zoom_sim::serve_state(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    (state, origin)
}

fn zoom_auth(origin: &str, secret: &str, account: &str) -> TargetAuth {
    TargetAuth::OAuth(OAuthClient {
        token_url: format!("{origin}/oauth/token"),
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(secret),
        scope: None,
        style: OAuthStyle::Zoom {
            account_id: account.into(),
        },
    })
}

fn client(origin: &str, auth: TargetAuth) -> ScimClient {
    let mut config = ClientConfig::new(format!("{origin}/scim2"), auth);
    config.rate_limit_per_sec = None;
    config.concurrency = 8;
    config.max_attempts = 3;
    config.min_backoff = Duration::from_millis(5);
    config.max_backoff = Duration::from_millis(20);
    ScimClient::new(config).expect("client")
}

async fn lookup(client: &ScimClient) -> Result<(), ClientError> {
    client
        .lookup_one(ResourceKind::User, "userName", "nobody@example.com")
        .await
        .map(drop)
}

#[tokio::test]
async fn one_token_serves_many_requests_and_eight_401s_at_once_renew_it_once() {
    let (sim, origin) = sim(3600).await;
    let client = client(&origin, zoom_auth(&origin, SECRET, ACCOUNT));
    for _ in 0..5 {
        lookup(&client).await.expect("signed in");
    }
    assert_eq!(sim.tokens_issued(), 1, "the token is cached");

    // Zoom revokes the token (or the clock passes its expiry): every request in flight meets
    // a 401 together, and they share one new token.
    sim.expire_tokens();
    let calls = (0..8).map(|_| lookup(&client));
    for result in futures::future::join_all(calls).await {
        result.expect("renewed and sent again");
    }
    assert_eq!(sim.tokens_issued(), 2, "one refresh, no stampede");
    assert_eq!(client.sign_ins(), 2);
    assert_eq!(sim.counters().unauthorized, 8);
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    let (sim, origin) = sim(2).await;
    let client = client(&origin, zoom_auth(&origin, SECRET, ACCOUNT));
    lookup(&client).await.expect("signed in");
    // Past 80 % of the token's two seconds, measured from before it was asked for.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    lookup(&client).await.expect("renewed");
    assert_eq!(sim.tokens_issued(), 2);
    assert_eq!(
        sim.counters().unauthorized,
        0,
        "renewed ahead, never refused"
    );
}

#[tokio::test]
async fn a_refused_sign_in_names_the_cause_and_never_the_secret() {
    let (sim, origin) = sim(3600).await;
    let cases = [
        (
            "wrong-secret",
            ACCOUNT,
            "invalid_client",
            "check client_id and the client secret",
        ),
        (
            SECRET,
            "acct-other",
            "Account does not exist",
            "check account_id",
        ),
    ];
    for (secret, account, cause, hint) in cases {
        let client = client(&origin, zoom_auth(&origin, secret, account));
        let error = lookup(&client).await.expect_err("refused");
        let text = error.to_string();
        assert!(
            matches!(
                error,
                ClientError::SignIn {
                    kind: SignInFailure::Refused,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(
            error.code(),
            ErrorCode::Unauthorized,
            "counts as a credential failure"
        );
        assert!(text.contains(cause) && text.contains(hint), "{text}");
        assert!(
            !text.contains(secret) && !format!("{error:?}").contains(secret),
            "{text}"
        );
        assert_eq!(client.sign_ins(), 1, "a refusal is not retried");

        let failure = client.test_connection().await.expect_err("refused");
        assert_eq!(failure.problem, Problem::SignIn);
        assert!(failure.message.contains(hint), "{}", failure.message);
    }
    assert_eq!(sim.tokens_issued(), 0);
    assert_eq!(sim.counters().requests, 0, "nothing reached the SCIM API");
}

#[tokio::test]
async fn a_token_file_is_read_again_when_it_changes() {
    let (sim, origin) = sim(3600).await;
    let issue = || async {
        let answer: serde_json::Value = reqwest::Client::new()
            .post(format!(
                "{origin}/oauth/token?grant_type=account_credentials&account_id={ACCOUNT}"
            ))
            .basic_auth(CLIENT_ID, Some(SECRET))
            .send()
            .await
            .expect("token endpoint")
            .json()
            .await
            .expect("json");
        answer["access_token"].as_str().expect("token").to_string()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{}\n", issue().await)).expect("write");
    let client = client(&origin, TargetAuth::BearerFile(file.clone()));
    lookup(&client).await.expect("the file's token");

    // The Secret rotates: the old token stops working and the file holds a new one.
    sim.expire_tokens();
    std::fs::write(&file, issue().await).expect("rotate");
    lookup(&client).await.expect("the rotated token");
    assert_eq!(client.sign_ins(), 2);
}

/// An RFC 6749 §4.4 token endpoint: checks the grant, the Basic credentials and the scope,
/// and hands out `token`.
async fn rfc6749_endpoint(token: &'static str, requests: Arc<AtomicU64>) -> String {
    use axum::Form;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::post;

    let handler =
        move |headers: HeaderMap, Form(form): Form<std::collections::HashMap<String, String>>| {
            let requests = requests.clone();
            async move {
                requests.fetch_add(1, Ordering::Relaxed);
                // base64("s2s-client:s2s-5ecret-value")
                let basic = "Basic czJzLWNsaWVudDpzMnMtNWVjcmV0LXZhbHVl";
                let authorized = headers
                    .get("authorization")
                    .is_some_and(|v| v.as_bytes() == basic.as_bytes());
                let grant = form.get("grant_type").map(String::as_str);
                let scope = form.get("scope").map(String::as_str);
                if !authorized {
                    return (
                        StatusCode::UNAUTHORIZED,
                        axum::Json(serde_json::json!({"error": "invalid_client"})),
                    )
                        .into_response();
                }
                if grant != Some("client_credentials") || scope != Some("scim.write") {
                    return (
                        StatusCode::BAD_REQUEST,
                        axum::Json(serde_json::json!({"error": "invalid_request"})),
                    )
                        .into_response();
                }
                axum::Json(serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}))
                .into_response()
            }
        };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/token", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route("/token", post(handler));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn rfc6749_client_credentials_sign_in_other_scim_apps() {
    const TOKEN: &str = "rfc-token";
    // A target that takes one fixed token: the one the endpoint hands out.
    let state = SimState::new(&SimConfig::new(TOKEN));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(zoom_sim::serve_state(
        listener,
        state,
        std::future::pending(),
    ));
    let requests = Arc::new(AtomicU64::new(0));
    let token_url = rfc6749_endpoint(TOKEN, requests.clone()).await;
    let auth = TargetAuth::OAuth(OAuthClient {
        token_url,
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(SECRET),
        scope: Some("scim.write".into()),
        style: OAuthStyle::Rfc6749,
    });
    let client = client(&origin, auth);
    lookup(&client)
        .await
        .expect("signed in with client credentials");
    lookup(&client).await.expect("cached");
    assert_eq!(requests.load(Ordering::Relaxed), 1);
}
