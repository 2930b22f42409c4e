//! Gateway mode end to end, on real HTTP over 127.0.0.1: Entra's documented request sequences
//! (Microsoft Learn, "Tutorial: Develop and plan provisioning for a SCIM endpoint", and "Known
//! issues and resolutions with SCIM 2.0 protocol compliance") in both PATCH dialects → muster's
//! SCIM gateway → the pipeline with the example plugins as real components → the Zoom
//! simulator; plus the outbox across a target outage, the documented errors, and the
//! scim2-tester conformance run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use muster::commands::serve;
use muster::gateway::{self, GatewayState};
use muster::http::AppState;
use muster::job::Job;
use muster_tests::harness::config_from;
use muster_tests::{Sim, wait_until};
use reqwest::{Method, StatusCode};
use scim_client::{BearerToken, ClientConfig, ScimClient};
use serde_json::{Value, json};
use store::LogQuery;
use tokio::sync::oneshot;
use zoom_sim::{SimConfig, SimState};

const TOKEN: &str = "gateway-secret";
const ADMIN: &str = "admin-secret";
const SCIM_JSON: &str = "application/scim+json";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The example gateway job's shape, with the target, a small body limit and fast retries.
const CONFIG: &str = r#"
state_path = "muster.db"

[source]
kind = "gateway"

[gateway]
token_env = "MUSTER_SCIM_TOKEN"
max_body_bytes = 4096
retry_min_ms = 50
retry_max_ms = 300

[target]
base_url = "${MUSTER_TARGET_URL}"
token_env = "MUSTER_TARGET_TOKEN"
rate_limit_per_second = 1000
concurrency = 4
profile = "zoom"

[[mappings]]
source = "userName"
target = "userName"
matching_precedence = 1

[[mappings]]
source = 'emails[type eq "work"].value'
target = 'emails[type eq "work"].value'

[[mappings]]
source = "name.givenName"
target = "name.givenName"

[[mappings]]
source = "name.familyName"
target = "name.familyName"

[[mappings]]
source = "displayName"
target = "displayName"

[[mappings]]
source = "title"
target = "title"

[[mappings]]
source = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
target = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"

[[transforms]]
name = "normalize-attributes"
path = "builtin:normalize-attributes"

[license]
name = "license-by-group"
path = "builtin:license-by-group"
config = { default_plan = "basic", rules = [
    { group = "Zoom-Licensed", plan = "licensed" },
    { group = "Zoom-Phone", add_on = "phone" },
] }

[deprovisioning]
on_source_disable = "disable"
on_out_of_scope = "disable"
on_source_delete = "delete"
"#;

/// One test's gateway: a job over `target_url`, served on 127.0.0.1:0 with its outbox worker.
struct Gateway {
    _dir: tempfile::TempDir,
    state: GatewayState,
    base: String,
    /// `http://127.0.0.1:port`: the admin API and `/metrics` when served by `muster serve`.
    root: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl Gateway {
    async fn start(target_url: &str, target_token: &str) -> Gateway {
        Gateway::start_with(CONFIG, &[], target_url, target_token).await
    }

    async fn start_with(
        config: &str,
        vars: &[(&str, &str)],
        target_url: &str,
        target_token: &str,
    ) -> Gateway {
        Gateway::start_served(config, vars, target_url, target_token, false).await
    }

    /// As `muster serve` runs a gateway job: SCIM, the admin API (token [`ADMIN`]), health and
    /// metrics on one listener, through `commands::serve::run`.
    async fn start_service(target_url: &str, target_token: &str) -> Gateway {
        Gateway::start_served(CONFIG, &[], target_url, target_token, true).await
    }

    async fn start_served(
        config: &str,
        vars: &[(&str, &str)],
        target_url: &str,
        target_token: &str,
        service: bool,
    ) -> Gateway {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut vars = vars.to_vec();
        vars.push(("MUSTER_TARGET_URL", target_url));
        let config = config_from(config, &vars);
        let mut job = Job::build_with_token(config, dir.path(), target_token.to_string())
            .unwrap_or_else(|e| panic!("building the job: {e:#}"));
        // Fast client retries: a target outage shows as failed attempts within milliseconds.
        let mut client = ClientConfig::new(target_url, BearerToken::new(target_token));
        client.rate_limit_per_sec = None;
        client.min_backoff = Duration::from_millis(10);
        client.max_backoff = Duration::from_millis(50);
        client.max_attempts = 2;
        client.timeout = Duration::from_secs(5);
        job.client = ScimClient::new(client).expect("client");
        let state = GatewayState::new(Arc::new(job), TOKEN).expect("gateway state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        if service {
            let app = AppState::new(state.job().clone(), Some(ADMIN.into()))
                .expect("app state")
                .with_gateway(state.clone());
            tokio::spawn(serve::run(listener, app, stopped));
        } else {
            tokio::spawn(gateway::serve(listener, state.clone(), stopped));
        }
        Gateway {
            _dir: dir,
            state,
            base: format!("http://{addr}/scim/v2"),
            root: format!("http://{addr}"),
            http: reqwest::Client::new(),
            stop: Some(stop),
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request
                .header("content-type", SCIM_JSON)
                .body(body.to_string());
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = response.text().await.expect("body");
        assert_eq!(content_type, SCIM_JSON, "{path}: {status} {text}");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
        };
        (status, json)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, ops: Value) -> (StatusCode, Value) {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                          "Operations": ops});
        let (status, json) = self.send(Method::PATCH, path, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "PATCH {path}: {json}");
        (status, json)
    }

    /// Entra's create: the look-up by userName (nothing), then the POST; returns the id.
    async fn create_user(&self, user_name: &str, given: &str, family: &str) -> String {
        let filter = format!("/Users?filter=userName%20eq%20%22{user_name}%22");
        let (status, found) = self.get(&filter).await;
        assert_eq!(
            (status, found["totalResults"].clone()),
            (StatusCode::OK, json!(0))
        );
        let (status, created) = self
            .post(
                "/Users",
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                    "externalId": format!("ext-{user_name}"),
                    "userName": user_name, "active": true,
                    "emails": [{"primary": true, "type": "work", "value": user_name}],
                    "meta": {"resourceType": "User"},
                    "name": {"formatted": format!("{given} {family}"), "familyName": family,
                             "givenName": given},
                    "roles": [],
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["id"].as_str().expect("id").to_string()
    }

    /// Waits until every accepted change has been forwarded (or given up on).
    async fn drained(&self) {
        let store = &self.state.job().store;
        let done = wait_until(Duration::from_secs(30), || {
            store.outbox_len().map(|n| n == 0).unwrap_or(false)
        })
        .await;
        assert!(done, "the outbox did not drain: {:?}", store.outbox_len());
    }

    /// `POST` to the admin API (a gateway started as a service): the status.
    async fn admin_post(&self, path: &str) -> StatusCode {
        self.http
            .post(format!("{}{path}", self.root))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("an admin request")
            .status()
    }

    /// `/metrics` as Prometheus text (a gateway started as a service).
    async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.root))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body")
    }

    fn license(&self, person_id: &str) -> Option<(String, Vec<String>)> {
        let record = self.state.job().store.record(person_id).expect("record");
        record.and_then(|r| r.license).map(|l| (l.plan, l.add_ons))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn plan(name: &str) -> Option<(String, Vec<String>)> {
    Some((name.to_string(), vec![]))
}

#[tokio::test(flavor = "multi_thread")]
async fn entra_user_lifecycle_in_the_default_dialect() {
    let sim = Sim::start().await;
    let gw = Gateway::start(&sim.url, &sim.token).await;

    // Test Connection: a random GUID finds nothing, as a 200 ListResponse.
    let (status, list) = gw
        .get("/Users?filter=userName%20eq%20%2275b0a2e8-4f1c-4a27-8f0e-6d1f2b7d9c11%22")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["totalResults"], 0);
    assert_eq!(list["startIndex"], 1);

    let id = gw.create_user("ann@contoso.example", "Ann", "Lee").await;
    gw.drained().await;
    let zoom = sim.user("ann@contoso.example");
    assert_eq!(zoom["name"]["familyName"], "Lee");
    assert_eq!(zoom["userType"], "Basic", "{zoom}");
    assert_eq!(gw.license(&id), plan("basic"));

    // Match + update: the look-up finds exactly one, then one Replace per changed attribute.
    let (_, found) = gw
        .get("/Users?filter=userName%20eq%20%22ANN@contoso.example%22")
        .await;
    assert_eq!(found["totalResults"], 1, "userName is case-insensitive");
    assert_eq!(found["Resources"][0]["id"], id.as_str());
    let (_, patched) = gw
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ann.lee@contoso.example"},
                {"op": "Replace", "path": "name.familyName", "value": "Lee-Smith"},
                {"op": "Add", "path": format!("{ENTERPRISE}:department"), "value": "Sales"},
            ]),
        )
        .await;
    assert_eq!(patched["name"]["familyName"], "Lee-Smith");
    assert_eq!(patched["meta"]["version"], "W/\"2\"");
    gw.drained().await;
    let zoom = sim.user("ann@contoso.example");
    assert_eq!(
        zoom["emails"][0]["value"], "ann.lee@contoso.example",
        "{zoom}"
    );
    assert_eq!(zoom["name"]["familyName"], "Lee-Smith");

    // Disable, default dialect: the string "False". The user stays readable (soft delete).
    let (_, disabled) = gw
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(disabled["active"], false);
    let (status, still) = gw.get(&format!("/Users/{id}")).await;
    assert_eq!(
        (status, still["active"].clone()),
        (StatusCode::OK, json!(false))
    );
    gw.drained().await;
    assert_eq!(sim.user("ann@contoso.example")["active"], false);

    // Enabled again ("True"), then the hard delete.
    gw.patch(
        &format!("/Users/{id}"),
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    )
    .await;
    gw.drained().await;
    assert_eq!(sim.user("ann@contoso.example")["active"], true);
    let (status, _) = gw.send(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, error) = gw.get(&format!("/Users/{id}")).await;
    assert_eq!(
        (status, error["status"].clone()),
        (StatusCode::NOT_FOUND, json!("404"))
    );
    gw.drained().await;
    assert!(!sim.has_user("ann@contoso.example"));

    // Every step is in the provisioning log, shaped as sync mode's.
    let logs = gw
        .state
        .job()
        .store
        .logs(&LogQuery {
            person: Some(id.clone()),
            limit: 100,
            ..LogQuery::default()
        })
        .expect("logs");
    let actions: Vec<String> = logs
        .iter()
        .rev()
        .map(|l| format!("{}/{}", l.action, l.status))
        .collect();
    assert_eq!(
        actions,
        [
            "create/success",
            "update/success",
            "disable/success",
            "update/success",
            "delete/success"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn entra_user_changes_in_the_aad_opt_dialect() {
    let sim = Sim::start().await;
    let gw = Gateway::start(&sim.url, &sim.token).await;
    let id = gw.create_user("bo@contoso.example", "Bo", "Berg").await;

    // aadOptscim062020: one path-less replace with dotted and URN-qualified keys.
    let (_, patched) = gw
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {
                "displayName": "Bo Berg-Lind",
                "name.givenName": "Bo",
                "name.familyName": "Berg-Lind",
                format!("{ENTERPRISE}:department"): "Finance",
            }}]),
        )
        .await;
    assert_eq!(patched["name"]["familyName"], "Berg-Lind");
    assert_eq!(patched[ENTERPRISE]["department"], "Finance");
    gw.drained().await;
    let zoom = sim.user("bo@contoso.example");
    assert_eq!(zoom["displayName"], "Bo Berg-Lind", "{zoom}");
    assert_eq!(zoom["name"]["familyName"], "Berg-Lind");

    // Disable with a real boolean.
    gw.patch(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    gw.drained().await;
    assert_eq!(sim.user("bo@contoso.example")["active"], false);
    let (_, found) = gw
        .get("/Users?filter=userName%20eq%20%22bo@contoso.example%22")
        .await;
    assert_eq!(
        found["Resources"][0]["active"], false,
        "soft-deleted users stay findable"
    );
}

/// A member id the gateway does not know does not fail the others of the same request (RFC
/// 7644 §3.5.2 does not ask for referential integrity): the known members get the group, and
/// the unknown one is kept, so it counts once someone has that id.
#[tokio::test(flavor = "multi_thread")]
async fn a_group_naming_an_unknown_member_keeps_the_others() {
    let sim = Sim::start().await;
    let gw = Gateway::start(&sim.url, &sim.token).await;
    let u1 = gw.create_user("k1@contoso.example", "Kim", "One").await;
    let u2 = gw.create_user("k2@contoso.example", "Kai", "Two").await;
    let (status, group) = gw
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                   "displayName": "Zoom-Licensed"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let gid = group["id"].as_str().expect("id").to_string();
    gw.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "Add", "path": "members",
                "value": [{"value": u1}, {"value": "not-created-yet"}, {"value": u2}]}]),
    )
    .await;
    gw.drained().await;
    assert_eq!(gw.license(&u1), plan("licensed"));
    assert_eq!(gw.license(&u2), plan("licensed"));
    let (_, stored) = gw.get(&format!("/Groups/{gid}")).await;
    let members: Vec<&str> = stored["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["value"].as_str())
        .collect();
    assert!(
        members.contains(&"not-created-yet"),
        "kept pending: {stored}"
    );
    // A group cannot contain itself.
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": [{"op": "Add", "path": "members", "value": [{"value": gid}]}]});
    let (status, error) = gw
        .send(Method::PATCH, &format!("/Groups/{gid}"), Some(body))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["scimType"], "invalidValue");
}

#[tokio::test(flavor = "multi_thread")]
async fn group_membership_changes_the_license_in_both_dialects() {
    let sim = Sim::start().await;
    let gw = Gateway::start(&sim.url, &sim.token).await;
    let u1 = gw.create_user("u1@contoso.example", "Una", "One").await;
    let u2 = gw.create_user("u2@contoso.example", "Uli", "Two").await;
    let u3 = gw.create_user("u3@contoso.example", "Ulla", "Three").await;

    // Entra's group create: look-up without members, then POST with the ADSCIM schema.
    let (status, found) = gw
        .get("/Groups?excludedAttributes=members&filter=displayName%20eq%20%22Zoom-Licensed%22")
        .await;
    assert_eq!(
        (status, found["totalResults"].clone()),
        (StatusCode::OK, json!(0))
    );
    let (status, group) = gw
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                               "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                   "externalId": "g-ext-1", "displayName": "Zoom-Licensed",
                   "meta": {"resourceType": "Group"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let gid = group["id"].as_str().expect("id").to_string();

    // Two members in one Add.
    gw.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "Add", "path": "members",
                "value": [{"$ref": null, "value": u1}, {"$ref": null, "value": u2}]}]),
    )
    .await;
    gw.drained().await;
    assert_eq!(gw.license(&u1), plan("licensed"));
    assert_eq!(gw.license(&u2), plan("licensed"));
    assert_eq!(gw.license(&u3), plan("basic"));
    assert_eq!(sim.user("u1@contoso.example")["userType"], "Licensed");
    let (_, lean) = gw
        .get(&format!("/Groups/{gid}?excludedAttributes=members"))
        .await;
    assert!(lean.get("members").is_none(), "{lean}");
    let (_, user) = gw.get(&format!("/Users/{u1}")).await;
    assert_eq!(user["groups"][0]["value"], gid.as_str(), "{user}");

    // Remove, default dialect: `value` lists the members to remove (not all of them).
    gw.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "Remove", "path": "members", "value": [{"value": u1}]}]),
    )
    .await;
    gw.drained().await;
    assert_eq!(gw.license(&u1), plan("basic"));
    assert_eq!(gw.license(&u2), plan("licensed"));
    assert_eq!(sim.user("u1@contoso.example")["userType"], "Basic");

    // Remove, aadOptscim062020: a value filter in the path.
    gw.patch(
        &format!("/Groups/{gid}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{u2}\"]")}]),
    )
    .await;
    gw.drained().await;
    assert_eq!(gw.license(&u2), plan("basic"));
    assert_eq!(sim.user("u2@contoso.example")["userType"], "Basic");

    // An add-on by group, created with its members; gone again with the group.
    let (status, phone) = gw
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                   "displayName": "Zoom-Phone", "members": [{"value": u3}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{phone}");
    gw.drained().await;
    assert_eq!(
        gw.license(&u3),
        Some(("basic".into(), vec!["phone".into()]))
    );
    assert!(
        sim.zoom_field_sent("u3@contoso.example", "zoomPhoneCallingPlan")
            .is_some()
    );
    let phone_id = phone["id"].as_str().expect("id");
    let (status, _) = gw
        .send(Method::DELETE, &format!("/Groups/{phone_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    gw.drained().await;
    assert_eq!(gw.license(&u3), plan("basic"));
    assert!(
        sim.zoom_field_sent("u3@contoso.example", "zoomPhoneCallingPlan")
            .is_none()
    );
}

/// Lists and searches (RFC 7644 §3.4.2): one order (oldest first) for every way of reading,
/// `totalResults` counting every match, and the page cut from `startIndex` (1-based) and
/// `count`, whether the filter is absent, pins an indexed attribute (`id`, `userName`,
/// `externalId`, `displayName`), or has to be evaluated on every resource (here on the
/// `groups` a user is in); `/.search` runs on, from the users into the groups.
#[tokio::test(flavor = "multi_thread")]
async fn lists_page_and_filter_in_one_order() {
    let sim = Sim::start().await;
    let gw = Gateway::start(&sim.url, &sim.token).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            gw.create_user(&format!("p{i}@contoso.example"), "Pat", &format!("P{i}"))
                .await,
        );
    }
    let mut groups = Vec::new();
    for (name, members) in [("Team-A", vec![1, 3, 4]), ("Team-B", vec![3])] {
        let members: Vec<Value> = members.iter().map(|&i| json!({"value": ids[i]})).collect();
        let (status, group) = gw
            .post(
                "/Groups",
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                       "displayName": name, "externalId": format!("ext-{name}"),
                       "members": members}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{group}");
        groups.push(group["id"].as_str().expect("id").to_string());
    }
    let list = |json: &Value| -> (u64, Vec<String>) {
        assert_eq!(
            json["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
        );
        let resources = json["Resources"].as_array().cloned().unwrap_or_default();
        let ids = resources
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_string())
            .collect();
        (json["totalResults"].as_u64().expect("totalResults"), ids)
    };
    let (_, all) = gw.get("/Users").await;
    let (total, order) = list(&all);
    assert_eq!(total, 6);
    let mut sorted = ids.clone();
    sorted.sort();
    let mut seen = order.clone();
    seen.sort();
    assert_eq!(seen, sorted, "every user once");
    let member_of_a: Vec<String> = all["Resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter(|u| {
            u["groups"]
                .as_array()
                .is_some_and(|g| g.iter().any(|g| g["value"] == groups[0].as_str()))
        })
        .map(|u| u["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(member_of_a.len(), 3);
    let user3 = all["Resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|u| u["id"] == ids[3].as_str())
        .expect("user 3");
    assert_eq!(
        user3["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| g["display"].clone())
            .collect::<Vec<_>>(),
        [json!("Team-A"), json!("Team-B")],
        "{user3}"
    );
    let slice = |from: usize, n: usize| -> Vec<String> {
        order.iter().skip(from).take(n).cloned().collect()
    };

    // Without a filter.
    for (query, want) in [
        ("startIndex=2&count=3", slice(1, 3)),
        ("startIndex=5&count=10", slice(4, 10)),
        ("startIndex=9", vec![]),
        ("count=0", vec![]),
        ("startIndex=0&count=2", slice(0, 2)),
    ] {
        let (status, page) = gw.get(&format!("/Users?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(list(&page), (6, want), "{query}");
    }

    // A filter on an indexed attribute.
    let q = |f: &str| f.replace(' ', "%20").replace('"', "%22");
    for (filter, want) in [
        (format!("id eq \"{}\"", ids[2]), vec![ids[2].clone()]),
        (
            "userName eq \"P4@CONTOSO.example\"".to_string(),
            vec![ids[4].clone()],
        ),
        (
            "externalId eq \"ext-p5@contoso.example\"".to_string(),
            vec![ids[5].clone()],
        ),
        (
            "externalId eq \"EXT-p5@contoso.example\"".to_string(),
            vec![],
        ),
        (
            format!(
                "externalId eq \"ext-p1@contoso.example\" and id eq \"{}\"",
                ids[1]
            ),
            vec![ids[1].clone()],
        ),
        (
            format!(
                "externalId eq \"ext-p1@contoso.example\" and id eq \"{}\"",
                ids[2]
            ),
            vec![],
        ),
    ] {
        let (status, page) = gw.get(&format!("/Users?filter={}", q(&filter))).await;
        assert_eq!(status, StatusCode::OK, "{filter}: {page}");
        assert_eq!(list(&page), (want.len() as u64, want), "{filter}");
    }
    let (_, found) = gw
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            q("displayName eq \"team-b\"")
        ))
        .await;
    assert_eq!(list(&found), (1, vec![groups[1].clone()]));
    assert!(found["Resources"][0].get("members").is_none());

    // A filter evaluated on every user: on their groups, with paging.
    let filter = q(&format!("groups.value eq \"{}\"", groups[0]));
    let (_, page) = gw
        .get(&format!("/Users?filter={filter}&startIndex=2&count=1"))
        .await;
    assert_eq!(list(&page), (3, member_of_a[1..2].to_vec()));
    let (_, page) = gw
        .get(&format!(
            "/Users?filter={}&startIndex=3",
            q("name.familyName sw \"P\"")
        ))
        .await;
    assert_eq!(list(&page), (6, slice(2, 10)));

    // `/.search` over users, then groups; and a filter matching in both kinds.
    let (status, page) = gw
        .post(
            "/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                   "startIndex": 5, "count": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let mut want = slice(4, 2);
    want.push(groups[0].clone());
    assert_eq!(list(&page), (8, want));
    let (_, page) = gw
        .post(
            "/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                   "filter": "externalId sw \"ext-\"", "startIndex": 6, "count": 2}),
        )
        .await;
    assert_eq!(list(&page), (8, vec![order[5].clone(), groups[0].clone()]));
}

/// A broken rule is not a change the target refused: the change is retried, past
/// `max_rejections`, and arrives once the plugin works again. Nothing is dropped.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_a_plugin_keeps_failing_waits_for_the_plugin_to_be_fixed() {
    let sim = Sim::start().await;
    let license = "path = \"builtin:license-by-group\"";
    assert!(CONFIG.contains(license));
    let config = CONFIG.replace(license, "path = \"${TRAP}\"");
    let gw = Gateway::start_served(
        &config,
        &[("TRAP", muster_artifacts::TRAP)],
        &sim.url,
        &sim.token,
        true,
    )
    .await;
    let id = gw.create_user("eve@contoso.example", "Eve", "Ek").await;
    let store = &gw.state.job().store;
    let failures = || {
        store
            .logs(&LogQuery {
                person: Some(id.clone()),
                limit: 100,
                ..LogQuery::default()
            })
            .expect("logs")
            .iter()
            .filter(|l| l.status == "failure")
            .count()
    };
    // `max_rejections` is 3 by default: well past it, the change is still waiting.
    let retried = wait_until(Duration::from_secs(60), || failures() >= 5).await;
    assert!(
        retried,
        "the failing change was not retried: {} failures",
        failures()
    );
    assert_eq!(store.outbox_len().expect("outbox"), 1, "the change waits");
    assert!(store.outbox_dropped(10).expect("dropped").is_empty());
    assert!(!sim.has_user("eve@contoso.example"));

    // An operator uploads a working version: the change goes through.
    let original = muster_artifacts::builtin("license-by-group").expect("built-in plugin");
    let response = reqwest::Client::new()
        .post(format!(
            "{}/admin/plugins/license-by-group/versions",
            gw.root
        ))
        .bearer_auth(ADMIN)
        .header("content-type", "application/wasm")
        .body(original.to_vec())
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), StatusCode::CREATED);
    gw.drained().await;
    assert!(sim.has_user("eve@contoso.example"));
}

/// A change the target refuses `max_rejections` times is dropped, but not lost: the admin API
/// lists it, and a replay sends the person as the gateway has them now.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_the_target_rejects_is_dropped_listed_and_replayed() {
    let sim = Sim::start().await;
    // The readiness probe tests the target once at start, then not for an hour: the faults
    // below meet the outbox's requests only.
    let config = format!("{CONFIG}\n[server]\nprobe_interval_secs = 3600\n");
    let gw = Gateway::start_served(&config, &[], &sim.url, &sim.token, true).await;
    let probed = wait_until(Duration::from_secs(60), || {
        sim.state.counters().requests >= 1
    })
    .await;
    assert!(probed, "the readiness probe never reached the target");
    let id = gw.create_user("rex@contoso.example", "Rex", "Roe").await;
    gw.drained().await;
    assert_eq!(sim.user("rex@contoso.example")["title"], Value::Null);

    // The title change meets three 400s, one per attempt: three rejections, then dropped.
    sim.state.inject_failures(zoom_sim::Fault::status(400), 3);
    gw.patch(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": "title", "value": "Captain"}]),
    )
    .await;
    gw.drained().await;
    assert_eq!(sim.state.pending_faults(), 0);
    assert_eq!(sim.user("rex@contoso.example")["title"], Value::Null);

    let admin = reqwest::Client::new();
    let dropped: Value = admin
        .get(format!("{}/admin/outbox/dropped", gw.root))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let list = dropped.as_array().expect("a list");
    assert_eq!(list.len(), 1, "{dropped}");
    assert_eq!(list[0]["person_id"], id.as_str());
    assert_eq!(list[0]["attempts"], 3);
    assert!(
        list[0]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("WebExceptionProtocolError")),
        "{dropped}"
    );
    let metrics = gw.metrics().await;
    assert!(metrics.contains("muster_outbox_dropped_total"), "{metrics}");

    // The replay sends the person as the gateway has them now: with the new title.
    let seq = list[0]["seq"].as_i64().expect("seq");
    assert_eq!(
        gw.admin_post(&format!("/admin/outbox/dropped/{seq}/replay"))
            .await,
        StatusCode::OK
    );
    gw.drained().await;
    assert_eq!(sim.user("rex@contoso.example")["title"], "Captain");
    let store = &gw.state.job().store;
    assert!(store.outbox_dropped(10).expect("dropped").is_empty());
    assert_eq!(
        gw.admin_post(&format!("/admin/outbox/dropped/{seq}/replay"))
            .await,
        StatusCode::NOT_FOUND,
        "a replay is done once"
    );
}

/// A wave of deletes beyond `[gateway] max_deprovisions` is held, whatever passes the outbox
/// cut it into, until an admin releases it.
#[tokio::test(flavor = "multi_thread")]
async fn deletes_past_the_gateway_guard_are_held_until_released() {
    let sim = Sim::start().await;
    let config = CONFIG.replace(
        "retry_max_ms = 300\n",
        "retry_max_ms = 300\nmax_deprovisions = 2\n",
    );
    assert_ne!(config, CONFIG);
    let gw = Gateway::start_served(&config, &[], &sim.url, &sim.token, true).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            gw.create_user(&format!("d{i}@contoso.example"), "Del", &format!("Ete{i}"))
                .await,
        );
    }
    gw.drained().await;
    assert_eq!(sim.state.users().len(), 3);
    for id in &ids {
        let (status, body) = gw.send(Method::DELETE, &format!("/Users/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    // Two deletes go, the last one Entra sent is held, however the outbox's passes group them.
    let store = &gw.state.job().store;
    let held = wait_until(Duration::from_secs(60), || {
        let logs = store
            .logs(&LogQuery {
                person: Some(ids[2].clone()),
                limit: 10,
                ..LogQuery::default()
            })
            .unwrap_or_default();
        let held = logs.iter().any(|l| {
            l.detail["provisioningStatusInfo"]["errorCode"] == "DeletionThresholdExceeded"
        });
        held && sim.state.users().len() == 1
    })
    .await;
    assert!(
        held,
        "not two sent and the last held: {} users left",
        sim.state.users().len()
    );
    assert!(sim.state.user_by_name("d0@contoso.example").is_none());
    assert!(sim.state.user_by_name("d1@contoso.example").is_none());
    assert!(sim.has_user("d2@contoso.example"), "held, not sent");
    assert_eq!(store.outbox_len().expect("outbox"), 1, "kept in the outbox");

    assert_eq!(
        gw.admin_post("/admin/outbox/release-deprovisions").await,
        StatusCode::OK
    );
    gw.drained().await;
    assert!(!sim.has_user("d2@contoso.example"), "sent once released");
}

/// `state` served on `addr` (to bring a target "back" where muster expects it) until the
/// sender is used or dropped; the handle ends once the port is free again.
async fn serve_sim_on(
    addr: SocketAddr,
    state: &SimState,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(zoom_sim::serve_state(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    (stop, served)
}

/// An outage loses nothing, and what piled up during it is one request per person: the
/// person's newest state, not a replay of every state in between.
#[tokio::test(flavor = "multi_thread")]
async fn outbox_catches_up_after_the_target_was_down_with_one_change_per_person() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let token = "zoom-token";
    let sim = SimState::new(&SimConfig::new(token.to_string()));
    let (stop, served) = serve_sim_on(addr, &sim).await;
    let gw = Gateway::start(&format!("http://{addr}/scim2"), token).await;
    let a = gw.create_user("a@contoso.example", "Al", "Ames").await;
    gw.drained().await;
    assert!(sim.user_by_name("a@contoso.example").is_some(), "A created");

    // The target goes down.
    drop(stop);
    served
        .await
        .expect("simulator task")
        .expect("simulator stopped");
    for title in ["T1", "T2", "T3", "T4"] {
        gw.patch(
            &format!("/Users/{a}"),
            json!([{"op": "Replace", "path": "title", "value": title}]),
        )
        .await;
    }
    let b = gw.create_user("b@contoso.example", "Bea", "Bell").await;

    // Failures show in the provisioning log while nothing is lost.
    let store = &gw.state.job().store;
    let failed = wait_until(Duration::from_secs(20), || {
        store
            .logs(&LogQuery {
                status: Some("failure".into()),
                limit: 10,
                ..LogQuery::default()
            })
            .map(|l| l.len() >= 2)
            .unwrap_or(false)
    })
    .await;
    assert!(failed, "no failure in the provisioning log");
    let failure = &store
        .logs(&LogQuery {
            status: Some("failure".into()),
            limit: 1,
            ..LogQuery::default()
        })
        .expect("logs")[0];
    assert_eq!(
        failure.detail["provisioningStatusInfo"]["errorCode"], "ConnectionFailed",
        "{}",
        failure.detail
    );
    assert_eq!(
        store.outbox_len().expect("len"),
        5,
        "every change is still waiting"
    );

    // The target comes back: A's four changes arrive as one PATCH to its newest state.
    sim.clear_log();
    let (_stop, _served) = serve_sim_on(addr, &sim).await;
    gw.drained().await;
    let zoom_a = sim.user_by_name("a@contoso.example").expect("A");
    assert_eq!(zoom_a["title"], "T4");
    assert!(sim.user_by_name("b@contoso.example").is_some(), "B created");
    let a_id = zoom_a["id"].as_str().expect("id").replace('&', "%26");
    let patches: Vec<Vec<String>> = sim
        .request_log()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with(&a_id) && r.status == 200)
        .filter_map(|r| r.json())
        .map(|body| {
            let mut ops: Vec<String> = body["Operations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|op| format!("{}={}", op["path"].as_str().unwrap_or(""), op["value"]))
                .collect();
            ops.sort();
            ops
        })
        .collect();
    assert_eq!(
        patches,
        [vec!["title=\"T4\"".to_string()]],
        "one PATCH with A's newest state"
    );
    assert_eq!(gw.license(&b), plan("basic"));
}

/// A request and the status and `scimType` it must get.
type Check = (Method, String, Option<Value>, u16, Option<&'static str>);

/// An unauthenticated client cannot mint metric series: a method outside HTTP's own is counted
/// as `other`, never under its own name.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_methods_do_not_become_metric_labels() {
    let sim = Sim::start().await;
    let gw = Gateway::start_service(&sim.url, &sim.token).await;
    let http = reqwest::Client::new();
    for i in 0..20 {
        let method = Method::from_bytes(format!("XMETHOD{i}").as_bytes()).expect("a token");
        let response = http
            .request(method, format!("{}/Users", gw.base))
            .send()
            .await
            .expect("request");
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    let metrics = gw.metrics().await;
    assert!(
        !metrics.contains("XMETHOD"),
        "a raw method became a label:\n{metrics}"
    );
    assert!(
        metrics.contains("method=\"other\""),
        "unknown methods are counted as other:\n{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthenticated_and_malformed_requests_get_scim_errors() {
    let sim = Sim::start().await;
    let gw = Gateway::start(&sim.url, &sim.token).await;
    let id = gw.create_user("c@contoso.example", "Cy", "Cole").await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", gw.base);

    // 401: no token, a wrong one, another scheme.
    for auth in [
        None,
        Some("Bearer nope"),
        Some("Basic Z2F0ZXdheS1zZWNyZXQ="),
    ] {
        let mut request = http.get(url("/Users"));
        if let Some(a) = auth {
            request = request.header("authorization", a);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(response.headers()["content-type"], SCIM_JSON);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["status"], "401");
        assert_eq!(
            body["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
    }

    // 415 for a non-JSON media type; 400 invalidSyntax for broken JSON; 413 over the limit.
    let raw = |content_type: &str, body: String| {
        http.post(url("/Users"))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body)
    };
    let cases = [
        (raw("text/plain", "userName=x".into()), 415, None),
        (
            raw(SCIM_JSON, "{\"userName\": ".into()),
            400,
            Some("invalidSyntax"),
        ),
        (
            raw(SCIM_JSON, json!({"userName": "x".repeat(5000)}).to_string()),
            413,
            None,
        ),
        // One attribute named twice in different cases: which one would be provisioned?
        (
            raw(
                SCIM_JSON,
                json!({"schemas": [scim::resource::USER_SCHEMA], "userName": "a@contoso.example",
                       "USERNAME": "victim@contoso.example"})
                .to_string(),
            ),
            400,
            Some("invalidSyntax"),
        ),
    ];
    for (request, status, scim_type) in cases {
        let response = request.send().await.expect("request");
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.headers()["content-type"], SCIM_JSON);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["status"], status.to_string());
        if let Some(t) = scim_type {
            assert_eq!(body["scimType"], t, "{body}");
        }
    }
    assert!(
        gw.state
            .job()
            .store
            .gateway_resource_by_name(store::GatewayKind::User, "victim@contoso.example")
            .expect("store")
            .is_none(),
        "nothing of the refused body was stored"
    );

    // scimType by mistake.
    let user = format!("/Users/{id}");
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let checks: Vec<Check> = vec![
        (
            Method::GET,
            "/Users?filter=userName%20zz%20%22a%22".into(),
            None,
            400,
            Some("invalidFilter"),
        ),
        (Method::GET, "/Users/nope".into(), None, 404, None),
        (Method::GET, "/Nothing".into(), None, 404, None),
        (Method::DELETE, "/Users".into(), None, 405, None),
        (
            Method::POST,
            "/Users".into(),
            Some(json!({"userName": "C@contoso.example"})),
            409,
            Some("uniqueness"),
        ),
        (
            Method::POST,
            "/Users".into(),
            Some(json!({"userName": "d", "active": 3})),
            400,
            Some("invalidValue"),
        ),
        (
            Method::POST,
            "/Users".into(),
            Some(json!({"displayName": "no name"})),
            400,
            Some("invalidValue"),
        ),
        (
            Method::PATCH,
            user.clone(),
            Some(patch(
                json!([{"op": "replace", "path": "emails[[", "value": "x"}]),
            )),
            400,
            Some("invalidPath"),
        ),
        (
            Method::PATCH,
            user.clone(),
            Some(patch(json!([{"op": "remove"}]))),
            400,
            Some("noTarget"),
        ),
        (
            Method::PATCH,
            user.clone(),
            Some(patch(
                json!([{"op": "replace", "path": "id", "value": "x"}]),
            )),
            400,
            Some("mutability"),
        ),
        (
            Method::PATCH,
            user.clone(),
            Some(patch(json!([{"op": "jump", "path": "title"}]))),
            400,
            Some("invalidSyntax"),
        ),
        (
            Method::POST,
            "/Groups".into(),
            Some(json!({"displayName": "G", "members": [{"display": "no value"}]})),
            400,
            Some("invalidValue"),
        ),
    ];
    for (method, path, body, status, scim_type) in checks {
        let (got, error) = gw.send(method.clone(), &path, body).await;
        assert_eq!(got.as_u16(), status, "{method} {path}: {error}");
        assert_eq!(error["status"], status.to_string(), "{method} {path}");
        assert_eq!(
            error["scimType"].as_str(),
            scim_type,
            "{method} {path}: {error}"
        );
    }
    // Nothing half-applied: the user is as created.
    let (_, current) = gw.get(&user).await;
    assert_eq!(current["meta"]["version"], "W/\"1\"", "{current}");

    // ETags: a stale If-Match is 412 and changes nothing; a current If-None-Match is 304.
    let stale = http
        .patch(url(&user))
        .bearer_auth(TOKEN)
        .header("content-type", SCIM_JSON)
        .header("if-match", "W/\"7\"")
        .body(patch(json!([{"op": "replace", "path": "title", "value": "X"}])).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let cached = http
        .get(url(&user))
        .bearer_auth(TOKEN)
        .header("if-none-match", "W/\"1\"")
        .send()
        .await
        .expect("request");
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    let (_, current) = gw.get(&user).await;
    assert!(current.get("title").is_none(), "{current}");
}

/// `scim2 test` (scim2-cli + scim2-tester from PyPI, installed into `.venv` by `.ci/test`)
/// against the gateway: every check must report SUCCESS.
#[tokio::test(flavor = "multi_thread")]
async fn scim2_tester_reports_no_failures() {
    let cli = std::env::var("MUSTER_SCIM2_CLI").map_or_else(
        |_| muster_tests::harness::workspace_root().join(".venv/bin/scim2"),
        std::path::PathBuf::from,
    );
    assert!(
        cli.exists(),
        "{} is missing: install the conformance checker with \
         `.venv/bin/pip install scim2-cli==0.6.0 scim2-tester==0.5.2` (`.ci/test` does), or set \
         MUSTER_SCIM2_CLI to a `scim2` executable",
        cli.display()
    );
    let sim = Sim::start().await;
    let gw = Gateway::start(&sim.url, &sim.token).await;
    let base = gw.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&cli)
            .args(["-u", &base, "test"])
            .env("SCIM_CLI_HEADERS", format!("Authorization: Bearer {TOKEN}"))
            .output()
    })
    .await
    .expect("joining")
    .expect("running scim2");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let checks: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with("Performing"))
        .filter(|l| !l.trim().is_empty())
        .collect();
    let failures: Vec<&&str> = checks
        .iter()
        .filter(|l| !l.starts_with("SUCCESS"))
        .collect();
    assert!(
        output.status.success() && failures.is_empty() && checks.len() > 50,
        "scim2 test: {} checks, failures {failures:#?}\n{stdout}\n{stderr}",
        checks.len()
    );
}

/// `muster serve` for a gateway job: SCIM, the admin API and `/metrics` on one listener;
/// on-demand provisioning of a gateway person. New
/// license-rule versions uploaded and rolled back through the admin API while Entra-style PATCH
/// traffic flows: no request fails, no change is lost, and the metrics carry every series.
#[tokio::test(flavor = "multi_thread")]
async fn hot_swap_through_the_admin_api_under_gateway_traffic_fails_nothing() {
    let sim = Sim::start().await;
    let gw = Arc::new(Gateway::start_service(&sim.url, &sim.token).await);
    let mut people = Vec::new();
    for i in 0..8 {
        let user_name = format!("p{i}@contoso.example");
        let id = gw
            .create_user(&user_name, "Pat", &format!("Person{i}"))
            .await;
        people.push((id, user_name));
    }
    gw.drained().await;

    // On-demand provisioning finds a gateway person by userName (any case) in what Entra sent.
    let admin = reqwest::Client::new();
    let provision = |who: &str| {
        admin
            .post(format!("{}/admin/provision", gw.root))
            .bearer_auth(ADMIN)
            .json(&json!({"person": who}))
            .send()
    };
    let response = provision("P0@CONTOSO.example").await.expect("provision");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["person_id"], people[0].0.as_str(), "{body}");
    assert_eq!(body["status"], "skipped", "already forwarded: {body}");
    let steps: Vec<&str> = body["entry"]["provisioningSteps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["provisioningStepType"].as_str())
        .collect();
    for step in ["import", "scoping", "matching", "export"] {
        assert!(steps.contains(&step), "{step} among {steps:?}");
    }
    let response = provision("nobody@contoso.example")
        .await
        .expect("provision");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let (gw, done, people) = (gw.clone(), done.clone(), people.clone());
        tokio::spawn(async move {
            let (mut sent, mut failures, mut last) = (0usize, Vec::new(), Vec::new());
            let mut round = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || round < 3 {
                for (id, user_name) in &people {
                    let title = format!("Title {round}");
                    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "Replace", "path": "title", "value": title}]});
                    let (status, answer) = gw
                        .send(Method::PATCH, &format!("/Users/{id}"), Some(body))
                        .await;
                    sent += 1;
                    if status != StatusCode::OK {
                        failures.push(format!("{status}: {answer}"));
                    }
                    last.push((user_name.clone(), title));
                }
                round += 1;
            }
            (sent, failures, last)
        })
    };
    let original = muster_artifacts::builtin("license-by-group").expect("built-in plugin");
    for round in 0..3 {
        let response = admin
            .post(format!(
                "{}/admin/plugins/license-by-group/versions",
                gw.root
            ))
            .bearer_auth(ADMIN)
            .header("content-type", "application/wasm")
            .body(muster_tests::component_variant(
                original,
                &format!("g{round}"),
            ))
            .send()
            .await
            .expect("upload");
        assert_eq!(response.status(), StatusCode::CREATED);
        // Roll back only once an outbox pass has pinned the uploaded version.
        let uploaded: Value = response.json().await.expect("the plugin view");
        let version = uploaded["active"].as_str().expect("active").to_string();
        let served = muster_tests::wait_until(Duration::from_secs(60), || {
            let cycles = gw.state.job().store.cycles(10_000).expect("cycles");
            cycles
                .iter()
                .any(|c| c.plugin_versions.get("license-by-group") == Some(&version))
        })
        .await;
        assert!(
            served,
            "no outbox pass pinned the uploaded version {version}"
        );
        let response = admin
            .post(format!(
                "{}/admin/plugins/license-by-group/rollback",
                gw.root
            ))
            .bearer_auth(ADMIN)
            .json(&json!({}))
            .send()
            .await
            .expect("rollback");
        assert_eq!(response.status(), StatusCode::OK);
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sent, failures, last) = traffic.await.expect("traffic task");
    assert!(
        failures.is_empty(),
        "failed gateway requests: {failures:#?}"
    );
    assert!(sent >= 24, "{sent} requests");
    gw.drained().await;
    let mut expected = std::collections::BTreeMap::new();
    for (user_name, title) in last {
        expected.insert(user_name, title);
    }
    for (user_name, title) in &expected {
        assert_eq!(sim.user(user_name)["title"], title.as_str(), "{user_name}");
    }
    let versions: std::collections::BTreeSet<String> = gw
        .state
        .job()
        .store
        .cycles(10_000)
        .expect("cycles")
        .iter()
        .filter_map(|c| c.plugin_versions.get("license-by-group").cloned())
        .collect();
    assert!(versions.len() >= 2, "versions that served: {versions:?}");

    let metrics = gw.metrics().await;
    for series in [
        "muster_gateway_requests_total",
        "muster_gateway_request_duration_seconds",
        "muster_outbox_pending",
        "muster_plugin_calls_total",
        "muster_target_requests_total",
    ] {
        assert!(
            metrics.contains(series),
            "{series} missing from:\n{metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_gateway_accepts_entras_changes_and_forwards_them_when_resumed() {
    let sim = Sim::start().await;
    let gw = Gateway::start_service(&sim.url, &sim.token).await;
    assert_eq!(gw.admin_post("/admin/pause").await, StatusCode::OK);
    // Entra is still answered: the change is accepted and waits.
    gw.create_user("ada@contoso.example", "Ada", "Lovelace")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(gw.state.job().store.outbox_len().expect("outbox"), 1);
    assert!(
        !sim.has_user("ada@contoso.example"),
        "forwarded while paused"
    );
    // The status and the console show the waiting change.
    let status: Value = gw
        .http
        .get(format!("{}/admin/status", gw.root))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("JSON");
    assert_eq!(status["mode"], "gateway");
    assert_eq!(status["outbox"]["pending"], 1, "{status}");
    assert!(status["outbox"]["oldest_at"].as_i64().is_some(), "{status}");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let cookie = muster_tests::console_sign_in(&gw.root, ADMIN).await;
    let overview = no_redirects
        .get(format!("{}/ui", gw.root))
        .header("cookie", cookie)
        .send()
        .await
        .expect("overview")
        .text()
        .await
        .expect("html");
    for want in [
        "1</strong> changes waiting to be forwarded",
        "Release held deprovisions",
        "Resume the job",
    ] {
        assert!(overview.contains(want), "{want} in the overview");
    }
    assert!(
        !overview.contains("Run a cycle now"),
        "a gateway job runs no cycles"
    );
    // Resumed: forwarded at once.
    assert_eq!(gw.admin_post("/admin/resume").await, StatusCode::OK);
    gw.drained().await;
    assert!(sim.has_user("ada@contoso.example"));
}
