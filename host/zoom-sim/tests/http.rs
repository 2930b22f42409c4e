//! The simulator over real HTTP on 127.0.0.1, as the engine and the CLI meet it.

use std::time::Duration;

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use zoom_sim::{Category, Fault, SimConfig, SimState};

const TOKEN: &str = "test-token";
const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ZOOM: &str = "urn:ietf:params:scim:schemas:extension:zoom:1.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A running simulator; stops when dropped.
struct Sim {
    state: SimState,
    base: String,
    client: Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Sim {
    async fn start() -> Sim {
        Self::start_with(SimConfig::new(TOKEN)).await
    }

    async fn start_with(config: SimConfig) -> Sim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!(
            "http://{}{}",
            listener.local_addr().expect("addr"),
            config.base_path
        );
        let state = SimState::new(&config);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(zoom_sim::serve_state(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        Sim {
            state,
            base,
            client: Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Sends `body` (if any) with the right token and content type.
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.send_as(TOKEN, method, path, body).await
    }

    async fn send_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("accept", "application/scim+json");
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        request.send().await.expect("request")
    }

    async fn create_user(&self, user_name: &str) -> Value {
        let response = self
            .send(Method::POST, "/Users", Some(new_user(user_name)))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("json")
    }

    async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn new_user(user_name: &str) -> Value {
    json!({
        "schemas": [CORE, ENTERPRISE, ZOOM],
        "userName": user_name,
        "externalId": format!("ext-{user_name}"),
        "name": {"givenName": "Jill", "familyName": "Chill"},
        "displayName": "Jill Chill",
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true,
        "userType": "Licensed",
        ENTERPRISE: {"department": "Engineering", "organization": "Acme", "costCenter": "42",
                     "manager": {"value": "boss"}},
        ZOOM: {"zoomOneBizPlus": "true", "zoomWhiteboard": true, "zoomPhoneSite": "HQ",
               "zoomPhoneCallingPlan": "3000"},
    })
}

/// Ids may contain `&`: always encode them in a path.
fn user_path(id: &str) -> String {
    format!("/Users/{}", id.replace('&', "%26"))
}

fn id_of(resource: &Value) -> String {
    resource["id"].as_str().expect("id").to_string()
}

fn patch(ops: Value) -> Option<Value> {
    Some(json!({"schemas": [PATCH_OP], "Operations": ops}))
}

async fn body(response: Response) -> Value {
    response.json().await.expect("json body")
}

#[tokio::test]
async fn user_lifecycle_create_get_filter_patch_disable_delete() {
    let sim = Sim::start().await;

    let response = sim
        .send(Method::POST, "/Users", Some(new_user("jill@example.com")))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["content-type"], "application/scim+json");
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    let etag = response.headers()["etag"]
        .to_str()
        .expect("ascii")
        .to_string();
    let created = body(response).await;
    let id = id_of(&created);
    assert_eq!(id.len(), 22);
    assert_eq!(location, format!("{}/Users/{id}", sim.base));
    assert_eq!(created["meta"]["location"], location);
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created["meta"]["version"], etag);
    assert_eq!(created["schemas"], json!([CORE, ENTERPRISE, ZOOM]));
    assert_eq!(created[ZOOM]["zoomOneBizPlus"], "true");
    assert!(
        created[ZOOM].get("zoomPhoneCallingPlan").is_none(),
        "create-only, never returned"
    );

    let fetched = body(sim.send(Method::GET, &user_path(&id), None).await).await;
    assert_eq!(fetched, created);

    for filter in [
        "userName eq \"JILL@example.com\"",
        "externalId eq \"ext-jill@example.com\"",
    ] {
        let url = format!(
            "/Users?filter={}",
            filter.replace(' ', "%20").replace('"', "%22")
        );
        let list = body(sim.send(Method::GET, &url, None).await).await;
        assert_eq!(list["totalResults"], 1, "{filter}");
        assert_eq!(list["Resources"][0]["id"], id.as_str());
    }
    let none = body(
        sim.send(
            Method::GET,
            "/Users?filter=userName%20eq%20%22nobody@x.com%22",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        (none["totalResults"].clone(), none["Resources"].clone()),
        (json!(0), json!([]))
    );

    // RFC dialect: path-based replace and a value-filtered path.
    let rfc = patch(json!([
        {"op": "replace", "path": "displayName", "value": "Jill Q. Chill"},
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "jill.chill@example.com"},
    ]));
    let response = sim.send(Method::PATCH, &user_path(&id), rfc).await;
    assert_eq!(response.status(), StatusCode::OK);
    let patched = body(response).await;
    assert_eq!(patched["displayName"], "Jill Q. Chill");
    assert_eq!(patched["emails"][0]["value"], "jill.chill@example.com");
    assert_eq!(patched["meta"]["version"], "W/\"2\"");

    // Entra's default dialect: capitalised op, path-less replace with a dotted key.
    let entra = patch(json!([
        {"op": "Replace", "value": {"name.givenName": "Jillian", "title": "Engineer"}},
        {"op": "Add", "path": "userType", "value": "Basic"},
    ]));
    let patched = body(sim.send(Method::PATCH, &user_path(&id), entra).await).await;
    assert_eq!(patched["name"]["givenName"], "Jillian");
    assert_eq!(patched["title"], "Engineer");
    assert_eq!(patched["userType"], "Basic");

    // Disable, as Entra sends it: `"False"` as a string.
    let disable = patch(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    let response = sim.send(Method::PATCH, &user_path(&id), disable).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["active"], false);
    assert_eq!(
        sim.state.user_by_name("jill@example.com").expect("stored")["active"],
        false
    );

    // Public scripts' form: path-less value object.
    let enable = patch(json!([{"op": "replace", "value": {"active": true}}]));
    assert_eq!(
        body(sim.send(Method::PATCH, &user_path(&id), enable).await).await["active"],
        true
    );

    let response = sim.send(Method::DELETE, &user_path(&id), None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = sim.send(Method::GET, &user_path(&id), None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(sim.state.users().is_empty());

    let counters = sim.state.counters();
    assert_eq!(counters.writes, 6, "{counters:?}");
    assert_eq!(counters.by_method.get("PATCH"), Some(&4));
    sim.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn duplicate_user_name_is_409_with_numeric_status() {
    let sim = Sim::start().await;
    sim.create_user("dup@example.com").await;
    let response = sim
        .send(Method::POST, "/Users", Some(new_user("DUP@example.com")))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let error = body(response).await;
    assert_eq!(
        error["status"],
        json!(409),
        "Zoom sends a number, not \"409\""
    );
    assert_eq!(error["schemas"], json!([ERROR]));
    assert!(
        error["detail"]
            .as_str()
            .is_some_and(|d| d.contains("DUP@example.com"))
    );
    assert_eq!(sim.state.users().len(), 1);

    // Renaming onto a taken userName is a conflict too.
    let other = sim.create_user("other@example.com").await;
    let rename = patch(json!([{"op": "replace", "path": "userName", "value": "dup@EXAMPLE.com"}]));
    let response = sim
        .send(Method::PATCH, &user_path(&id_of(&other)), rename)
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn unknown_id_is_404_everywhere() {
    let sim = Sim::start().await;
    let path = user_path("k&NoSuchUserAtAllXXXXX");
    let disable = patch(json!([{"op": "replace", "path": "active", "value": false}]));
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(new_user("a@example.com"))),
        (Method::PATCH, disable),
        (Method::DELETE, None),
    ] {
        let response = sim.send(method.clone(), &path, body).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method}");
        assert_eq!(self::body(response).await["status"], json!(404));
    }
}

#[tokio::test]
async fn ids_with_ampersand_are_reachable_when_encoded() {
    let sim = Sim::start().await;
    let first = sim.create_user("amp@example.com").await;
    let id = id_of(&first);
    assert!(id.contains('&'), "the first id carries an `&`: {id}");
    let response = sim.send(Method::GET, &user_path(&id), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["id"], id.as_str());
    let logged = sim
        .state
        .request_log()
        .last()
        .map(|r| r.path.clone())
        .unwrap_or_default();
    assert!(logged.contains("%26"), "{logged}");
    // An id cut at the `&` (a client that did not encode it into a query) does not exist.
    let cut = id.split('&').next().unwrap_or_default().to_string();
    let response = sim.send(Method::GET, &format!("/Users/{cut}"), None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn wrong_or_missing_token_is_401() {
    let sim = Sim::start().await;
    let response = sim.send_as("wrong", Method::GET, "/Users", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        body(response).await,
        json!({"code": 124, "message": "Invalid access token."})
    );
    let response = sim
        .client
        .get(format!("{}/Users", sim.base))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = sim
        .send_as(
            "wrong",
            Method::POST,
            "/Users",
            Some(new_user("x@example.com")),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(sim.state.users().is_empty());
    assert_eq!(sim.state.counters().unauthorized, 3);
}

#[tokio::test]
async fn over_the_rate_limit_is_429_with_zoom_body_and_retry_after() {
    const BURST: usize = 10;
    let config = SimConfig {
        // 1/s, the old docs' limit: one token, refilled a second after it is taken.
        rate_limit_per_sec: Some(1),
        ..SimConfig::new(TOKEN)
    };
    let sim = Sim::start_with(config).await;
    // The bucket starts full, so the first request passes. A burst sent at once behind it
    // could all pass only if the server spread their token checks a second apart each, ten
    // seconds in all: however loaded the machine, some meet an empty bucket.
    let first = sim.send(Method::GET, "/Users", None).await;
    assert_eq!(first.status(), StatusCode::OK);
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..BURST {
        let request = sim
            .client
            .get(format!("{}/Users", sim.base))
            .bearer_auth(TOKEN)
            .header("accept", "application/scim+json");
        burst.spawn(async move { request.send().await.expect("request") });
    }
    let mut statuses = vec![first.status().as_u16()];
    let mut throttled = None;
    let mut passed = vec![first];
    while let Some(response) = burst.join_next().await {
        let response = response.expect("task");
        statuses.push(response.status().as_u16());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(response);
        } else {
            passed.push(response);
        }
    }
    for response in &passed {
        assert_eq!(response.status(), StatusCode::OK, "{statuses:?}");
        assert_eq!(response.headers()["x-ratelimit-limit"], "1");
        assert_eq!(response.headers()["x-ratelimit-category"], "Medium");
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let response = throttled.expect("a 429");
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("secs");
    assert_eq!(retry_after, 1);
    assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(response.headers()["x-ratelimit-type"], "QPS");
    assert_eq!(
        body(response).await,
        json!({"code": 429, "message": "You have reached the maximum per-second rate limit for this API. Try again later."})
    );
    assert!(sim.state.counters().throttled >= 1);

    // After the wait, counted from the last answer and so from the last token check, requests
    // pass again; lifting the limit removes the headers.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(
        sim.send(Method::GET, "/Users", None).await.status(),
        StatusCode::OK
    );
    sim.state.set_rate_limit(None);
    for _ in 0..5 {
        let response = sim.send(Method::GET, "/Users", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("x-ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn categories_are_limited_separately() {
    const BURST: usize = 10;
    let config = SimConfig {
        // Medium at 1/s: a burst of lists meets an empty bucket (as in the test above). Light at
        // 1000/s: its full bucket holds far more than the burst of reads sent meanwhile.
        category_limits: [(Category::Light, 1000), (Category::Medium, 1)].into(),
        ..SimConfig::new(TOKEN)
    };
    let sim = Sim::start_with(config).await;
    let burst = |path: &'static str| {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..BURST {
            let request = sim
                .client
                .get(format!("{}{path}", sim.base))
                .bearer_auth(TOKEN)
                .header("accept", "application/scim+json");
            set.spawn(async move { request.send().await.expect("request") });
        }
        set
    };
    let (mut lists, mut reads) = (burst("/Users"), burst("/Users/nobody"));
    let mut throttled = None;
    while let Some(response) = lists.join_next().await {
        let response = response.expect("task");
        assert_eq!(response.headers()["x-ratelimit-category"], "Medium");
        assert_eq!(response.headers()["x-ratelimit-limit"], "1");
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(response);
        }
    }
    while let Some(response) = reads.join_next().await {
        let response = response.expect("task");
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "Light is not held back"
        );
        assert_eq!(response.headers()["x-ratelimit-category"], "Light");
        assert_eq!(response.headers()["x-ratelimit-limit"], "1000");
    }
    let response = throttled.expect("a Medium request over the limit");
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        body(response).await,
        json!({"code": 429, "message": "You have reached the maximum per-second rate limit for this API. Try again later."})
    );
    let counters = sim.state.counters();
    let medium = counters.by_category[&Category::Medium];
    let light = counters.by_category[&Category::Light];
    assert_eq!(
        (medium.requests, light.requests),
        (BURST as u64, BURST as u64)
    );
    assert!(medium.throttled >= 1);
    assert_eq!(light.throttled, 0);

    // As Zoom has been seen to: 429s without Retry-After or X-RateLimit-*.
    sim.state.set_announce_limits(false);
    let mut lists = burst("/Users");
    let mut statuses = Vec::new();
    while let Some(response) = lists.join_next().await {
        let response = response.expect("task");
        statuses.push(response.status().as_u16());
        assert!(response.headers().get("retry-after").is_none());
        assert!(response.headers().get("x-ratelimit-limit").is_none());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn list_omits_licence_extension_that_get_by_id_includes() {
    let sim = Sim::start().await;
    let id = id_of(&sim.create_user("lic@example.com").await);
    let list = body(sim.send(Method::GET, "/Users", None).await).await;
    assert_eq!(
        list["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    let listed = &list["Resources"][0];
    assert!(listed.get(ZOOM).is_none(), "{listed}");
    assert_eq!(listed[ENTERPRISE], json!({"department": "Engineering"}));
    assert_eq!(listed["schemas"], json!([CORE, ENTERPRISE]));
    assert_eq!(listed["userType"], "Licensed");

    let full = body(sim.send(Method::GET, &user_path(&id), None).await).await;
    assert_eq!(
        full[ZOOM],
        json!({"zoomOneBizPlus": "true", "zoomWhiteboard": true, "zoomPhoneSite": "HQ"})
    );
    assert_eq!(full[ENTERPRISE]["organization"], "Acme");
    assert_eq!(full[ENTERPRISE]["manager"], json!({"value": "boss"}));
}

#[tokio::test]
async fn list_pages_with_start_index_and_count() {
    let sim = Sim::start().await;
    for i in 0..5 {
        sim.create_user(&format!("u{i}@example.com")).await;
    }
    let page = body(
        sim.send(Method::GET, "/Users?startIndex=2&count=2", None)
            .await,
    )
    .await;
    assert_eq!(
        (page["totalResults"].clone(), page["startIndex"].clone()),
        (json!(5), json!(2))
    );
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["Resources"][0]["userName"], "u1@example.com");
    let empty = body(sim.send(Method::GET, "/Users?count=0", None).await).await;
    assert_eq!(
        (empty["totalResults"].clone(), empty["Resources"].clone()),
        (json!(5), json!([]))
    );
    let response = sim
        .send(Method::GET, "/Users?filter=userName%20zz%20%22x%22", None)
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(response).await["status"], json!(400));
}

#[tokio::test]
async fn injected_faults_fire_exactly_count_times() {
    let sim = Sim::start().await;
    sim.state.inject_failures(
        Fault::Status {
            status: 503,
            retry_after: Some(7),
        },
        2,
    );
    sim.state.inject_failures(Fault::throttled(3), 1);
    assert_eq!(sim.state.pending_faults(), 3);

    for _ in 0..2 {
        let response = sim
            .send(Method::POST, "/Users", Some(new_user("f@example.com")))
            .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "7");
        assert_eq!(body(response).await["status"], json!(503));
    }
    let response = sim.send(Method::GET, "/Users", None).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "3");
    assert_eq!(body(response).await["code"], 429);

    assert!(
        sim.state.users().is_empty(),
        "a failed request has no side effect"
    );
    assert_eq!(sim.state.pending_faults(), 0);
    let response = sim
        .send(Method::POST, "/Users", Some(new_user("f@example.com")))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // A bad token does not consume a fault.
    sim.state.inject_failures(Fault::status(500), 1);
    let response = sim.send_as("wrong", Method::GET, "/Users", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sim.state.pending_faults(), 1);
    let counters = sim.state.counters();
    assert_eq!((counters.writes, counters.throttled), (1, 1));

    // A delay stalls the request, then serves it.
    sim.state.clear_faults();
    sim.state
        .inject_failures(Fault::Delay(Duration::from_millis(300)), 1);
    let started = std::time::Instant::now();
    let response = sim.send(Method::GET, "/Users", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn a_held_answer_lands_the_write_and_withholds_the_response() {
    let sim = Sim::start().await;
    // The second successful create is held; a failed one and a GET do not count.
    let mut held = sim.state.hold_answer(axum::http::Method::POST, "Users", 1);
    sim.create_user("first@example.com").await;
    let duplicate = sim
        .send(Method::POST, "/Users", Some(new_user("first@example.com")))
        .await;
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);
    let pending = {
        let client = sim.client.clone();
        let url = format!("{}/Users", sim.base);
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(TOKEN)
                .header("content-type", "application/scim+json")
                .body(new_user("second@example.com").to_string())
                .send()
                .await
                .map(|r| r.status())
        })
    };
    // Landed: the user is stored, and the client still waits for its answer.
    let mut polls = 0;
    while !held.has_landed() {
        polls += 1;
        assert!(polls < 3000, "the held create never landed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(sim.state.user_by_name("second@example.com").is_some());
    assert!(!pending.is_finished(), "the answer went out before release");
    held.release();
    let status = pending.await.expect("task").expect("response");
    assert_eq!(status, StatusCode::CREATED);
    // Spent: the next create is answered at once.
    sim.create_user("third@example.com").await;
}

#[tokio::test]
async fn serve_refuses_an_invalid_config() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let config = SimConfig {
        base_path: "scim2/".into(),
        ..SimConfig::new("")
    };
    let error = zoom_sim::serve(listener, config, std::future::pending())
        .await
        .expect_err("invalid");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        error.to_string().contains("token") && error.to_string().contains("base path"),
        "{error}"
    );
}

#[tokio::test]
async fn base_path_is_configurable_and_unknown_paths_are_scim_404s() {
    let config = SimConfig {
        base_path: String::new(),
        ..SimConfig::new(TOKEN)
    };
    let sim = Sim::start_with(config).await;
    sim.create_user("root@example.com").await;
    let response = sim.send(Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(body(response).await["status"], json!(404));
    let sim = Sim::start().await;
    let response = sim
        .client
        .get(sim.base.replace("/scim2", "/v2/scim2/Users"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_user_type_and_bad_fields_are_400() {
    let sim = Sim::start().await;
    for user_type in ["None", "Collaboration", "Enterprise"] {
        let mut user = new_user("t@example.com");
        user["userType"] = json!(user_type);
        let response = sim.send(Method::POST, "/Users", Some(user)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{user_type}");
        let error = body(response).await;
        assert_eq!(error["status"], json!(400));
        assert!(
            error["detail"]
                .as_str()
                .is_some_and(|d| d.contains("AttributeValidationFailed"))
        );
    }
    let mut bad_email = new_user("t@example.com");
    bad_email["emails"] = json!([{"value": "not an email", "type": "work"}]);
    let mut no_user_name = new_user("t@example.com");
    no_user_name.as_object_mut().map(|u| u.remove("userName"));
    let mut bad_addon = new_user("t@example.com");
    bad_addon[ZOOM]["zoomWhiteboard"] = json!("yes");
    for user in [bad_email, no_user_name, bad_addon] {
        let response = sim.send(Method::POST, "/Users", Some(user.clone())).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{user}");
    }
    let response = sim
        .client
        .post(format!("{}/Users", sim.base))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // A PATCH may not make a valid user invalid, nor change its id; both leave it untouched.
    let id = id_of(&sim.create_user("t@example.com").await);
    let none = patch(json!([{"op": "replace", "path": "userType", "value": "None"}]));
    assert_eq!(
        sim.send(Method::PATCH, &user_path(&id), none)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let new_id = patch(json!([{"op": "replace", "path": "id", "value": "other"}]));
    assert_eq!(
        sim.send(Method::PATCH, &user_path(&id), new_id)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let stored = sim.state.user(&id).expect("still there");
    assert_eq!(
        (
            stored["userType"].clone(),
            stored["meta"]["version"].clone()
        ),
        (json!("Licensed"), json!("W/\"1\""))
    );
}

#[tokio::test]
async fn put_updates_only_what_it_is_sent() {
    let sim = Sim::start().await;
    let id = id_of(&sim.create_user("put@example.com").await);
    let update = json!({"schemas": [CORE, ZOOM], "displayName": "Put Person", ZOOM: {"zoomIQ": true, "zoomPhoneSite": null}});
    let response = sim.send(Method::PUT, &user_path(&id), Some(update)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let user = body(response).await;
    assert_eq!(user["displayName"], "Put Person");
    assert_eq!(user["userName"], "put@example.com", "kept");
    assert_eq!(
        user[ZOOM],
        json!({"zoomOneBizPlus": "true", "zoomWhiteboard": true, "zoomIQ": true})
    );
    let other_id = json!({"id": "someone-else", "userName": "put@example.com"});
    assert_eq!(
        sim.send(Method::PUT, &user_path(&id), Some(other_id))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn groups_create_patch_members_and_delete() {
    let sim = Sim::start().await;
    let a = id_of(&sim.create_user("a@example.com").await);
    let b = id_of(&sim.create_user("b@example.com").await);

    let response = sim
        .send(
            Method::POST,
            "/Groups",
            Some(json!({"displayName": "Eng", "members": [{"value": a}]})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let group = body(response).await;
    let gid = id_of(&group);
    assert_eq!(
        group["members"],
        json!([{"value": a, "display": "Jill Chill"}])
    );
    let group_path = format!("/Groups/{}", gid.replace('&', "%26"));

    let dup = sim
        .send(Method::POST, "/Groups", Some(json!({"displayName": "ENG"})))
        .await;
    assert_eq!(dup.status(), StatusCode::CONFLICT);

    let add = patch(json!([{"op": "Add", "path": "members", "value": [{"value": b}]}]));
    assert_eq!(
        sim.send(Method::PATCH, &group_path, add).await.status(),
        StatusCode::NO_CONTENT
    );
    let user_a = body(sim.send(Method::GET, &user_path(&a), None).await).await;
    assert_eq!(user_a["groups"][0]["value"], gid.as_str());

    // Entra's dialect: remove with a value list.
    let remove = patch(
        json!([{"op": "Remove", "path": "members", "value": [{"value": a}]},
                              {"op": "Replace", "path": "displayName", "value": "Engineering"}]),
    );
    assert_eq!(
        sim.send(Method::PATCH, &group_path, remove).await.status(),
        StatusCode::NO_CONTENT
    );
    let group = body(sim.send(Method::GET, &group_path, None).await).await;
    assert_eq!(group["displayName"], "Engineering");
    assert_eq!(
        group["members"],
        json!([{"value": b, "display": "Jill Chill"}])
    );

    let ghost =
        patch(json!([{"op": "add", "path": "members", "value": [{"value": "no-such-user"}]}]));
    assert_eq!(
        sim.send(Method::PATCH, &group_path, ghost).await.status(),
        StatusCode::BAD_REQUEST
    );

    let members: Vec<Value> = (0..5000)
        .map(|i| json!({"value": format!("member-{i:06}")}))
        .collect();
    let huge = patch(json!([{"op": "add", "path": "members", "value": members}]));
    let response = sim.send(Method::PATCH, &group_path, huge).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let list = body(
        sim.send(
            Method::GET,
            "/Groups?filter=displayName%20eq%20%22engineering%22",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(list["totalResults"], 1);

    // Deleting a user takes it out of its groups.
    assert_eq!(
        sim.send(Method::DELETE, &user_path(&b), None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let group = body(sim.send(Method::GET, &group_path, None).await).await;
    assert_eq!(group["members"], json!([]));

    assert_eq!(
        sim.send(Method::DELETE, &group_path, None).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        sim.send(Method::GET, &group_path, None).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn state_survives_save_and_load() {
    let sim = Sim::start().await;
    let created = sim.create_user("keep@example.com").await;
    let dir = std::env::temp_dir().join(format!("zoom-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("state.json");
    sim.state.save(&file).expect("save");
    let restored = SimState::load(&SimConfig::new(TOKEN), &file).expect("load");
    assert_eq!(restored.user(&id_of(&created)), Some(created));
    let _ = std::fs::remove_dir_all(dir);
}
