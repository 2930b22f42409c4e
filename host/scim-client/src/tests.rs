//! The client against fake targets over real HTTP on 127.0.0.1.

mod fake;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use percent_encoding::percent_decode_str;
use scim::ResourceKind;
use scim::patch::{PatchOp, PatchOperation};
use serde_json::json;

use self::fake::{Canned, Fake};
use crate::*;

const TOKEN: &str = "test-token-5ecret";

/// Fast waits so the suite stays quick: backoff 5–20 ms (40 ms with jitter).
fn config(base: &str) -> ClientConfig {
    let mut config = ClientConfig::new(base, BearerToken::new(TOKEN));
    config.rate_limit_per_sec = None;
    config.concurrency = 8;
    config.timeout = Duration::from_secs(2);
    config.max_attempts = 4;
    config.min_backoff = Duration::from_millis(5);
    config.max_backoff = Duration::from_millis(20);
    config.max_retry_after = Duration::from_secs(5);
    config
}

async fn client(script: Vec<Canned>) -> (Fake, ScimClient) {
    let (fake, base) = Fake::start(script).await;
    let client = ScimClient::new(config(&base)).expect("client");
    (fake, client)
}

fn jill() -> serde_json::Value {
    json!({"id": "k&KdKr6TL", "userName": "jill@example.com", "active": true})
}

fn scim_error(status: u16, scim_type: Option<&str>, detail: &str) -> Canned {
    let mut body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": status.to_string(), "detail": detail});
    if let Some(t) = scim_type {
        body["scimType"] = json!(t);
    }
    Canned::json(status, body)
}

fn decoded(raw: &str) -> String {
    percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

#[tokio::test]
async fn lookup_with_zero_one_and_two_matches() {
    let other = json!({"id": "2", "userName": "jill@example.com"});
    let (fake, client) = client(vec![
        Canned::list(vec![]),
        Canned::list(vec![jill()]),
        Canned::list(vec![jill(), other]),
    ])
    .await;

    let none = client
        .lookup_one(ResourceKind::User, "userName", "jill@example.com")
        .await;
    assert_eq!(none.ok(), Some(None));
    let one = client
        .lookup_one(ResourceKind::User, "userName", "JILL@example.com")
        .await;
    assert_eq!(
        one.ok().flatten(),
        Some(jill()),
        "userName compares case-insensitively"
    );
    let two = client
        .lookup_one(ResourceKind::User, "userName", "jill@example.com")
        .await;
    match two {
        Err(e @ ClientError::DuplicateTargetEntries { count: 2, .. }) => {
            assert_eq!(e.code(), ErrorCode::DuplicateTargetEntries)
        }
        other => panic!("expected DuplicateTargetEntries, got {other:?}"),
    }

    let seen = fake.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(seen[0].accept.as_deref(), Some("application/scim+json"));
}

#[tokio::test]
async fn find_users_returns_the_page_and_counts_duplicates_beyond_it() {
    let paged = Canned::json(200, json!({"totalResults": 3, "Resources": [jill()]}));
    let (_fake, client) = client(vec![Canned::list(vec![jill()]), paged]).await;
    assert_eq!(
        client.find_users("userName", "jill@example.com").await.ok(),
        Some(vec![jill()])
    );
    let err = client
        .lookup_one(ResourceKind::User, "userName", "jill@example.com")
        .await;
    assert!(
        matches!(
            err,
            Err(ClientError::DuplicateTargetEntries { count: 3, .. })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn lookup_catches_a_target_that_ignores_the_filter() {
    let (_fake, client) = client(vec![Canned::list(vec![
        json!({"id": "9", "userName": "someone@else.com"}),
    ])])
    .await;
    let err = client
        .lookup_one(ResourceKind::User, "userName", "jill@example.com")
        .await;
    assert!(
        matches!(err, Err(ClientError::Incompatible { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn filter_values_are_escaped_and_encoded() {
    let (fake, client) = client(vec![Canned::list(vec![]), Canned::list(vec![])]).await;
    let value = r#"a"b\c+d@x.com"#;
    assert_eq!(
        client.find_users("userName", value).await.ok(),
        Some(vec![])
    );
    client
        .find_groups("displayName", "R&D")
        .await
        .expect("groups");

    let seen = fake.seen();
    let (path, query) = seen[0].raw.split_once('?').expect("a query");
    assert_eq!(path, "/scim/v2/Users");
    let filter = query.strip_prefix("filter=").expect("filter first");
    assert!(
        !filter.contains(['+', ' ', '"', '&']),
        "strictly encoded: {filter}"
    );
    assert_eq!(decoded(filter), r#"userName eq "a\"b\\c+d@x.com""#);

    let (path, query) = seen[1].raw.split_once('?').expect("a query");
    assert_eq!(path, "/scim/v2/Groups");
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), decoded(v)))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("filter".into(), r#"displayName eq "R&D""#.into()),
            ("excludedAttributes".into(), "members".into())
        ]
    );
}

#[tokio::test]
async fn ids_with_ampersands_are_one_encoded_segment() {
    let ops = [
        PatchOperation {
            op: PatchOp::Replace,
            path: Some("active".into()),
            value: Some(json!(false)),
        },
        PatchOperation {
            op: PatchOp::Replace,
            path: Some("name.familyName".into()),
            value: Some(json!("Chill")),
        },
    ];
    let script = vec![
        Canned::json(200, jill()),
        Canned::text(204, ""),
        Canned::json(200, jill()),
        Canned::text(204, ""),
    ];
    let (fake, client) = client(script).await;
    assert_eq!(client.get_user("k&KdKr6TL").await.ok(), Some(jill()));
    assert_eq!(client.patch_user("k&KdKr6TL", &ops).await.ok(), Some(None));
    assert_eq!(
        client.patch_user("k&KdKr6TL", &ops).await.ok(),
        Some(Some(jill()))
    );
    assert_eq!(
        client.delete_user("k&KdKr6TL").await.ok(),
        Some(Deleted::Removed)
    );
    assert_eq!(
        client.patch_user("k&KdKr6TL", &[]).await.ok(),
        Some(None),
        "nothing to send, nothing sent"
    );

    let seen = fake.seen();
    let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, ["GET", "PATCH", "PATCH", "DELETE"]);
    for s in &seen {
        assert_eq!(s.raw, "/scim/v2/Users/k%26KdKr6TL");
        assert_eq!(
            decoded(s.raw.rsplit('/').next().unwrap_or_default()),
            "k&KdKr6TL"
        );
    }
    assert_eq!(
        seen[1].content_type.as_deref(),
        Some("application/scim+json")
    );
    let body: serde_json::Value = serde_json::from_str(&seen[1].body).expect("patch body");
    assert_eq!(
        body,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "replace", "path": "active", "value": false},
            {"op": "replace", "path": "name.familyName", "value": "Chill"}]})
    );
}

#[tokio::test]
async fn create_replace_and_delete() {
    let created = json!({"id": "new-1", "userName": "a@x.com"});
    let script = vec![
        Canned::json(201, created.clone()),
        Canned::json(201, json!({"userName": "a@x.com"})),
        Canned::json(200, created.clone()),
        scim_error(404, None, "gone"),
    ];
    let (fake, client) = client(script).await;
    let body = json!({"schemas": [scim::resource::USER_SCHEMA], "userName": "a@x.com"});
    assert_eq!(client.create_user(&body).await.ok(), Some(created.clone()));
    let no_id = client.create_user(&body).await;
    assert!(
        matches!(no_id, Err(ClientError::Incompatible { .. })),
        "{no_id:?}"
    );
    assert_eq!(
        client.replace_user("new-1", &body).await.ok(),
        Some(created)
    );
    assert_eq!(
        client.delete_user("new-1").await.ok(),
        Some(Deleted::AlreadyGone)
    );

    let seen = fake.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].raw.as_str()),
        ("POST", "/scim/v2/Users")
    );
    assert_eq!(
        seen[0].content_type.as_deref(),
        Some("application/scim+json")
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&seen[0].body).ok(),
        Some(body)
    );
    assert_eq!(
        (seen[2].method.as_str(), seen[2].raw.as_str()),
        ("PUT", "/scim/v2/Users/new-1")
    );
}

#[tokio::test]
async fn retry_after_in_seconds_is_obeyed() {
    let (fake, client) = client(vec![
        scim_error(429, None, "slow down").header("retry-after", "1"),
        Canned::list(vec![]),
    ])
    .await;
    let started = Instant::now();
    assert_eq!(
        client.find_users("userName", "a@x.com").await.ok(),
        Some(vec![])
    );
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    let seen = fake.seen();
    assert!(seen[1].at.duration_since(seen[0].at) >= Duration::from_millis(950));
    let stats = client.stats().snapshot();
    assert_eq!((stats.throttled, stats.retries), (1, 1));
    assert_eq!(stats.count(Method::Get, Some(429)), 1);
    assert_eq!(stats.count(Method::Get, Some(200)), 1);
}

#[tokio::test]
async fn a_429_lowers_its_class_to_the_announced_limit() {
    let (fake, base) = Fake::start(vec![
        Canned::json(429, json!({"code": 429, "message": "slow down"}))
            .header("retry-after", "0")
            .header("x-ratelimit-category", "Medium")
            .header("x-ratelimit-limit", "12"),
        Canned::list(vec![]),
    ])
    .await;
    let mut config = config(&base);
    config.rate_limit_per_sec = Some(1000.0);
    config.rate_classes = vec![RateClass::new("medium", 1000.0, &[RequestKind::List])];
    let client = ScimClient::new(config).expect("client");
    assert_eq!(
        client.find_users("userName", "a@x.com").await.ok(),
        Some(vec![])
    );
    let rates: Vec<(String, f64, u64)> = client
        .rate_classes()
        .into_iter()
        .map(|c| (c.name, c.current, c.throttled))
        .collect();
    assert_eq!(
        rates,
        [
            ("medium".into(), 12.0, 1),
            (DEFAULT_CLASS.into(), 1000.0, 0)
        ]
    );
    assert_eq!(fake.seen().len(), 2);
}

/// Answers `throttled(at)` for a time `at` about three seconds ahead, then an empty list, and
/// checks the call did not return before `at`. `at` is chosen once the fake and the client are
/// up, so however slow setup is, it lies 2–3 s (whole seconds in the header) after the call
/// starts: a client that ignores the header returns at once and fails the bound.
async fn obeys_a_retry_after_time(throttled: impl FnOnce(SystemTime) -> Canned) {
    let (fake, client) = client(vec![]).await;
    let at = SystemTime::now() + Duration::from_secs(3);
    fake.push(throttled(at));
    fake.push(Canned::list(vec![]));
    // Whole seconds: what the header can say.
    let at =
        UNIX_EPOCH + Duration::from_secs(at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    let (started, wall) = (Instant::now(), SystemTime::now());
    assert_eq!(
        client.find_users("userName", "a@x.com").await.ok(),
        Some(vec![])
    );
    let elapsed = started.elapsed();
    // The client waits from the moment it reads the header, which is after `wall`; the slack
    // covers reading the wall and the monotonic clocks one after the other.
    let due = at.duration_since(wall).unwrap_or_default();
    assert!(
        elapsed + Duration::from_millis(20) >= due,
        "returned after {elapsed:?}, the header said {due:?}"
    );
    let stats = client.stats().snapshot();
    assert_eq!((stats.throttled, stats.retries), (1, 1));
}

#[tokio::test]
async fn retry_after_as_http_date_is_obeyed() {
    obeys_a_retry_after_time(|at| {
        Canned::text(429, "").header("retry-after", httpdate::fmt_http_date(at))
    })
    .await;
}

#[tokio::test]
async fn zoom_daily_limit_iso_timestamp_is_obeyed() {
    obeys_a_retry_after_time(|at| {
        Canned::json(429, json!({"code": 429, "message": "You have reached the maximum daily rate limit for this API."}))
            .header("retry-after", iso8601(at))
            .header("x-ratelimit-type", "Daily-limit")
    })
    .await;
}

#[tokio::test]
async fn throttling_without_retry_after_backs_off_and_succeeds() {
    let zoom = || {
        Canned::json(
            429,
            json!({"code": 429, "message": "You have reached the maximum per-second rate limit for this API. Try again later."}),
        )
    };
    let (fake, client) = client(vec![zoom(), zoom(), Canned::list(vec![])]).await;
    assert_eq!(
        client.find_users("userName", "a@x.com").await.ok(),
        Some(vec![])
    );
    assert_eq!(fake.seen().len(), 3);
    let stats = client.stats().snapshot();
    assert_eq!((stats.throttled, stats.retries), (2, 2));
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_fails_at_once_with_the_wait() {
    let (fake, client) = client(vec![Canned::text(429, "").header("retry-after", "3600")]).await;
    let err = client
        .find_users("userName", "a@x.com")
        .await
        .expect_err("throttled");
    assert_eq!(err.code(), ErrorCode::TooManyRequests);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let (fake, client) = client(vec![
        Canned::text(503, "<h1>busy</h1>"),
        scim_error(500, None, "oops"),
        Canned::json(200, jill()),
    ])
    .await;
    assert_eq!(client.get_user("k&KdKr6TL").await.ok(), Some(jill()));
    assert_eq!(fake.seen().len(), 3);
    assert_eq!(client.stats().snapshot().retries, 2);
}

#[tokio::test]
async fn attempts_are_bounded() {
    let (fake, client) = client(vec![]).await;
    fake.otherwise(Canned::text(502, "bad gateway"));
    let err = client.get_user("x").await.expect_err("keeps failing");
    assert_eq!(
        (err.status(), err.code()),
        (Some(502), ErrorCode::InternalServerError)
    );
    assert_eq!(fake.seen().len(), 4, "max_attempts");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (fake, client) = client(vec![scim_error(400, Some("invalidValue"), "bad email")]).await;
    let err = client
        .patch_user(
            "x",
            &[PatchOperation {
                op: PatchOp::Remove,
                path: Some("emails".into()),
                value: None,
            }],
        )
        .await;
    let err = err.expect_err("400");
    assert_eq!(
        (err.status(), err.scim_type()),
        (Some(400), Some(scim::ScimType::InvalidValue))
    );
    assert!(err.to_string().contains("bad email"), "{err}");
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn a_create_is_not_retried_after_it_may_have_arrived() {
    let body = json!({"userName": "a@x.com"});
    let (fake, client) = client(vec![Canned::text(503, "busy")]).await;
    let err = client.create_user(&body).await.expect_err("503");
    assert!(
        err.outcome_unknown(),
        "the engine must look the user up before creating again"
    );
    assert_eq!(fake.seen().len(), 1);

    // 429 refuses the request, so it is safe to send again; so is anything, if the caller says so.
    let created = json!({"id": "1", "userName": "a@x.com"});
    let script = vec![
        Canned::text(429, ""),
        Canned::json(201, created.clone()),
        Canned::text(503, "busy"),
        Canned::json(201, created.clone()),
    ];
    let (fake, client) = self::client(script).await;
    assert_eq!(client.create_user(&body).await.ok(), Some(created.clone()));
    assert_eq!(
        client
            .create(ResourceKind::User, &body, PostRetry::Always)
            .await
            .ok(),
        Some(created)
    );
    assert_eq!(fake.seen().len(), 4);
}

#[tokio::test]
async fn a_create_after_a_refused_connection_is_retried() {
    // Nothing listens on a port just released: every attempt is refused before sending.
    let port = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let client =
        ScimClient::new(config(&format!("http://127.0.0.1:{port}/scim/v2"))).expect("client");
    let err = client
        .create_user(&json!({"userName": "a@x.com"}))
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            ClientError::Transport {
                kind: TransportKind::ConnectionRefused,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.outcome_unknown());
    let stats = client.stats().snapshot();
    assert_eq!((stats.count(Method::Post, None), stats.retries), (4, 3));
}

#[tokio::test]
async fn zoom_errors_with_numeric_status_are_parsed() {
    let exists = Canned::json(
        409,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": 409, "scimType": "uniqueness", "detail": "User already exists"}),
    );
    let missing = Canned::json(
        404,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "detail": "User k&Kd not exist or not belong to this account.", "status": 404}),
    );
    let (_fake, client) = client(vec![exists, missing]).await;
    let err = client
        .create_user(&json!({"userName": "a@x.com"}))
        .await
        .expect_err("409");
    assert_eq!(
        (err.status(), err.scim_type(), err.code()),
        (
            Some(409),
            Some(scim::ScimType::Uniqueness),
            ErrorCode::EntryConflict
        )
    );
    assert!(err.to_string().contains("User already exists"), "{err}");
    let err = client.get_user("k&Kd").await.expect_err("404");
    assert_eq!(err.code(), ErrorCode::InvalidAnchor);
    assert!(err.to_string().contains("not exist or not belong"), "{err}");
}

#[tokio::test]
async fn timeouts_are_retried() {
    // The first answer comes far too late for the timeout; the retry, on a new connection, has
    // the whole timeout to get the second, and any third attempt would meet "script exhausted".
    let (_fake, base) = Fake::start(vec![
        Canned::list(vec![]).after(Duration::from_secs(30)),
        Canned::list(vec![]),
    ])
    .await;
    let mut config = config(&base);
    config.timeout = Duration::from_secs(2);
    let client = ScimClient::new(config).expect("client");
    assert_eq!(
        client.find_users("userName", "a@x.com").await.ok(),
        Some(vec![])
    );
    let stats = client.stats().snapshot();
    assert_eq!(
        (
            stats.count(Method::Get, None),
            stats.count(Method::Get, Some(200))
        ),
        (1, 1)
    );
}

#[tokio::test]
async fn rate_limit_is_honoured() {
    const RATE: f64 = 20.0;
    const REQUESTS: usize = 12;
    let (fake, base) = Fake::start(vec![]).await;
    fake.otherwise(Canned::list(vec![]));
    let mut config = config(&base);
    config.rate_limit_per_sec = Some(RATE);
    let client = ScimClient::new(config).expect("client");
    let started = Instant::now();
    let calls = (0..REQUESTS).map(|i| {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .find_users("userName", &format!("u{i}@x.com"))
                .await
                .map(|_| ())
        })
    });
    for call in calls.collect::<Vec<_>>() {
        call.await.expect("task").expect("call");
    }
    let mut at: Vec<Instant> = fake.seen().iter().map(|s| s.at).collect();
    assert_eq!(at.len(), REQUESTS);
    at.sort();
    // One token every 50 ms and a burst of one, all taken after `started`: the k-th request
    // (from 0) cannot leave before started + k × 50 ms, nor arrive before it leaves. Delays only
    // push arrivals later, so this holds on any machine, while a limiter that let even two
    // through at once fails it at k = 1. (An upper bound on arrivals per window cannot be
    // checked here: a stall on either side can deliver requests sent 50 ms apart together.)
    let period = Duration::from_secs_f64(1.0 / RATE);
    let slack = Duration::from_millis(20);
    for (k, t) in at.iter().enumerate() {
        let earliest = period * k as u32;
        assert!(
            t.duration_since(started) + slack >= earliest,
            "request {k} arrived {:?} after the start, before {earliest:?}",
            t.duration_since(started)
        );
    }
}

#[tokio::test]
async fn concurrency_is_bounded() {
    let (fake, base) = Fake::start(vec![]).await;
    fake.otherwise(Canned::list(vec![]).after(Duration::from_millis(40)));
    // No answer until three requests are in flight at once, so a client using its three slots
    // reaches three whatever the scheduling; the 40 ms delay after that gives a fourth, if the
    // bound leaked, time to arrive while three are held.
    fake.hold_until_in_flight(3, Duration::from_secs(10));
    let mut config = config(&base);
    config.concurrency = 3;
    // Longer than the hold, so the first requests held cannot time out and be sent again.
    config.timeout = Duration::from_secs(30);
    let client = ScimClient::new(config).expect("client");
    let calls: Vec<_> = (0..12)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .find_users("userName", &format!("u{i}@x.com"))
                    .await
                    .map(|_| ())
            })
        })
        .collect();
    for call in calls {
        call.await.expect("task").expect("call");
    }
    assert_eq!(fake.seen().len(), 12);
    assert_eq!(fake.max_in_flight(), 3, "max in flight");
}

mod test_connection {
    use super::*;

    async fn failure(canned: Canned) -> ConnectionFailure {
        let (_fake, client) = client(vec![canned]).await;
        client.test_connection().await.expect_err("should fail")
    }

    #[tokio::test]
    async fn an_empty_list_passes_and_the_query_is_entras() {
        let (fake, client) = client(vec![Canned::list(vec![])]).await;
        client.test_connection().await.expect("connection ok");
        let seen = fake.seen();
        let filter = decoded(
            seen[0]
                .raw
                .split_once("?filter=")
                .map(|(_, f)| f)
                .unwrap_or_default(),
        );
        assert!(
            filter.starts_with("userName eq \"") && filter.len() == "userName eq \"\"".len() + 36,
            "{filter}"
        );
    }

    #[tokio::test]
    async fn each_failure_says_what_to_fix() {
        let cases = [
            (
                scim_error(401, None, "Invalid access token"),
                Problem::Unauthorized,
                "bearer token",
            ),
            (
                scim_error(403, None, "No permission"),
                Problem::Forbidden,
                "scim2",
            ),
            (
                Canned::text(404, "<html>Not Found</html>"),
                Problem::NotFound,
                "/scim2",
            ),
            (
                Canned::text(200, "<html><body>Welcome</body></html>"),
                Problem::NotScim,
                "not with a SCIM ListResponse",
            ),
            (
                Canned::json(200, json!({"ok": true})),
                Problem::NotScim,
                "not with a SCIM ListResponse",
            ),
            (
                Canned::list(vec![jill()]),
                Problem::FilterIgnored,
                "ignores `filter`",
            ),
            (
                Canned::text(302, "").header("location", "https://login.example.com/"),
                Problem::Redirected,
                "login.example.com",
            ),
            (
                Canned::text(429, "").header("retry-after", "30"),
                Problem::Throttled,
                "retry in 30s",
            ),
            (Canned::text(503, "down"), Problem::ServerError, "503"),
            (
                scim_error(400, None, "Account has not enabled Single Sign-On"),
                Problem::Rejected,
                "Single Sign-On",
            ),
        ];
        for (canned, problem, says) in cases {
            let failure = failure(canned).await;
            assert_eq!(failure.problem, problem, "{failure}");
            assert!(failure.to_string().contains(says), "{problem:?}: {failure}");
            assert!(!failure.to_string().contains(TOKEN));
        }
    }

    #[tokio::test]
    async fn the_404_hint_points_at_the_other_convention() {
        let (_fake, base) = Fake::start(vec![Canned::text(404, "")]).await;
        let client = ScimClient::new(config(&base)).expect("client");
        let failure = client.test_connection().await.expect_err("404");
        assert!(
            failure
                .message
                .contains(&format!("{}/scim2", base.trim_end_matches("/scim/v2"))),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn refused_and_tls_failures() {
        let port = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let client =
            ScimClient::new(config(&format!("http://127.0.0.1:{port}/scim/v2"))).expect("client");
        let failure = client.test_connection().await.expect_err("refused");
        assert_eq!(failure.problem, Problem::ConnectionRefused, "{failure}");
        assert!(failure.message.contains("refused"), "{failure}");

        // https:// to a server speaking plain HTTP.
        let (_fake, base) = Fake::start(vec![]).await;
        let client = ScimClient::new(config(&base.replace("http://", "https://"))).expect("client");
        let failure = client.test_connection().await.expect_err("tls");
        assert_eq!(
            failure.problem,
            Problem::Tls,
            "{failure}: {:?}",
            failure.error
        );
        assert_eq!(
            client.stats().snapshot().retries,
            0,
            "test connection answers at once"
        );
    }

    #[tokio::test]
    async fn unresolvable_hosts() {
        let client = ScimClient::new(config("http://muster-test.invalid/scim/v2")).expect("client");
        let failure = client.test_connection().await.expect_err("dns");
        assert!(
            matches!(failure.problem, Problem::Dns | Problem::Timeout),
            "{failure}: {:?}",
            failure.error
        );
        assert!(failure.message.contains("muster-test.invalid"), "{failure}");
    }
}

#[test]
fn invalid_config_is_reported_whole() {
    let mut config = config("ftp://x");
    config.max_attempts = 0;
    match ScimClient::new(config) {
        Err(ClientError::InvalidConfig(problems)) => assert_eq!(problems.len(), 2, "{problems:?}"),
        other => panic!("{other:?}"),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, as Zoom writes its daily-limit `Retry-After`.
fn iso8601(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    time::OffsetDateTime::from_unix_timestamp(secs)
        .expect("a time within the years 1970 to 9999")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

#[test]
fn iso8601_helper_round_trips() {
    let at = UNIX_EPOCH + Duration::from_secs(1_590_883_200);
    assert_eq!(iso8601(at), "2020-05-31T00:00:00Z");
    assert_eq!(
        retry::parse_retry_after(&iso8601(at), at - Duration::from_secs(5)),
        Some(Duration::from_secs(5))
    );
}
