//! The SCIM operations on Users and Groups: look up, get, create, patch, replace, delete.

use scim::ResourceKind;
use scim::patch::PatchOperation;
use serde_json::Value;

use crate::client::{Call, Reply, ScimClient};
use crate::error::{ClientError, snippet};
use crate::request::{Method, eq_filter, query_string, resource_path};

/// Whether a create may be sent again after a failure that may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PostRetry {
    /// Only after failures that cannot have created anything (no connection, 429). The default:
    /// anything else surfaces with [`ClientError::outcome_unknown`], for the engine to look up.
    #[default]
    WhenNotDelivered,
    /// Also after timeouts, resets and 5xx, for a caller that accepts the risk of a duplicate
    /// (a target that enforces `userName` uniqueness answers the second POST with a 409).
    Always,
}

/// What a DELETE found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Removed,
    /// 404: already gone, which is what the delete wanted.
    AlreadyGone,
}

/// One page of a filtered query.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// `totalResults`: may exceed `resources.len()` when the server pages.
    pub total: u64,
    pub resources: Vec<Value>,
}

impl ScimClient {
    /// Resources whose `attribute eq value`, first page only: a look-up by a matching attribute
    /// expects at most one, and [`lookup_one`](Self::lookup_one) counts `totalResults`.
    pub async fn find(
        &self,
        kind: ResourceKind,
        attribute: &str,
        value: &str,
    ) -> Result<Found, ClientError> {
        let filter = eq_filter(attribute, value);
        let mut pairs = vec![("filter", filter.as_str())];
        // Entra's pattern: a group's members can be thousands; a look-up needs none of them.
        if kind == ResourceKind::Group {
            pairs.push(("excludedAttributes", "members"));
        }
        let mut call = Call::new(Method::Get, kind.endpoint().to_string());
        call.query = query_string(&pairs);
        self.find_with(&call).await
    }

    pub(crate) async fn find_with(&self, call: &Call<'_>) -> Result<Found, ClientError> {
        let reply = self.execute(call).await?;
        parse_list(&reply.body).map_err(|detail| incompatible(call, &reply, detail))
    }

    pub async fn find_users(
        &self,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<Value>, ClientError> {
        Ok(self
            .find(ResourceKind::User, attribute, value)
            .await?
            .resources)
    }

    /// Every resource of `kind`, read `page_size` at a time (`startIndex`/`count`, RFC 7644
    /// §3.4.2.4), each page through the same rate limit and retries as any request. Stops at
    /// `totalResults`, or at an empty page (a server that counts more than it returns must not
    /// make this loop forever).
    pub async fn list_all(
        &self,
        kind: ResourceKind,
        page_size: usize,
    ) -> Result<Vec<Value>, ClientError> {
        let page_size = page_size.max(1);
        let mut all = Vec::new();
        loop {
            let start = (all.len() + 1).to_string();
            let count = page_size.to_string();
            let mut call = Call::new(Method::Get, kind.endpoint().to_string());
            call.query = query_string(&[("startIndex", &start), ("count", &count)]);
            let page = self.find_with(&call).await?;
            let read = page.resources.len();
            all.extend(page.resources);
            if read == 0 || all.len() as u64 >= page.total {
                return Ok(all);
            }
        }
    }

    /// The one resource whose `attribute eq value`, if any. More than one is
    /// `DuplicateTargetEntries`: adopting either could hand a person someone else's account.
    /// A server that ignores the filter is caught too, when the resource it returns carries a
    /// different value for a top-level attribute.
    pub async fn lookup_one(
        &self,
        kind: ResourceKind,
        attribute: &str,
        value: &str,
    ) -> Result<Option<Value>, ClientError> {
        let found = self.find(kind, attribute, value).await?;
        let count = found.total.max(found.resources.len() as u64);
        if count > 1 {
            return Err(ClientError::DuplicateTargetEntries {
                attribute: attribute.to_string(),
                value: value.to_string(),
                count,
            });
        }
        let Some(resource) = found.resources.into_iter().next() else {
            return Ok(None);
        };
        if let Some(Value::String(actual)) = resource
            .as_object()
            .and_then(|o| scim::resource::get_ci(o, attribute))
            && !actual.eq_ignore_ascii_case(value)
        {
            return Err(ClientError::Incompatible {
                method: Method::Get,
                path: kind.endpoint().to_string(),
                status: 200,
                detail: format!(
                    "asked for {attribute} eq {value:?}, got {actual:?}: the target ignores the filter"
                ),
            });
        }
        Ok(Some(resource))
    }

    /// `GET /Users/{id}`; a 404 is `InvalidAnchor`. Groups are read without `members`, as Entra
    /// does: membership changes go out as PATCH ops, never as a read-modify-write.
    pub async fn get(&self, kind: ResourceKind, id: &str) -> Result<Value, ClientError> {
        let mut call = Call::new(Method::Get, resource_path(kind.endpoint(), id));
        call.on_known_id = true;
        if kind == ResourceKind::Group {
            call.query = query_string(&[("excludedAttributes", "members")]);
        }
        self.resource(&call).await
    }

    pub async fn get_user(&self, id: &str) -> Result<Value, ClientError> {
        self.get(ResourceKind::User, id).await
    }

    /// `POST /Users`; returns the created resource, which carries its `id`. A 409 uniqueness is
    /// `EntryConflict`; see [`PostRetry`] for what is retried.
    pub async fn create(
        &self,
        kind: ResourceKind,
        resource: &Value,
        retry: PostRetry,
    ) -> Result<Value, ClientError> {
        let mut call = Call::new(Method::Post, kind.endpoint().to_string());
        call.body = Some(resource);
        call.retry_post = retry == PostRetry::Always;
        let created = self.resource(&call).await?;
        match created.get("id") {
            Some(Value::String(id)) if !id.is_empty() => Ok(created),
            _ => Err(ClientError::Incompatible {
                method: Method::Post,
                path: call.path,
                status: 201,
                detail: "the created resource has no id".to_string(),
            }),
        }
    }

    pub async fn create_user(&self, resource: &Value) -> Result<Value, ClientError> {
        self.create(ResourceKind::User, resource, PostRetry::WhenNotDelivered)
            .await
    }

    /// `PATCH /Users/{id}` with the plan's operations. 204 or an empty 200 give `None`; a 200
    /// whose body is not JSON is tolerated (the change was applied) and logged.
    pub async fn patch(
        &self,
        kind: ResourceKind,
        id: &str,
        operations: &[PatchOperation],
    ) -> Result<Option<Value>, ClientError> {
        if operations.is_empty() {
            return Ok(None);
        }
        let body = PatchOperation::request_body(operations);
        let mut call = Call::new(Method::Patch, resource_path(kind.endpoint(), id));
        call.body = Some(&body);
        call.on_known_id = true;
        let reply = self.execute(&call).await?;
        if reply.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        match serde_json::from_slice::<Value>(&reply.body) {
            Ok(value @ Value::Object(_)) => Ok(Some(value)),
            _ => {
                tracing::warn!(path = %call.path, status = reply.status, "PATCH applied but the response body is not a SCIM resource");
                Ok(None)
            }
        }
    }

    pub async fn patch_user(
        &self,
        id: &str,
        operations: &[PatchOperation],
    ) -> Result<Option<Value>, ClientError> {
        self.patch(ResourceKind::User, id, operations).await
    }

    /// `PUT /Users/{id}`; returns the resource as the target now has it.
    pub async fn replace(
        &self,
        kind: ResourceKind,
        id: &str,
        resource: &Value,
    ) -> Result<Value, ClientError> {
        let mut call = Call::new(Method::Put, resource_path(kind.endpoint(), id));
        call.body = Some(resource);
        call.on_known_id = true;
        self.resource(&call).await
    }

    pub async fn replace_user(&self, id: &str, resource: &Value) -> Result<Value, ClientError> {
        self.replace(ResourceKind::User, id, resource).await
    }

    /// `DELETE /Users/{id}`; a 404 means the resource is already gone, which is success.
    pub async fn delete(&self, kind: ResourceKind, id: &str) -> Result<Deleted, ClientError> {
        let call = Call::new(Method::Delete, resource_path(kind.endpoint(), id));
        match self.execute(&call).await {
            Ok(_) => Ok(Deleted::Removed),
            Err(ClientError::Status { status: 404, .. }) => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    pub async fn delete_user(&self, id: &str) -> Result<Deleted, ClientError> {
        self.delete(ResourceKind::User, id).await
    }

    pub async fn find_groups(
        &self,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<Value>, ClientError> {
        Ok(self
            .find(ResourceKind::Group, attribute, value)
            .await?
            .resources)
    }

    pub async fn get_group(&self, id: &str) -> Result<Value, ClientError> {
        self.get(ResourceKind::Group, id).await
    }

    pub async fn create_group(&self, resource: &Value) -> Result<Value, ClientError> {
        self.create(ResourceKind::Group, resource, PostRetry::WhenNotDelivered)
            .await
    }

    pub async fn patch_group(
        &self,
        id: &str,
        operations: &[PatchOperation],
    ) -> Result<Option<Value>, ClientError> {
        self.patch(ResourceKind::Group, id, operations).await
    }

    pub async fn delete_group(&self, id: &str) -> Result<Deleted, ClientError> {
        self.delete(ResourceKind::Group, id).await
    }

    /// A call whose success body must be one JSON object.
    async fn resource(&self, call: &Call<'_>) -> Result<Value, ClientError> {
        let reply = self.execute(call).await?;
        match serde_json::from_slice::<Value>(&reply.body) {
            Ok(value @ Value::Object(_)) => Ok(value),
            Ok(_) => Err(incompatible(
                call,
                &reply,
                "the body is JSON but not an object".to_string(),
            )),
            Err(e) => Err(incompatible(
                call,
                &reply,
                format!(
                    "the body is not JSON ({e}): {}",
                    snippet(&reply.body).unwrap_or_default()
                ),
            )),
        }
    }
}

fn incompatible(call: &Call<'_>, reply: &Reply, detail: String) -> ClientError {
    ClientError::Incompatible {
        method: call.method,
        path: call.path.clone(),
        status: reply.status,
        detail,
    }
}

/// A ListResponse, read liberally (keys case-insensitive, `schemas` not required) but with the
/// one field that tells it from any other JSON: `totalResults`.
fn parse_list(body: &[u8]) -> Result<Found, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the body is not JSON ({e}): {}",
            snippet(body).unwrap_or_else(|| "(empty)".to_string())
        )
    })?;
    let object = value
        .as_object()
        .ok_or("the body is JSON but not an object")?;
    let get = |name| scim::resource::get_ci(object, name);
    let total = match get("totalResults") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        format!(
            "not a ListResponse, no totalResults: {}",
            snippet(body).unwrap_or_default()
        )
    })?;
    let resources = match get("Resources") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err("Resources is not an array".to_string()),
    };
    Ok(Found { total, resources })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_responses() {
        let ok = |body: Value| parse_list(body.to_string().as_bytes());
        let page = ok(
            json!({"schemas": [scim::resource::LIST_RESPONSE_SCHEMA], "totalResults": 0, "Resources": [], "startIndex": 1, "itemsPerPage": 20}),
        );
        assert_eq!(
            page,
            Ok(Found {
                total: 0,
                resources: vec![]
            })
        );
        assert_eq!(
            ok(json!({"totalResults": 0})),
            Ok(Found {
                total: 0,
                resources: vec![]
            })
        );
        assert_eq!(
            ok(json!({"TotalResults": "1", "resources": [{"id": "a"}]})),
            Ok(Found {
                total: 1,
                resources: vec![json!({"id": "a"})]
            })
        );
        assert!(ok(json!({"ok": true})).is_err());
        assert!(ok(json!({"totalResults": 1, "Resources": {}})).is_err());
        assert!(parse_list(b"<html>hi</html>").is_err());
    }
}
