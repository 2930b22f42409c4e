//! The simulator's state: users and groups in memory, with Zoom's rules applied on every write.
//!
//! Plain synchronous code over `serde_json` values, no HTTP: the routes parse requests and
//! render responses, the store decides. Resources are kept as attribute maps (what the client
//! sent, normalised) plus server-owned `meta`; `schemas`, `groups` and the view-dependent
//! omissions are worked out when a resource is rendered.

pub mod group;
pub mod seats;
pub mod user;

use std::collections::HashMap;

use scim::filter::CompareOp;
use scim::patch::PatchOperation;
use scim::{Filter, ResourceKind, ScimError, ScimType};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::SimError;
use crate::ids::IdGen;

/// Where and when a write happens: the location prefix (`http://host:port/scim2`) and the time.
#[derive(Debug, Clone)]
pub struct WriteContext {
    pub location_base: String,
    pub now: String,
}

/// Server-owned metadata of a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meta {
    created: String,
    last_modified: String,
    location: String,
    version: u64,
}

impl Meta {
    fn new(kind: ResourceKind, id: &str, ctx: &WriteContext) -> Self {
        Meta {
            created: ctx.now.clone(),
            last_modified: ctx.now.clone(),
            location: format!("{}{}/{id}", ctx.location_base, kind.endpoint()),
            version: 1,
        }
    }

    fn touch(&mut self, ctx: &WriteContext) {
        self.last_modified = ctx.now.clone();
        self.version += 1;
    }

    fn to_json(&self, kind: ResourceKind) -> Value {
        json!({
            "resourceType": kind.name(),
            "created": self.created,
            "lastModified": self.last_modified,
            "location": self.location,
            "version": etag(self.version),
        })
    }
}

/// The weak ETag of a version, as `meta.version` and the `ETag` header carry it.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    /// Creation order, which lists follow.
    seq: u64,
    attrs: Map<String, Value>,
    meta: Meta,
}

/// One resource type's rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Table {
    rows: HashMap<String, Row>,
    next_seq: u64,
}

impl Table {
    fn insert(&mut self, id: String, attrs: Map<String, Value>, meta: Meta) {
        self.next_seq += 1;
        self.rows.insert(
            id,
            Row {
                seq: self.next_seq,
                attrs,
                meta,
            },
        );
    }

    /// Rows in creation order.
    fn ordered(&self) -> Vec<(&String, &Row)> {
        let mut rows: Vec<_> = self.rows.iter().collect();
        rows.sort_by_key(|(_, row)| row.seq);
        rows
    }

    fn get(&self, kind: ResourceKind, id: &str) -> Result<&Row, SimError> {
        self.rows.get(id).ok_or_else(|| not_found(kind, id))
    }
}

/// The index key of a user: its `userName`, lower-cased (userName is case-insensitive).
fn user_name_key(attrs: &Map<String, Value>) -> Option<String> {
    attrs
        .get("userName")
        .and_then(Value::as_str)
        .map(str::to_lowercase)
}

/// The value of a plain `userName eq "..."` filter, the one look-up the index answers.
fn user_name_eq(filter: &Filter) -> Option<&str> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(s),
        } if path.urn().is_none()
            && path.sub_attribute().is_none()
            && path.value_filter().is_none()
            && path.attribute().eq_ignore_ascii_case("userName") =>
        {
            Some(s)
        }
        _ => None,
    }
}

/// Zoom's wording for an unknown id (<https://devforum.zoom.us/t/7646>), with 404 as RFC 7644
/// wants.
fn not_found(kind: ResourceKind, id: &str) -> SimError {
    SimError::not_found(format!(
        "{} {id} not exist or not belong to this account.",
        kind.name()
    ))
}

fn conflict(detail: String) -> SimError {
    SimError::Scim(ScimError::new(409, Some(ScimType::Uniqueness), detail))
}

/// All users and groups.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Store {
    users: Table,
    groups: Table,
    #[serde(skip, default = "IdGen::from_clock")]
    ids: IdGen,
    /// Lower-cased `userName` → id. Every create is preceded by a `userName eq` look-up (as
    /// Entra and muster do), so without it an initial sync of n people costs n² renders.
    #[serde(skip)]
    by_name: HashMap<String, String>,
    /// Seats bought, by name ([`seats`]); configuration, not data.
    #[serde(skip)]
    seats: std::collections::BTreeMap<String, u32>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            users: Table::default(),
            groups: Table::default(),
            ids: IdGen::from_clock(),
            by_name: HashMap::new(),
            seats: Default::default(),
        }
    }
}

impl Store {
    /// A store whose ids are reproducible.
    pub fn with_ids(ids: IdGen) -> Self {
        Store {
            ids,
            ..Store::default()
        }
    }

    /// Limits the users holding each seat name ([`seats`]).
    pub fn set_seats(&mut self, seats: std::collections::BTreeMap<String, u32>) {
        self.seats = seats;
    }

    /// Refuses `attrs` for user `id` (None: a new user) if it takes a seat none is left of.
    fn check_seats(&self, attrs: &Map<String, Value>, id: Option<&str>) -> Result<(), SimError> {
        if self.seats.is_empty() {
            return Ok(());
        }
        let before = id.and_then(|id| self.users.rows.get(id));
        for (name, &bought) in &self.seats {
            let wanted = seats::holds(attrs, name);
            let held = before.is_some_and(|row| seats::holds(&row.attrs, name));
            if !wanted || held {
                continue;
            }
            let used = self
                .users
                .rows
                .values()
                .filter(|row| seats::holds(&row.attrs, name))
                .count();
            if used >= bought as usize {
                return Err(seats::exhausted(name, used, bought));
            }
        }
        Ok(())
    }

    /// Rebuilds the `userName` index (after loading from a file, which does not carry it).
    pub fn reindex(&mut self) {
        self.by_name = self
            .users
            .rows
            .iter()
            .filter_map(|(id, row)| Some((user_name_key(&row.attrs)?, id.clone())))
            .collect();
    }

    fn new_id(&mut self) -> String {
        loop {
            let id = self.ids.next_id();
            if !self.users.rows.contains_key(&id) && !self.groups.rows.contains_key(&id) {
                return id;
            }
        }
    }

    // ---- users -------------------------------------------------------------------------------

    /// Creates a user; returns it as a GET by id would.
    pub fn create_user(&mut self, body: Value, ctx: &WriteContext) -> Result<Value, SimError> {
        let mut attrs = user::normalize(body)?;
        user::strip_nulls(&mut attrs);
        user::validate(&attrs)?;
        self.check_user_name(&attrs, None)?;
        self.check_seats(&attrs, None)?;
        let id = self.new_id();
        let meta = Meta::new(ResourceKind::User, &id, ctx);
        tracing::debug!(%id, "user created");
        if let Some(key) = user_name_key(&attrs) {
            self.by_name.insert(key, id.clone());
        }
        self.users.insert(id.clone(), attrs, meta);
        self.user(&id)
    }

    /// `userName` is unique across the account, compared case-insensitively (RFC 7643 §4.1.1).
    fn check_user_name(
        &self,
        attrs: &Map<String, Value>,
        except: Option<&str>,
    ) -> Result<(), SimError> {
        let name = attrs
            .get("userName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let taken = self
            .by_name
            .get(&name.to_lowercase())
            .is_some_and(|owner| Some(owner.as_str()) != except);
        if taken {
            return Err(conflict(format!("User already exists: {name}")));
        }
        Ok(())
    }

    /// A user as a GET by id shows it.
    pub fn user(&self, id: &str) -> Result<Value, SimError> {
        let row = self.users.get(ResourceKind::User, id)?;
        Ok(Value::Object(self.render_user(id, row)))
    }

    fn render_user(&self, id: &str, row: &Row) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("schemas".into(), user::schemas_of(&row.attrs));
        out.insert("id".into(), Value::from(id));
        out.extend(row.attrs.clone());
        let groups = self.groups_of(id);
        if !groups.is_empty() {
            out.insert("groups".into(), Value::Array(groups));
        }
        out.insert("meta".into(), row.meta.to_json(ResourceKind::User));
        user::full_view(&mut out);
        out
    }

    fn groups_of(&self, user_id: &str) -> Vec<Value> {
        self.groups
            .ordered()
            .into_iter()
            .filter(|(_, row)| group::member_ids(&row.attrs).iter().any(|m| m == user_id))
            .map(|(gid, row)| {
                json!({"value": gid, "display": row.attrs.get("displayName"), "type": "direct"})
            })
            .collect()
    }

    /// Users matching `filter` in creation order, as a GET by id shows them (the filter sees
    /// every attribute; the list view is applied after paging, by the route).
    pub fn users(&self, filter: Option<&Filter>) -> Vec<Value> {
        if let Some(name) = filter.and_then(user_name_eq) {
            let found = self.by_name.get(&name.to_lowercase());
            let row = found.and_then(|id| Some((id, self.users.rows.get(id)?)));
            return row
                .map(|(id, row)| Value::Object(self.render_user(id, row)))
                .into_iter()
                .collect();
        }
        self.users
            .ordered()
            .into_iter()
            .map(|(id, row)| Value::Object(self.render_user(id, row)))
            .filter(|u| filter.is_none_or(|f| f.matches(u)))
            .collect()
    }

    /// Zoom's PUT: "include only the parameters you want to update" — attributes sent replace
    /// stored ones (extension objects key by key), attributes not sent are kept, `null` removes.
    pub fn put_user(
        &mut self,
        id: &str,
        body: Value,
        ctx: &WriteContext,
    ) -> Result<Value, SimError> {
        reject_other_id(&body, id)?;
        let row = self.users.get(ResourceKind::User, id)?;
        let mut attrs = row.attrs.clone();
        for (key, value) in user::normalize(body)? {
            match (attrs.get_mut(&key), value) {
                (Some(Value::Object(old)), Value::Object(new)) if key.starts_with("urn:") => {
                    old.extend(new);
                }
                (_, value) => {
                    attrs.insert(key, value);
                }
            }
        }
        self.store_user(id, attrs, ctx)
    }

    /// PATCH (RFC 7644 §3.5.2, RFC and Entra dialects via `scim::patch`), applied atomically.
    pub fn patch_user(
        &mut self,
        id: &str,
        ops: &[PatchOperation],
        ctx: &WriteContext,
    ) -> Result<Value, SimError> {
        let row = self.users.get(ResourceKind::User, id)?;
        let mut resource = Map::new();
        resource.insert("schemas".into(), user::schemas_of(&row.attrs));
        resource.insert("id".into(), Value::from(id));
        resource.extend(row.attrs.clone());
        let patched = apply_patch(ResourceKind::User, Value::Object(resource), ops, id)?;
        self.store_user(id, user::normalize(patched)?, ctx)
    }

    fn store_user(
        &mut self,
        id: &str,
        mut attrs: Map<String, Value>,
        ctx: &WriteContext,
    ) -> Result<Value, SimError> {
        user::strip_nulls(&mut attrs);
        user::validate(&attrs)?;
        self.check_user_name(&attrs, Some(id))?;
        self.check_seats(&attrs, Some(id))?;
        let row = self
            .users
            .rows
            .get_mut(id)
            .ok_or_else(|| not_found(ResourceKind::User, id))?;
        let (old_key, new_key) = (user_name_key(&row.attrs), user_name_key(&attrs));
        row.attrs = attrs;
        row.meta.touch(ctx);
        if old_key != new_key {
            if let Some(old) = old_key {
                self.by_name.remove(&old);
            }
            if let Some(new) = new_key {
                self.by_name.insert(new, id.to_string());
            }
        }
        self.user(id)
    }

    /// Deletes a user and takes it out of every group.
    pub fn delete_user(&mut self, id: &str, ctx: &WriteContext) -> Result<(), SimError> {
        let removed = self
            .users
            .rows
            .remove(id)
            .ok_or_else(|| not_found(ResourceKind::User, id))?;
        if let Some(key) = user_name_key(&removed.attrs) {
            self.by_name.remove(&key);
        }
        for row in self.groups.rows.values_mut() {
            let Some(Value::Array(members)) = row.attrs.get_mut("members") else {
                continue;
            };
            let before = members.len();
            members.retain(|m| m.get("value").and_then(Value::as_str) != Some(id));
            if members.len() != before {
                row.meta.touch(ctx);
            }
        }
        Ok(())
    }

    /// A user by `userName`, case-insensitively.
    pub fn user_by_name(&self, user_name: &str) -> Option<Value> {
        let id = self.by_name.get(&user_name.to_lowercase())?;
        let row = self.users.rows.get(id)?;
        Some(Value::Object(self.render_user(id, row)))
    }

    // ---- groups ------------------------------------------------------------------------------

    pub fn create_group(&mut self, body: Value, ctx: &WriteContext) -> Result<Value, SimError> {
        let attrs = self.checked_group(group::normalize(body)?, None)?;
        let id = self.new_id();
        let meta = Meta::new(ResourceKind::Group, &id, ctx);
        self.groups.insert(id.clone(), attrs, meta);
        self.group(&id)
    }

    pub fn group(&self, id: &str) -> Result<Value, SimError> {
        let row = self.groups.get(ResourceKind::Group, id)?;
        Ok(Value::Object(render_group(id, row)))
    }

    pub fn groups(&self, filter: Option<&Filter>) -> Vec<Value> {
        self.groups
            .ordered()
            .into_iter()
            .map(|(id, row)| Value::Object(render_group(id, row)))
            .filter(|g| filter.is_none_or(|f| f.matches(g)))
            .collect()
    }

    pub fn patch_group(
        &mut self,
        id: &str,
        ops: &[PatchOperation],
        ctx: &WriteContext,
    ) -> Result<Value, SimError> {
        let row = self.groups.get(ResourceKind::Group, id)?;
        let patched = apply_patch(
            ResourceKind::Group,
            Value::Object(render_group(id, row)),
            ops,
            id,
        )?;
        let attrs = self.checked_group(group::normalize(patched)?, Some(id))?;
        let row = self
            .groups
            .rows
            .get_mut(id)
            .ok_or_else(|| not_found(ResourceKind::Group, id))?;
        row.attrs = attrs;
        row.meta.touch(ctx);
        self.group(id)
    }

    pub fn delete_group(&mut self, id: &str) -> Result<(), SimError> {
        self.groups
            .rows
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| not_found(ResourceKind::Group, id))
    }

    /// Validates a group, checks its name is free and its members exist, and fills each member's
    /// `display` from the user, as Zoom shows members by name.
    fn checked_group(
        &self,
        mut attrs: Map<String, Value>,
        except: Option<&str>,
    ) -> Result<Map<String, Value>, SimError> {
        group::validate(&attrs)?;
        let name = attrs
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let taken = self.groups.rows.iter().any(|(gid, row)| {
            Some(gid.as_str()) != except
                && row
                    .attrs
                    .get("displayName")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        });
        if taken {
            return Err(conflict(format!("Group name {name} already exists")));
        }
        let mut members = Vec::new();
        for member_id in group::member_ids(&attrs) {
            // 400, not 404: the group exists, the request is what is wrong. The wording is
            // Zoom's (https://devforum.zoom.us/t/7646), whose example carries 400 too.
            let row = self.users.rows.get(&member_id).ok_or_else(|| {
                SimError::bad_request(format!(
                    "User {member_id} not exist or not belong to this account."
                ))
            })?;
            let display = row
                .attrs
                .get("displayName")
                .or_else(|| row.attrs.get("userName"));
            members.push(json!({"value": member_id, "display": display}));
        }
        if attrs.contains_key("members") {
            attrs.insert("members".into(), Value::Array(members));
        }
        Ok(attrs)
    }
}

fn render_group(id: &str, row: &Row) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([ResourceKind::Group.schema()]));
    out.insert("id".into(), Value::from(id));
    out.extend(row.attrs.clone());
    out.insert("meta".into(), row.meta.to_json(ResourceKind::Group));
    out
}

/// A body's `id`, if it names another resource, is a change of a read-only attribute.
fn reject_other_id(body: &Value, id: &str) -> Result<(), SimError> {
    match body.get("id") {
        Some(Value::String(sent)) if sent != id => Err(SimError::Scim(ScimError::bad_request(
            ScimType::Mutability,
            format!("id is read-only: cannot change {id} to {sent}"),
        ))),
        _ => Ok(()),
    }
}

/// Applies PATCH operations to a rendered resource and refuses any that changed its `id`.
fn apply_patch(
    kind: ResourceKind,
    mut resource: Value,
    ops: &[PatchOperation],
    id: &str,
) -> Result<Value, SimError> {
    scim::patch::apply_as(&mut resource, ops, kind)?;
    match resource.get("id").and_then(Value::as_str) {
        Some(after) if after == id => Ok(resource),
        _ => Err(SimError::Scim(ScimError::bad_request(
            ScimType::Mutability,
            "id is read-only",
        ))),
    }
}
