//! `[source] kind = "graph"`: Microsoft Entra ID through Microsoft Graph
//! (<https://learn.microsoft.com/graph/>).
//!
//! **Design.** A cycle plans against the whole directory, but Graph's delta queries return only
//! what changed. So the source keeps a mirror of users and groups (with their direct members)
//! in the state store (`store::GraphMirror`) and moves it forward each cycle with one
//! `users/delta` and one `groups/delta` round (`$select=displayName,members`). The first cycle,
//! and any cycle whose delta token Graph refuses (`410`, `syncStateNotFound`), runs the same
//! rounds without a token: that is Graph's full read, and it replaces the mirror.
//!
//! The assignments (`servicePrincipals/{id}/appRoleAssignedTo`, which has no delta query) and
//! the app's roles are read whole every cycle: one page per 999 assignments. Group expansion
//! (direct members, or transitive ones with `[scope] nested_groups`) happens locally on the
//! mirrored groups, so no `/members` or `/transitiveMembers` calls are needed per group.
//!
//! The changes read are committed to the mirror, with the new delta links, only after the cycle
//! applied its plan ([`GraphRead::changes`], `sync.rs`): a crash in between replays the same
//! delta, which lands on the same mirror and finds the target already up to date.

mod certificate;
pub mod check;
mod client;
mod delta;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use engine::config::{Config, GraphSourceConfig};
use engine::membership::{Assignment, resolve_assignments, resolve_memberships};
use engine::model::{Group, Manager, Person, Value};
use store::{GraphMirror, MemberKind, MirrorChanges, MirrorGroup, MirrorUser, Store};

pub use certificate::{CertificateError, ClientCertificate};
pub use client::{ClientAuth, Credentials, GraphClient, GraphError, GraphStats, RetryPolicy};

use super::Directory;
use crate::meters;

/// The app role id Graph uses for "Default Access" (an assignment without a role).
const DEFAULT_ACCESS: &str = "00000000-0000-0000-0000-000000000000";

/// A configured Graph source: the client (and its cached token) lives as long as the job.
pub struct GraphSource {
    pub client: GraphClient,
    base_url: String,
    users_select: String,
    service_principal_id: Option<String>,
    page_size: u32,
    nested_groups: bool,
}

/// One cycle's read.
pub struct GraphRead {
    pub directory: Directory,
    /// Commit with `Store::commit_graph_mirror` once the cycle has applied its plan.
    pub changes: MirrorChanges,
    /// Why this read was a full one (first cycle, refused delta token); `None` if incremental.
    pub full_reason: Option<String>,
    pub timings: ReadTimings,
}

/// Where a read's time went, for the log and the benchmark.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadTimings {
    /// Loading the mirror from the state store.
    pub mirror: std::time::Duration,
    /// The delta rounds and the assignments (HTTP, and applying pages).
    pub fetch: std::time::Duration,
    /// Merging, memberships, assignments: the directory the cycle plans against.
    pub build: std::time::Duration,
}

type Rounds = (
    BTreeMap<String, Option<MirrorUser>>,
    String,
    BTreeMap<String, Option<MirrorGroup>>,
    String,
    Vec<String>,
);

impl GraphSource {
    /// The source for `config`, whose `[source]` must be Graph, signing in with `auth` (a
    /// client secret's value converts into it).
    pub fn new(config: &Config, auth: impl Into<ClientAuth>) -> Result<GraphSource, GraphError> {
        let engine::config::SourceConfig::Graph(graph) = &config.source else {
            return Err(GraphError::Decode {
                url: String::new(),
                detail: "the configuration's source is not Graph".into(),
            });
        };
        let credentials = Credentials {
            token_url: format!(
                "{}/{}/oauth2/v2.0/token",
                graph.login_base_url.trim_end_matches('/'),
                graph.tenant_id
            ),
            client_id: graph.client_id.clone(),
            auth: auth.into(),
            scope: format!("{}/.default", origin(&graph.graph_base_url)),
        };
        Ok(GraphSource {
            client: GraphClient::new(credentials, graph.concurrency as usize)?,
            base_url: graph.graph_base_url.trim_end_matches('/').to_string(),
            users_select: user_properties(config, graph).join(","),
            service_principal_id: graph.service_principal_id.clone(),
            page_size: graph.page_size,
            nested_groups: config.scope.nested_groups,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Reads what changed since the mirror's delta links (or everything, always when
    /// `full_read`) and the assignments, and returns the whole directory as it stands now.
    pub async fn read(&self, store: &Store, full_read: bool) -> anyhow::Result<GraphRead> {
        let started = std::time::Instant::now();
        let mirror = tokio::task::block_in_place(|| store.graph_mirror())?;
        let mut timings = ReadTimings {
            mirror: started.elapsed(),
            ..ReadTimings::default()
        };
        let (rounds, assignments) =
            tokio::join!(self.rounds(&mirror, full_read), self.assignments());
        timings.fetch = started.elapsed() - timings.mirror;
        let (full_reason, (users, users_link, groups, groups_link, mut warnings)) = rounds?;
        let (assignments, assignment_warnings) = assignments?;
        warnings.extend(assignment_warnings);
        let full = full_reason.is_some();
        let (all_users, all_groups) = if full {
            (present(&users), present(&groups))
        } else {
            (
                merged(&mirror.users, &users),
                merged(&mirror.groups, &groups),
            )
        };
        let directory = tokio::task::block_in_place(|| {
            build_directory(
                all_users,
                all_groups,
                &assignments,
                self.nested_groups,
                warnings,
            )
        });
        timings.build = started.elapsed() - timings.mirror - timings.fetch;
        let kind = if full { "full" } else { "incremental" };
        metrics::counter!(meters::GRAPH_READS, "kind" => kind).increment(1);
        metrics::histogram!(meters::GRAPH_READ_DURATION, "kind" => kind)
            .record(started.elapsed().as_secs_f64());
        tracing::info!(
            people = directory.people.len(),
            full,
            mirror_ms = timings.mirror.as_millis() as u64,
            fetch_ms = timings.fetch.as_millis() as u64,
            build_ms = timings.build.as_millis() as u64,
            requests = self
                .client
                .stats
                .requests
                .load(std::sync::atomic::Ordering::Relaxed),
            "Graph read"
        );
        let changes = MirrorChanges {
            full,
            users: if full { keep_present(users) } else { users },
            groups: if full { keep_present(groups) } else { groups },
            users_delta_link: users_link,
            groups_delta_link: groups_link,
        };
        Ok(GraphRead {
            directory,
            changes,
            full_reason,
            timings,
        })
    }

    /// Incremental rounds from the mirror's links, or full ones when there are none, Graph
    /// refuses them, or a full read was asked for.
    async fn rounds(
        &self,
        mirror: &GraphMirror,
        full_read: bool,
    ) -> Result<(Option<String>, Rounds), GraphError> {
        let empty_users = BTreeMap::new();
        let empty_groups = BTreeMap::new();
        if full_read {
            let reason =
                "a full read was asked for: this cycle reads the whole directory".to_string();
            tracing::info!("{reason}");
            let rounds = self.full_rounds(&empty_users, &empty_groups).await?;
            return Ok((Some(reason), rounds));
        }
        if let (Some(users_link), Some(groups_link)) =
            (&mirror.users_delta_link, &mirror.groups_delta_link)
        {
            let result = futures::try_join!(
                self.users_round(users_link, &mirror.users),
                self.groups_round(groups_link, &mirror.groups),
            );
            match result {
                Ok(((u, ul, w), (g, gl))) => return Ok((None, (u, ul, g, gl, w))),
                Err(e) if e.is_delta_expired() => {
                    let reason = format!(
                        "Graph refused the saved delta token ({e}); this cycle is a full read"
                    );
                    tracing::warn!("{reason}");
                    let rounds = self.full_rounds(&empty_users, &empty_groups).await?;
                    return Ok((Some(reason), rounds));
                }
                Err(e) => return Err(e),
            }
        }
        let reason = "no delta link yet: this cycle reads the whole directory".to_string();
        tracing::info!("{reason}");
        let rounds = self.full_rounds(&empty_users, &empty_groups).await?;
        Ok((Some(reason), rounds))
    }

    async fn full_rounds(
        &self,
        users: &BTreeMap<String, MirrorUser>,
        groups: &BTreeMap<String, MirrorGroup>,
    ) -> Result<Rounds, GraphError> {
        let users_url = format!(
            "{}/users/delta?$select={}",
            self.base_url, self.users_select
        );
        let groups_url = format!("{}/groups/delta?$select=displayName,members", self.base_url);
        let ((u, ul, w), (g, gl)) = futures::try_join!(
            self.users_round(&users_url, users),
            self.groups_round(&groups_url, groups),
        )?;
        Ok((u, ul, g, gl, w))
    }

    async fn users_round(
        &self,
        url: &str,
        base: &BTreeMap<String, MirrorUser>,
    ) -> Result<(BTreeMap<String, Option<MirrorUser>>, String, Vec<String>), GraphError> {
        let mut changes = BTreeMap::new();
        let mut warnings = Vec::new();
        let link = self
            .client
            .pages(url, |page| {
                warnings.extend(delta::apply_user_page(&mut changes, base, page))
            })
            .await?;
        Ok((changes, delta_link(url, link)?, warnings))
    }

    async fn groups_round(
        &self,
        url: &str,
        base: &BTreeMap<String, MirrorGroup>,
    ) -> Result<(BTreeMap<String, Option<MirrorGroup>>, String), GraphError> {
        let mut changes = BTreeMap::new();
        let link = self
            .client
            .pages(url, |page| {
                delta::apply_group_page(&mut changes, base, page)
            })
            .await?;
        Ok((changes, delta_link(url, link)?))
    }

    /// The app's assignments with role names, or none without a service principal.
    async fn assignments(&self) -> Result<(Vec<Assignment>, Vec<String>), GraphError> {
        let Some(sp) = &self.service_principal_id else {
            return Ok((Vec::new(), Vec::new()));
        };
        let sp_url = format!(
            "{}/servicePrincipals/{sp}?$select=id,appRoles",
            self.base_url
        );
        let list_url = format!(
            "{}/servicePrincipals/{sp}/appRoleAssignedTo?$top={}",
            self.base_url, self.page_size
        );
        let mut rows = Vec::new();
        let (sp_object, _) = futures::try_join!(
            self.client.get(&sp_url),
            self.client.pages(&list_url, |page| rows.extend(page)),
        )?;
        let roles: HashMap<&str, &str> = sp_object["appRoles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let name = r["value"].as_str().or_else(|| r["displayName"].as_str())?;
                Some((r["id"].as_str()?, name))
            })
            .collect();
        let mut warnings = Vec::new();
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let kind = row["principalType"].as_str().unwrap_or_default();
            let Some(principal) = row["principalId"].as_str() else {
                continue;
            };
            if kind != "User" && kind != "Group" {
                continue;
            }
            let role_id = row["appRoleId"].as_str().unwrap_or(DEFAULT_ACCESS);
            let app_role = if role_id == DEFAULT_ACCESS {
                None
            } else if let Some(name) = roles.get(role_id) {
                Some(name.to_string())
            } else {
                warnings.push(format!(
                    "assignment of {principal} names app role {role_id}, which the service \
                     principal does not define; the id is used as the role's name"
                ));
                Some(role_id.to_string())
            };
            out.push(Assignment {
                principal_id: principal.to_string(),
                app_role,
            });
        }
        Ok((out, warnings))
    }
}

/// A delta round must end with a deltaLink; a server that stops without one cannot be resumed.
fn delta_link(url: &str, link: Option<String>) -> Result<String, GraphError> {
    link.ok_or_else(|| GraphError::Decode {
        url: url.to_string(),
        detail: "the last page of the delta round has no @odata.deltaLink".into(),
    })
}

/// The user properties `$select` asks for: what the mappings and scoping filters read, the
/// configured extras, and what muster itself needs.
fn user_properties(config: &Config, graph: &GraphSourceConfig) -> Vec<String> {
    // `manager` comes back as `manager@delta`, the manager's object id, which plugins on
    // interface 0.2.0 are shown (https://learn.microsoft.com/graph/delta-query-users).
    let mut names: BTreeSet<String> = [
        "accountEnabled",
        "displayName",
        "manager",
        "userPrincipalName",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    names.extend(config.mappings.iter().filter_map(|m| m.source.clone()));
    names.extend(
        config
            .scope
            .filters
            .iter()
            .flat_map(|f| f.clauses.iter().map(|c| c.attribute.clone())),
    );
    names.extend(graph.extra_attributes.iter().cloned());
    // Seats go to who asked first where there are more candidates than seats.
    if config.license.as_ref().is_some_and(|l| !l.seats.is_empty()) {
        names.insert(engine::seats::CREATED.to_string());
    }
    names.remove("id");
    names.into_iter().collect()
}

/// `https://graph.microsoft.com/v1.0` → `https://graph.microsoft.com`: the resource whose
/// `/.default` scope the token is asked for (graph.microsoft.us, microsoftgraph.chinacloudapi.cn
/// in national clouds).
fn origin(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => url.trim_end_matches('/').to_string(),
    }
}

fn present<T: Clone>(changes: &BTreeMap<String, Option<T>>) -> BTreeMap<String, T> {
    changes
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .collect()
}

fn keep_present<T>(changes: BTreeMap<String, Option<T>>) -> BTreeMap<String, Option<T>> {
    changes.into_iter().filter(|(_, v)| v.is_some()).collect()
}

fn merged<T: Clone>(
    base: &BTreeMap<String, T>,
    changes: &BTreeMap<String, Option<T>>,
) -> BTreeMap<String, T> {
    let mut out = base.clone();
    for (id, state) in changes {
        match state {
            Some(v) => out.insert(id.clone(), v.clone()),
            None => out.remove(id),
        };
    }
    out
}

/// People with their groups and assignments resolved, as the file source yields them.
fn build_directory(
    users: BTreeMap<String, MirrorUser>,
    groups: BTreeMap<String, MirrorGroup>,
    assignments: &[Assignment],
    nested_groups: bool,
    mut warnings: Vec<String>,
) -> Directory {
    let mut people = Vec::with_capacity(users.len());
    let mut index = HashMap::with_capacity(users.len());
    // A manager's userPrincipalName, where the manager is a user in the mirror.
    let principal_name = |id: &str| {
        users
            .get(id)
            .and_then(|m| m.attributes.get("userPrincipalName"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let managers: Vec<Option<Manager>> = users
        .values()
        .map(|user| {
            user.manager.as_ref().map(|id| Manager {
                user_principal_name: principal_name(id),
                id: id.clone(),
            })
        })
        .collect();
    for ((id, user), manager) in users.into_iter().zip(managers) {
        index.insert(id.clone(), people.len());
        let mut person = Person::new(id, user.attributes);
        person.enabled = user.enabled;
        person.soft_deleted = user.soft_deleted;
        person.manager = manager;
        people.push(person);
    }
    let mut unknown_members = 0usize;
    let groups: Vec<Group> = groups
        .iter()
        .map(|(id, g)| {
            let (mut member_people, mut member_groups) = (Vec::new(), Vec::new());
            for (member, kind) in &g.members {
                match kind {
                    MemberKind::User if index.contains_key(member) => {
                        member_people.push(member.clone())
                    }
                    MemberKind::Group if groups.contains_key(member) => {
                        member_groups.push(member.clone())
                    }
                    MemberKind::Other => {}
                    _ => unknown_members += 1,
                }
            }
            Group {
                id: id.clone(),
                display_name: g.display_name.clone(),
                member_people,
                member_groups,
            }
        })
        .collect();
    if unknown_members > 0 {
        // Replication lag: a membership can arrive before its user; the next round fixes it.
        warnings.push(format!(
            "{unknown_members} group membership(s) name users or groups not (yet) in the directory"
        ));
    }
    resolve_memberships(&mut people, &groups);
    warnings.extend(resolve_assignments(
        &mut people,
        &groups,
        assignments,
        nested_groups,
    ));
    Directory {
        people,
        groups,
        warnings,
    }
}
