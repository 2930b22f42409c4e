//! A fake Microsoft Graph (and its token endpoint) on 127.0.0.1, faithful to what muster relies
//! on, as Microsoft Learn documents it (<https://learn.microsoft.com/graph/> and the identity
//! platform's OAuth 2.0 client credentials flow):
//!
//! - `POST /{tenant}/oauth2/v2.0/token`: client credentials in the form body; the AADSTS errors
//!   for an unknown tenant (90002), an unknown client (700016), a wrong secret (7000215) and a
//!   scope that is not `…/.default` (70011); tokens expire after `expires_in` seconds and are
//!   then refused with 401 `InvalidAuthenticationToken`. Or, for an app with a registered
//!   certificate, a client assertion (RFC 7523): `PS256`, checked against the certificate whose
//!   `x5t#S256` it names, with `aud`, `iss`, `sub`, `nbf` and `exp` checked (AADSTS700027,
//!   700021, 700023, 700024).
//! - `GET /v1.0/users`, `/groups`, `/groups/{id}/members`, `/groups/{id}/transitiveMembers`,
//!   `/servicePrincipals/{id}`, `/servicePrincipals/{id}/appRoleAssignedTo`: `$select`
//!   projection (Graph's default property set without it), `$top` 1–999 (default 100, more is a
//!   400), an opaque absolute `@odata.nextLink`.
//! - `GET /v1.0/users/delta` and `/groups/delta`: the first round lists everything (soft-deleted
//!   users as `@removed` `changed`; groups with every member in `members@delta`), later rounds
//!   what changed since the token (users only when a selected property changed), a selected
//!   `manager` as `manager@delta` (the manager's id; kept as the user's `manager` property, set
//!   with `update_user(id, {"manager": "u-2"})`), `@removed`
//!   `changed`/`deleted`, member additions and removals in `members@delta`, paging by nextLink
//!   then a deltaLink, the query encoded in the token, `$deltatoken=latest`, expired tokens (410
//!   with `Location`, or 400 `syncStateNotFound`), and optionally every entry sent twice in
//!   another order (replays).
//! - Application permissions per endpoint (403 `Authorization_RequestDenied` without them),
//!   injectable 429/503 answers with `Retry-After` and the `x-ms-throttle-*` headers, and a log
//!   of every request.
//!
//! What it does not reproduce: how Graph spells a removed manager in `manager@delta` (not
//! documented; the fake sends an empty array, which muster reads as "no manager", as it does a
//! removed entry); the ResourceUnit token bucket (throttling happens only when
//! injected); replication lag; `Prefer: return=minimal`; `$filter`, `$count`, `$search`,
//! `$expand`, `$orderby` and `ConsistencyLevel`; OData casts; soft-deleted groups (a group
//! deletion is permanent) and the membership loss of a soft-deleted user (memberships stay
//! until a hard delete); the deletedItems endpoints; JWT access tokens (tokens are opaque
//! strings); replayed assertion ids (`jti`) and RS256 assertions; national clouds beyond the configurable base URL; paging sizes
//! of the real delta API (the fake pages delta rounds by `delta_page_size`, 200 by default).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

mod routes;

use routes::handle;

/// Every application permission muster may need.
pub const ALL_PERMISSIONS: [&str; 3] = [
    "User.Read.All",
    "GroupMember.Read.All",
    "Application.Read.All",
];

/// Properties Graph returns for a user when no `$select` is given.
const DEFAULT_USER_PROPERTIES: [&str; 10] = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

/// How an expired delta token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// `410 Gone` with a `Location` header.
    Gone,
    /// `400` with the code `syncStateNotFound`.
    SyncStateNotFound,
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    pub status: u16,
    pub at: Instant,
}

#[derive(Debug, Clone)]
struct User {
    props: Map<String, Value>,
    soft_deleted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Group,
}

#[derive(Debug, Clone, Default)]
struct GroupObj {
    display_name: String,
    members: BTreeMap<String, Kind>,
}

#[derive(Debug, Clone)]
struct Assignment {
    id: String,
    principal_id: String,
    principal_type: &'static str,
    app_role_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    Users,
    Groups,
}

#[derive(Debug, Clone)]
struct DeltaToken {
    feed: Feed,
    seq: u64,
    select: Option<Vec<String>>,
    expired: Option<Expiry>,
}

struct Paging {
    items: Vec<Value>,
    next: usize,
    page_size: usize,
    /// The URL of the last page's deltaLink, or None for a listing.
    delta_link: Option<String>,
    path: String,
}

struct GroupChange {
    seq: u64,
    group: String,
    /// None: the group itself changed (created, renamed, deleted).
    member: Option<String>,
}

struct State {
    base: String,
    tenant: String,
    client_id: String,
    secret: String,
    /// Certificates uploaded to the app: (`x5t#S256`, the RSA public key as PKCS#1 DER).
    certificates: Vec<(String, Vec<u8>)>,
    sp_id: String,
    app_id: String,
    permissions: BTreeSet<String>,
    token_lifetime: u64,
    tokens: HashMap<String, Instant>,
    users: BTreeMap<String, User>,
    groups: BTreeMap<String, GroupObj>,
    app_roles: Vec<(String, String)>,
    assignments: Vec<Assignment>,
    seq: u64,
    /// (seq, user id, changed properties; None = the whole object).
    user_log: Vec<(u64, String, Option<Vec<String>>)>,
    group_log: Vec<GroupChange>,
    delta_tokens: HashMap<String, DeltaToken>,
    pagings: HashMap<String, Paging>,
    faults: VecDeque<(u16, Option<u64>)>,
    requests: Vec<Request>,
    delta_page_size: usize,
    replay: bool,
    counter: u64,
}

/// A running fake Graph; stops when dropped.
pub struct FakeGraph {
    /// `http://127.0.0.1:PORT`: the login base URL (`login_base_url`).
    pub url: String,
    /// `http://127.0.0.1:PORT/v1.0`: the Graph base URL (`graph_base_url`).
    pub graph_url: String,
    pub tenant: String,
    pub client_id: String,
    pub secret: String,
    /// The object id of the app's service principal.
    pub sp_id: String,
    state: Arc<Mutex<State>>,
    stop: Option<oneshot::Sender<()>>,
}

impl FakeGraph {
    pub async fn start() -> FakeGraph {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let state = State {
            base: url.clone(),
            tenant: "contoso-tenant".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            secret: "fake-graph-secret".into(),
            certificates: Vec::new(),
            sp_id: "sp-muster".into(),
            app_id: "11111111-2222-3333-4444-555555555555".into(),
            permissions: ALL_PERMISSIONS.iter().map(|p| p.to_string()).collect(),
            token_lifetime: 3599,
            tokens: HashMap::new(),
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            app_roles: Vec::new(),
            assignments: Vec::new(),
            seq: 0,
            user_log: Vec::new(),
            group_log: Vec::new(),
            delta_tokens: HashMap::new(),
            pagings: HashMap::new(),
            faults: VecDeque::new(),
            requests: Vec::new(),
            delta_page_size: 200,
            replay: false,
            counter: 0,
        };
        let mut fake = FakeGraph {
            graph_url: format!("{url}/v1.0"),
            tenant: state.tenant.clone(),
            client_id: state.client_id.clone(),
            secret: state.secret.clone(),
            sp_id: state.sp_id.clone(),
            url,
            state: Arc::new(Mutex::new(state)),
            stop: None,
        };
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(fake.state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        fake.stop = Some(stop);
        fake
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Uploads a certificate to the app, as an admin does under "Certificates & secrets". The
    /// fake takes the RSA public key from the matching private key rather than parsing the
    /// certificate's SubjectPublicKeyInfo.
    pub fn register_certificate(&self, certificate_pem: &[u8], private_key_pem: &[u8]) {
        use base64::Engine as _;
        use rustls_pki_types::pem::PemObject;
        use sha2::Digest as _;
        let der = rustls_pki_types::CertificateDer::from_pem_slice(certificate_pem)
            .expect("a PEM certificate");
        let key = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(private_key_pem)
            .expect("a PKCS#8 PEM key");
        let pair =
            ring::signature::RsaKeyPair::from_pkcs8(key.secret_pkcs8_der()).expect("an RSA key");
        use ring::signature::KeyPair as _;
        let thumbprint =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der));
        self.state()
            .certificates
            .push((thumbprint, pair.public_key().as_ref().to_vec()));
    }

    /// The `[source]` table of a job reading this fake (secret in `MUSTER_GRAPH_SECRET`).
    pub fn source_toml(&self) -> String {
        format!(
            "[source]\nkind = \"graph\"\ntenant_id = \"{}\"\nclient_id = \"{}\"\n\
             client_secret_env = \"MUSTER_GRAPH_SECRET\"\ngraph_base_url = \"{}\"\n\
             login_base_url = \"{}\"\nservice_principal_id = \"{}\"\n",
            self.tenant, self.client_id, self.graph_url, self.url, self.sp_id
        )
    }

    /// Loads a directory snapshot (docs/snapshot-format.md): people become users (their
    /// attributes Graph properties), groups keep their ids, names and members, and each
    /// assignment's `appRole` becomes an app role of the service principal.
    pub fn load_snapshot(&self, snapshot: &Value) {
        for p in snapshot["people"].as_array().into_iter().flatten() {
            let id = p["id"].as_str().expect("person id");
            let mut props = p["attributes"].as_object().cloned().unwrap_or_default();
            props.insert(
                "accountEnabled".into(),
                Value::Bool(p["accountEnabled"].as_bool().unwrap_or(true)),
            );
            if let Some(manager) = p["manager"]["id"].as_str() {
                props.insert("manager".into(), Value::String(manager.into()));
            }
            self.add_user(id, Value::Object(props));
            if p["softDeleted"].as_bool().unwrap_or(false) {
                self.soft_delete_user(id);
            }
        }
        let groups: Vec<&Value> = snapshot["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        for g in &groups {
            self.add_group(
                g["id"].as_str().expect("group id"),
                g["displayName"].as_str().unwrap_or_default(),
            );
        }
        for g in &groups {
            for m in g["members"].as_array().into_iter().flatten() {
                self.add_member(
                    g["id"].as_str().unwrap_or_default(),
                    m.as_str().unwrap_or_default(),
                );
            }
        }
        for a in snapshot["assignments"].as_array().into_iter().flatten() {
            self.assign(
                a["principalId"].as_str().expect("principalId"),
                a["appRole"].as_str(),
            );
        }
    }

    pub fn add_user(&self, id: &str, props: Value) {
        let mut s = self.state();
        let mut props = props.as_object().cloned().unwrap_or_default();
        props.entry("accountEnabled").or_insert(Value::Bool(true));
        props.remove("id");
        s.users.insert(
            id.into(),
            User {
                props,
                soft_deleted: false,
            },
        );
        s.log_user(id, None);
    }

    /// Sets properties (null removes one).
    pub fn update_user(&self, id: &str, changes: Value) {
        let mut s = self.state();
        let changes = changes.as_object().cloned().unwrap_or_default();
        let user = s
            .users
            .get_mut(id)
            .unwrap_or_else(|| panic!("no user {id}"));
        for (k, v) in &changes {
            if v.is_null() {
                user.props.remove(k);
            } else {
                user.props.insert(k.clone(), v.clone());
            }
        }
        s.log_user(id, Some(changes.keys().cloned().collect()));
    }

    pub fn soft_delete_user(&self, id: &str) {
        let mut s = self.state();
        s.users
            .get_mut(id)
            .unwrap_or_else(|| panic!("no user {id}"))
            .soft_deleted = true;
        s.log_user(id, None);
    }

    pub fn restore_user(&self, id: &str) {
        let mut s = self.state();
        s.users
            .get_mut(id)
            .unwrap_or_else(|| panic!("no user {id}"))
            .soft_deleted = false;
        s.log_user(id, None);
    }

    /// Deletes a user for good, with its memberships and assignments.
    pub fn hard_delete_user(&self, id: &str) {
        let groups: Vec<String> = {
            let s = self.state();
            s.groups
                .iter()
                .filter(|(_, g)| g.members.contains_key(id))
                .map(|(k, _)| k.clone())
                .collect()
        };
        for g in groups {
            self.remove_member(&g, id);
        }
        let mut s = self.state();
        s.users.remove(id);
        s.assignments.retain(|a| a.principal_id != id);
        s.log_user(id, None);
    }

    pub fn add_group(&self, id: &str, display_name: &str) {
        let mut s = self.state();
        s.groups.insert(
            id.into(),
            GroupObj {
                display_name: display_name.into(),
                members: BTreeMap::new(),
            },
        );
        s.log_group(id, None);
    }

    pub fn rename_group(&self, id: &str, display_name: &str) {
        let mut s = self.state();
        s.groups
            .get_mut(id)
            .unwrap_or_else(|| panic!("no group {id}"))
            .display_name = display_name.into();
        s.log_group(id, None);
    }

    pub fn delete_group(&self, id: &str) {
        let mut s = self.state();
        s.groups.remove(id);
        for g in s.groups.values_mut() {
            g.members.remove(id);
        }
        s.assignments.retain(|a| a.principal_id != id);
        s.log_group(id, None);
    }

    /// Adds a user or a group (nesting) to a group.
    pub fn add_member(&self, group: &str, member: &str) {
        let mut s = self.state();
        let kind = if s.users.contains_key(member) {
            Kind::User
        } else if s.groups.contains_key(member) {
            Kind::Group
        } else {
            panic!("no user or group {member}")
        };
        s.groups
            .get_mut(group)
            .unwrap_or_else(|| panic!("no group {group}"))
            .members
            .insert(member.into(), kind);
        s.log_group(group, Some(member));
    }

    pub fn remove_member(&self, group: &str, member: &str) {
        let mut s = self.state();
        s.groups
            .get_mut(group)
            .unwrap_or_else(|| panic!("no group {group}"))
            .members
            .remove(member);
        s.log_group(group, Some(member));
    }

    /// Assigns the app to a user or group, with an app role by name (created on first use) or
    /// Default Access.
    pub fn assign(&self, principal: &str, role: Option<&str>) {
        let mut s = self.state();
        let principal_type = if s.users.contains_key(principal) {
            "User"
        } else if s.groups.contains_key(principal) {
            "Group"
        } else {
            panic!("no user or group {principal}")
        };
        let app_role_id = match role {
            None => "00000000-0000-0000-0000-000000000000".to_string(),
            Some(name) => match s.app_roles.iter().find(|(_, v)| v == name) {
                Some((id, _)) => id.clone(),
                None => {
                    let id = format!("role-{}", s.app_roles.len() + 1);
                    s.app_roles.push((id.clone(), name.to_string()));
                    id
                }
            },
        };
        let id = format!("asg-{}", s.next());
        s.assignments.push(Assignment {
            id,
            principal_id: principal.into(),
            principal_type,
            app_role_id,
        });
    }

    pub fn unassign(&self, principal: &str) {
        self.state()
            .assignments
            .retain(|a| a.principal_id != principal);
    }

    /// Refuses every delta token issued so far, the way Graph does after 7 days.
    pub fn expire_delta_tokens(&self, how: Expiry) {
        for t in self.state().delta_tokens.values_mut() {
            t.expired = Some(how);
        }
    }

    /// The next `count` Graph requests (not the token endpoint) get `status` with
    /// `Retry-After: retry_after` seconds (no header when None).
    pub fn inject(&self, status: u16, retry_after: Option<u64>, count: usize) {
        let mut s = self.state();
        for _ in 0..count {
            s.faults.push_back((status, retry_after));
        }
    }

    /// Only these application permissions are granted from now on.
    pub fn grant(&self, permissions: &[&str]) {
        self.state().permissions = permissions.iter().map(|p| p.to_string()).collect();
    }

    pub fn set_token_lifetime(&self, seconds: u64) {
        self.state().token_lifetime = seconds;
    }

    pub fn set_delta_page_size(&self, size: usize) {
        self.state().delta_page_size = size.max(1);
    }

    /// Sends every delta entry twice, the second time in reverse order.
    pub fn set_replay(&self, replay: bool) {
        self.state().replay = replay;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }

    /// Requests to the token endpoint so far.
    pub fn token_requests(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.uri.contains("/oauth2/"))
            .count()
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl State {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn log_user(&mut self, id: &str, props: Option<Vec<String>>) {
        self.seq += 1;
        let seq = self.seq;
        self.user_log.push((seq, id.to_string(), props));
    }

    fn log_group(&mut self, id: &str, member: Option<&str>) {
        self.seq += 1;
        let seq = self.seq;
        self.group_log.push(GroupChange {
            seq,
            group: id.to_string(),
            member: member.map(str::to_string),
        });
    }

    fn new_token(&mut self) -> String {
        format!(
            "tok{}x{:08x}",
            self.next(),
            self.seq.wrapping_mul(2654435761) as u32
        )
    }

    fn project_user(&self, id: &str, user: &User, select: Option<&[String]>) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), Value::String(id.into()));
        let wanted: Vec<&str> = match select {
            Some(s) => s.iter().map(String::as_str).collect(),
            None => DEFAULT_USER_PROPERTIES.to_vec(),
        };
        for name in wanted {
            if name == "manager" {
                let manager = user.props.get(name).and_then(Value::as_str);
                let entries: Vec<Value> = manager
                    .map(|id| json!({"@odata.type": "#microsoft.graph.user", "id": id}))
                    .into_iter()
                    .collect();
                out.insert("manager@delta".into(), Value::Array(entries));
            } else if let Some(v) = user.props.get(name) {
                out.insert(name.into(), v.clone());
            }
        }
        Value::Object(out)
    }

    fn member_json(&self, id: &str, kind: Kind) -> Value {
        match kind {
            Kind::User => json!({"@odata.type": "#microsoft.graph.user", "id": id,
                "displayName": self.users.get(id).and_then(|u| u.props.get("displayName").cloned()),
                "userPrincipalName": self.users.get(id).and_then(|u| u.props.get("userPrincipalName").cloned())}),
            Kind::Group => json!({"@odata.type": "#microsoft.graph.group", "id": id,
                "displayName": self.groups.get(id).map(|g| g.display_name.clone())}),
        }
    }

    /// The entries of a users round since `since` (None = the first round).
    fn user_round(&self, since: Option<u64>, select: Option<&[String]>) -> Vec<Value> {
        let ids: Vec<String> = match since {
            None => self.users.keys().cloned().collect(),
            Some(seq) => {
                let mut seen = BTreeSet::new();
                let mut order = Vec::new();
                for (s, id, props) in self.user_log.iter().rev() {
                    if *s <= seq {
                        break;
                    }
                    let relevant = match (props, select) {
                        (Some(changed), Some(sel)) => changed.iter().any(|c| sel.contains(c)),
                        _ => true,
                    };
                    if relevant && seen.insert(id.clone()) {
                        order.push(id.clone());
                    }
                }
                order.reverse();
                order
            }
        };
        ids.iter()
            .map(|id| match self.users.get(id) {
                Some(u) if u.soft_deleted => json!({"id": id, "@removed": {"reason": "changed"}}),
                Some(u) => self.project_user(id, u, select),
                None => json!({"id": id, "@removed": {"reason": "deleted"}}),
            })
            .collect()
    }

    fn group_round(&self, since: Option<u64>, select: Option<&[String]>) -> Vec<Value> {
        let with_members = select.is_none_or(|s| s.iter().any(|p| p == "members"));
        let with_name = select.is_none_or(|s| s.iter().any(|p| p == "displayName"));
        let render = |id: &str, g: &GroupObj, members: Vec<Value>| {
            let mut o = Map::new();
            o.insert("id".into(), Value::String(id.into()));
            if with_name {
                o.insert("displayName".into(), Value::String(g.display_name.clone()));
            }
            if with_members {
                o.insert("members@delta".into(), Value::Array(members));
            }
            Value::Object(o)
        };
        match since {
            None => self
                .groups
                .iter()
                .map(|(id, g)| {
                    let members = g
                        .members
                        .iter()
                        .map(|(m, k)| self.member_json(m, *k))
                        .collect();
                    render(id, g, members)
                })
                .collect(),
            Some(seq) => {
                let mut touched: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
                let mut order: Vec<&str> = Vec::new();
                for c in self.group_log.iter().filter(|c| c.seq > seq) {
                    if !touched.contains_key(c.group.as_str()) {
                        order.push(&c.group);
                    }
                    let members = touched.entry(&c.group).or_default();
                    if let Some(m) = &c.member {
                        members.insert(m);
                    }
                }
                order
                    .into_iter()
                    .map(|id| match self.groups.get(id) {
                        None => json!({"id": id, "@removed": {"reason": "deleted"}}),
                        Some(g) => {
                            let members = touched[id]
                                .iter()
                                .map(|m| match g.members.get(*m) {
                                    Some(k) => self.member_json(m, *k),
                                    None => json!({"@odata.type": "#microsoft.graph.user", "id": m,
                                        "@removed": {"reason": "deleted"}}),
                                })
                                .collect();
                            render(id, g, members)
                        }
                    })
                    .collect()
            }
        }
    }
}
