//! The fake's HTTP side: routing, the token endpoint, authentication, faults, paging, and the
//! Graph endpoints over [`State`].

use super::*;

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message,
        "innerError": {"request-id": "fake-request", "date": "2026-01-01T00:00:00"}}});
    (status, axum::Json(body)).into_response()
}

fn token_error(status: StatusCode, error: &str, code: u64, text: &str) -> Response {
    let body = json!({"error": error, "error_description": format!("AADSTS{code}: {text}"),
        "error_codes": [code], "timestamp": "2026-01-01 00:00:00Z",
        "trace_id": "fake-trace", "correlation_id": "fake-correlation"});
    (status, axum::Json(body)).into_response()
}

pub(super) async fn handle(
    AxumState(state): AxumState<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    let response = route(&mut s, &method, &uri, &headers, &body);
    s.requests.push(Request {
        method: method.to_string(),
        uri: uri.to_string(),
        status: response.status().as_u16(),
        at: Instant::now(),
    });
    response
}

fn route(s: &mut State, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    if method == Method::POST && segments.len() == 4 && segments[1..] == ["oauth2", "v2.0", "token"]
    {
        return token(s, segments[0], body);
    }
    if method != Method::GET || segments.first() != Some(&"v1.0") {
        return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "Unsupported request");
    }
    if let Some((status, retry_after)) = s.faults.pop_front() {
        let mut r = graph_error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS),
            if status == 429 {
                "TooManyRequests"
            } else {
                "ServiceUnavailable"
            },
            "Too many requests (injected)",
        );
        if let Some(secs) = retry_after {
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
        }
        let h = r.headers_mut();
        h.insert(
            "x-ms-throttle-scope",
            HeaderValue::from_static("Tenant_Application/ReadOnly/fake"),
        );
        h.insert(
            "x-ms-throttle-information",
            HeaderValue::from_static("ResourceUnitLimitExceeded"),
        );
        return r;
    }
    if let Some(r) = authenticate(s, headers) {
        return r;
    }
    let query: HashMap<String, String> = reqwest::Url::parse(&format!("http://x{uri}"))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let rest = &segments[1..];
    let permission = match rest.first() {
        Some(&"users") => ["User.Read.All"].as_slice(),
        Some(&"groups") => ["GroupMember.Read.All", "Group.Read.All"].as_slice(),
        _ => ["Application.Read.All"].as_slice(),
    };
    if !permission.iter().any(|p| s.permissions.contains(*p))
        && !s.permissions.contains("Directory.Read.All")
    {
        return graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    }
    if let Some(token) = query.get("$skiptoken") {
        return next_page(s, token);
    }
    let mut response = match rest {
        ["users"] => listing(s, "users", &query),
        ["groups"] => listing(s, "groups", &query),
        ["users", "delta"] => delta(s, Feed::Users, &query),
        ["groups", "delta"] => delta(s, Feed::Groups, &query),
        ["groups", id, which @ ("members" | "transitiveMembers")] => {
            members(s, id, *which == "transitiveMembers", &query)
        }
        ["servicePrincipals", id] => service_principal(s, id, &query),
        ["servicePrincipals", id, "appRoleAssignedTo"] => assignments(s, id, &query),
        _ => graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Resource not found for the segment",
        ),
    };
    if response.status().is_success() {
        response
            .headers_mut()
            .insert("x-ms-resource-unit", HeaderValue::from_static("1"));
    }
    response
        .headers_mut()
        .insert("request-id", HeaderValue::from_static("fake-request"));
    response
}

fn token(s: &mut State, tenant: &str, body: &[u8]) -> Response {
    let form: HashMap<String, String> =
        reqwest::Url::parse(&format!("http://x/?{}", String::from_utf8_lossy(body)))
            .map(|u| {
                u.query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if tenant != s.tenant {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID."
            ),
        );
    }
    if field("grant_type") != "client_credentials" {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if field("client_id") != s.client_id {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory.",
                field("client_id")
            ),
        );
    }
    if let Some(assertion) = form.get("client_assertion") {
        if field("client_assertion_type")
            != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        {
            return token_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                700025,
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
            );
        }
        let audience = format!("{}/{tenant}/oauth2/v2.0/token", s.base);
        if let Err((code, text)) = check_assertion(s, assertion, &audience) {
            return token_error(StatusCode::UNAUTHORIZED, "invalid_client", code, &text);
        }
    } else if field("client_secret") != s.secret {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
    }
    if !field("scope").ends_with("/.default") {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            "The provided request must include a 'scope' input parameter.",
        );
    }
    let token = s.new_token();
    let lifetime = s.token_lifetime;
    s.tokens.insert(
        token.clone(),
        Instant::now() + Duration::from_secs(lifetime),
    );
    axum::Json(json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token})).into_response()
}

/// Checks a client assertion as Entra does: a certificate of the app by its `x5t#S256`, a PSS
/// signature, the token endpoint as `aud`, the client as `iss` and `sub`, and `nbf`..`exp`
/// around now (5 minutes of skew allowed).
fn check_assertion(s: &State, assertion: &str, audience: &str) -> Result<(), (u64, String)> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let malformed = || {
        (
            700027,
            "Client assertion is not a well-formed JWT.".to_string(),
        )
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(malformed());
    };
    let json =
        |part: &str| -> Option<Value> { serde_json::from_slice(&b64.decode(part).ok()?).ok() };
    let (Some(header_json), Some(claims_json), Ok(signature)) =
        (json(header), json(claims), b64.decode(signature))
    else {
        return Err(malformed());
    };
    if header_json["alg"] != "PS256" {
        return Err((
            700027,
            format!("Unsupported signing algorithm {}.", header_json["alg"]),
        ));
    }
    let thumbprint = header_json["x5t#S256"].as_str().unwrap_or_default();
    let Some((_, public_key)) = s.certificates.iter().find(|(t, _)| t == thumbprint) else {
        return Err((
            700027,
            format!(
                "Client assertion failed signature validation. Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}'"
            ),
        ));
    };
    let key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PSS_2048_8192_SHA256,
        public_key,
    );
    if key
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
        .is_err()
    {
        return Err((
            700027,
            "Client assertion failed signature validation.".into(),
        ));
    }
    if claims_json["aud"] != audience {
        return Err((
            700021,
            format!(
                "Client assertion audience claim does not match Realm issuer. Expected {audience}."
            ),
        ));
    }
    if claims_json["iss"] != s.client_id.as_str() || claims_json["sub"] != s.client_id.as_str() {
        return Err((
            700023,
            "Client assertion contains an invalid issuer or subject.".into(),
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (nbf, exp) = (claims_json["nbf"].as_u64(), claims_json["exp"].as_u64());
    match (nbf, exp) {
        (Some(nbf), Some(exp)) if nbf <= now + 300 && now < exp + 300 => Ok(()),
        _ => Err((
            700024,
            "Client assertion is not within its valid time range.".into(),
        )),
    }
}

fn authenticate(s: &State, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.and_then(|t| s.tokens.get(t)) {
        Some(expiry) if Instant::now() < *expiry => None,
        Some(_) => Some(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Lifetime validation failed, the token is expired.",
        )),
        None => Some(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty or invalid.",
        )),
    }
}

fn select_of(query: &HashMap<String, String>) -> Option<Vec<String>> {
    query.get("$select").map(|s| {
        s.split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()
    })
}

fn top_of(query: &HashMap<String, String>) -> Result<usize, Box<Response>> {
    match query.get("$top") {
        None => Ok(100),
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=999).contains(&n) => Ok(n),
            _ => Err(Box::new(graph_error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                &format!(
                    "Invalid page size specified: '{t}'. Must be between 1 and 999 inclusive."
                ),
            ))),
        },
    }
}

/// Serves the first page of `items` and keeps the rest behind an opaque skiptoken.
fn paged(
    s: &mut State,
    path: &str,
    items: Vec<Value>,
    page_size: usize,
    delta_link: Option<String>,
) -> Response {
    let id = s.new_token();
    s.pagings.insert(
        id.clone(),
        Paging {
            items,
            next: 0,
            page_size,
            delta_link,
            path: path.to_string(),
        },
    );
    next_page(s, &id)
}

fn next_page(s: &mut State, token: &str) -> Response {
    let base = s.base.clone();
    let Some(p) = s.pagings.get_mut(token) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid skip token.",
        );
    };
    let end = (p.next + p.page_size).min(p.items.len());
    let value: Vec<Value> = p.items[p.next..end].to_vec();
    p.next = end;
    let mut body = Map::new();
    body.insert("value".into(), Value::Array(value));
    if end < p.items.len() {
        body.insert(
            "@odata.nextLink".into(),
            Value::String(format!("{base}/v1.0/{}?$skiptoken={token}", p.path)),
        );
    } else {
        if let Some(link) = &p.delta_link {
            body.insert("@odata.deltaLink".into(), Value::String(link.clone()));
        }
        s.pagings.remove(token);
    }
    axum::Json(Value::Object(body)).into_response()
}

fn listing(s: &mut State, what: &str, query: &HashMap<String, String>) -> Response {
    let top = match top_of(query) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let select = select_of(query);
    let items: Vec<Value> = if what == "users" {
        s.users
            .iter()
            .filter(|(_, u)| !u.soft_deleted)
            .map(|(id, u)| s.project_user(id, u, select.as_deref()))
            .collect()
    } else {
        s.groups.iter().map(|(id, g)| json!({"id": id, "displayName": g.display_name, "securityEnabled": true, "mailEnabled": false, "groupTypes": []})).collect()
    };
    paged(s, what, items, top, None)
}

fn delta(s: &mut State, feed: Feed, query: &HashMap<String, String>) -> Response {
    let path = match feed {
        Feed::Users => "users/delta",
        Feed::Groups => "groups/delta",
    };
    if query.contains_key("$top") || query.contains_key("$expand") || query.contains_key("$orderby")
    {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "$top, $expand and $orderby are not supported with delta queries.",
        );
    }
    let (since, select) = match query.get("$deltatoken") {
        Some(t) if t == "latest" => {
            let link = issue_delta_link(s, feed, select_of(query), path);
            return axum::Json(json!({"value": [], "@odata.deltaLink": link})).into_response();
        }
        Some(t) => match s.delta_tokens.get(t) {
            Some(DeltaToken {
                expired: Some(Expiry::Gone),
                ..
            }) => {
                let mut r = graph_error(
                    StatusCode::GONE,
                    "resyncRequired",
                    "The delta token has expired; a full resync is required.",
                );
                if let Ok(v) = HeaderValue::from_str(&format!("{}/v1.0/{path}", s.base)) {
                    r.headers_mut().insert("location", v);
                }
                return r;
            }
            Some(DeltaToken {
                expired: Some(Expiry::SyncStateNotFound),
                ..
            })
            | None => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "syncStateNotFound",
                    "The sync state generation is not found. Restart the sync from the beginning.",
                );
            }
            Some(tok) if tok.feed != feed => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "syncStateNotFound",
                    "The delta token belongs to another resource.",
                );
            }
            Some(tok) => (Some(tok.seq), tok.select.clone()),
        },
        None => (None, select_of(query)),
    };
    let mut items = match feed {
        Feed::Users => s.user_round(since, select.as_deref()),
        Feed::Groups => s.group_round(since, select.as_deref()),
    };
    if s.replay {
        let again: Vec<Value> = items.iter().rev().cloned().collect();
        items.extend(again);
    }
    let link = issue_delta_link(s, feed, select, path);
    let size = s.delta_page_size;
    paged(s, path, items, size, Some(link))
}

fn issue_delta_link(s: &mut State, feed: Feed, select: Option<Vec<String>>, path: &str) -> String {
    let token = s.new_token();
    let seq = s.seq;
    s.delta_tokens.insert(
        token.clone(),
        DeltaToken {
            feed,
            seq,
            select,
            expired: None,
        },
    );
    format!("{}/v1.0/{path}?$deltatoken={token}", s.base)
}

fn members(s: &mut State, id: &str, transitive: bool, query: &HashMap<String, String>) -> Response {
    let top = match top_of(query) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Some(group) = s.groups.get(id) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    };
    let mut found: BTreeMap<String, Kind> = group.members.clone();
    if transitive {
        let mut queue: Vec<String> = found
            .iter()
            .filter(|(_, k)| **k == Kind::Group)
            .map(|(m, _)| m.clone())
            .collect();
        let mut seen: BTreeSet<String> = BTreeSet::from([id.to_string()]);
        while let Some(g) = queue.pop() {
            if !seen.insert(g.clone()) {
                continue;
            }
            for (m, k) in s
                .groups
                .get(&g)
                .map(|g| g.members.clone())
                .unwrap_or_default()
            {
                if k == Kind::Group {
                    queue.push(m.clone());
                }
                found.insert(m, k);
            }
        }
    }
    let items = found.iter().map(|(m, k)| s.member_json(m, *k)).collect();
    let path = format!(
        "groups/{id}/{}",
        if transitive {
            "transitiveMembers"
        } else {
            "members"
        }
    );
    paged(s, &path, items, top, None)
}

fn service_principal(s: &mut State, id: &str, query: &HashMap<String, String>) -> Response {
    if id != s.sp_id {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    }
    let roles: Vec<Value> = s
        .app_roles
        .iter()
        .map(|(rid, value)| {
            json!({"id": rid, "value": value, "displayName": value,
        "allowedMemberTypes": ["User"], "isEnabled": true, "description": value})
        })
        .collect();
    let full =
        json!({"id": s.sp_id, "appId": s.app_id, "displayName": "muster", "appRoles": roles});
    let out = match select_of(query) {
        Some(sel) => {
            let mut o = Map::new();
            o.insert("id".into(), full["id"].clone());
            for p in sel {
                if let Some(v) = full.get(&p) {
                    o.insert(p, v.clone());
                }
            }
            Value::Object(o)
        }
        None => full,
    };
    axum::Json(out).into_response()
}

fn assignments(s: &mut State, id: &str, query: &HashMap<String, String>) -> Response {
    if id != s.sp_id {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist."),
        );
    }
    let top = match top_of(query) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let items: Vec<Value> = s
        .assignments
        .iter()
        .map(|a| {
            let name = match a.principal_type {
                "User" => s
                    .users
                    .get(&a.principal_id)
                    .and_then(|u| u.props.get("displayName").cloned()),
                _ => s
                    .groups
                    .get(&a.principal_id)
                    .map(|g| Value::String(g.display_name.clone())),
            };
            json!({"id": a.id, "deletedDateTime": null, "appRoleId": a.app_role_id,
                "createdDateTime": "2026-01-01T00:00:00Z", "principalDisplayName": name,
                "principalId": a.principal_id, "principalType": a.principal_type,
                "resourceDisplayName": "muster", "resourceId": s.sp_id})
        })
        .collect();
    paged(
        s,
        &format!("servicePrincipals/{id}/appRoleAssignedTo"),
        items,
        top,
        None,
    )
}
