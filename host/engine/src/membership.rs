//! Group memberships: from the directory's direct memberships and group nesting to every
//! person's direct and transitive groups.
//!
//! Sources describe membership from the group's side (Graph's `/groups/{id}/members`, the file
//! source's `members` lists); plugins and scoping want it from the person's side, so it is
//! turned around here once per cycle.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::model::{Group, GroupRef, Person};

/// Each person's groups, keyed by person id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Memberships {
    pub direct: BTreeMap<String, Vec<GroupRef>>,
    /// Every group reached through nesting, direct ones included, in a stable order (by the
    /// order groups are given, then discovery).
    pub transitive: BTreeMap<String, Vec<GroupRef>>,
}

/// Computes direct and transitive groups for every person who is a member of any group.
///
/// Nesting cycles (A ∈ B ∈ A), which Entra forbids but a snapshot file may contain, end the walk
/// instead of looping: every group is visited at most once per starting group.
pub fn memberships(groups: &[Group]) -> Memberships {
    let by_id: HashMap<&str, &Group> = groups.iter().map(|g| (g.id.as_str(), g)).collect();
    // parent groups of each group: who lists it as a member group.
    let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
    for group in groups {
        for child in &group.member_groups {
            parents
                .entry(child.as_str())
                .or_default()
                .push(group.id.as_str());
        }
    }
    let mut ancestors_cache: HashMap<&str, Vec<(&str, usize)>> = HashMap::new();
    let mut out = Memberships::default();
    // Each transitive group with the nesting depth it was reached at, so that the nearest
    // direct group names its `via`.
    let mut reached: BTreeMap<String, Vec<(GroupRef, usize)>> = BTreeMap::new();
    for group in groups {
        let ancestors = ancestors_cache
            .entry(group.id.as_str())
            .or_insert_with(|| ancestors_of(group.id.as_str(), &parents))
            .clone();
        for person in &group.member_people {
            push_unique(
                out.direct.entry(person.clone()).or_default(),
                group_ref(group),
            );
            let transitive = reached.entry(person.clone()).or_default();
            for &(id, depth) in &ancestors {
                let Some(g) = by_id.get(id) else { continue };
                let via = (depth > 0).then(|| group.display_name.clone());
                match transitive.iter_mut().find(|(t, _)| t.id == id) {
                    Some(known) if known.1 > depth => {
                        known.0.via = via;
                        known.1 = depth;
                    }
                    Some(_) => {}
                    None => {
                        let mut reached = group_ref(g);
                        reached.via = via;
                        transitive.push((reached, depth));
                    }
                }
            }
        }
    }
    out.transitive = reached
        .into_iter()
        .map(|(person, groups)| (person, groups.into_iter().map(|(g, _)| g).collect()))
        .collect();
    out
}

/// Fills `direct_groups` and `transitive_groups` of each person from the groups' member lists,
/// replacing what was there.
pub fn resolve_memberships(people: &mut [Person], groups: &[Group]) {
    let mut m = memberships(groups);
    for person in people {
        person.direct_groups = m.direct.remove(&person.id).unwrap_or_default();
        person.transitive_groups = m.transitive.remove(&person.id).unwrap_or_default();
    }
}

/// The app assigned to a person or a group, with the role's name (Graph's
/// `appRoleAssignedTo`, whose role ids a source resolves to names before they get here).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Assignment {
    pub principal_id: String,
    #[serde(default)]
    pub app_role: Option<String>,
}

/// Marks who is assigned, directly or through a group (its direct members, or every member
/// of its nested groups too when `nested_groups`: Entra reaches direct members only), and
/// gives them the assignments' roles. Memberships must be resolved first. Returns a warning
/// for each assignment to an id that is neither a person nor a group.
pub fn resolve_assignments(
    people: &mut [Person],
    groups: &[Group],
    assignments: &[Assignment],
    nested_groups: bool,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let person_index: HashMap<&str, usize> = people
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let group_ids: HashSet<&str> = groups.iter().map(|g| g.id.as_str()).collect();
    // Group assignments by group id, in assignment order: each person then looks up their own
    // few groups, instead of every group assignment scanning every person.
    let mut by_group: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut direct: Vec<(usize, usize)> = Vec::new();
    for (n, a) in assignments.iter().enumerate() {
        if let Some(&i) = person_index.get(a.principal_id.as_str()) {
            direct.push((i, n));
        } else if group_ids.contains(a.principal_id.as_str()) {
            by_group.entry(a.principal_id.as_str()).or_default().push(n);
        } else {
            warnings.push(format!(
                "assignment to {:?}, which is neither a person nor a group",
                a.principal_id
            ));
        }
    }
    for (i, n) in direct {
        people[i].assigned_directly = true;
        people[i].app_roles.extend(assignments[n].app_role.clone());
    }
    let mut hits = Vec::new();
    for person in people.iter_mut() {
        let groups = if nested_groups {
            &person.transitive_groups
        } else {
            &person.direct_groups
        };
        hits.clear();
        for g in groups {
            hits.extend(by_group.get(g.id.as_str()).into_iter().flatten().copied());
        }
        hits.sort_unstable();
        hits.dedup();
        for &n in &hits {
            let a = &assignments[n];
            person.assigned_via_groups.push(a.principal_id.clone());
            person.app_roles.extend(a.app_role.clone());
        }
    }
    for person in people.iter_mut() {
        person.app_roles.sort();
        person.app_roles.dedup();
    }
    warnings
}

/// The group itself (depth 0) followed by every group that contains it, breadth first, each
/// once, with its nesting depth.
fn ancestors_of<'a>(
    start: &'a str,
    parents: &HashMap<&'a str, Vec<&'a str>>,
) -> Vec<(&'a str, usize)> {
    let mut seen: HashSet<&str> = HashSet::from([start]);
    let mut order = vec![(start, 0)];
    let mut next = 0;
    while let Some(&(current, depth)) = order.get(next) {
        next += 1;
        for &parent in parents.get(current).map(Vec::as_slice).unwrap_or_default() {
            if seen.insert(parent) {
                order.push((parent, depth + 1));
            }
        }
    }
    order
}

fn group_ref(group: &Group) -> GroupRef {
    GroupRef {
        id: group.id.clone(),
        display_name: group.display_name.clone(),
        via: None,
    }
}

fn push_unique(list: &mut Vec<GroupRef>, group: GroupRef) {
    if !list.iter().any(|g| g.id == group.id) {
        list.push(group);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str, people: &[&str], groups: &[&str]) -> Group {
        Group {
            id: id.into(),
            display_name: format!("G-{id}"),
            member_people: people.iter().map(|s| s.to_string()).collect(),
            member_groups: groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn ids(list: Option<&Vec<GroupRef>>) -> Vec<&str> {
        list.map(|l| l.iter().map(|g| g.id.as_str()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn nesting_cycles_and_diamonds() {
        // (groups, person, expected direct, expected transitive)
        type Case = (
            Vec<Group>,
            &'static str,
            Vec<&'static str>,
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (vec![group("a", &["p"], &[])], "p", vec!["a"], vec!["a"]),
            (
                vec![
                    group("a", &["p"], &[]),
                    group("b", &[], &["a"]),
                    group("c", &[], &["b"]),
                ],
                "p",
                vec!["a"],
                vec!["a", "b", "c"],
            ),
            // cycle a ∈ b ∈ a
            (
                vec![group("a", &["p"], &["b"]), group("b", &[], &["a"])],
                "p",
                vec!["a"],
                vec!["a", "b"],
            ),
            // self-membership
            (vec![group("a", &["p"], &["a"])], "p", vec!["a"], vec!["a"]),
            // diamond: a ∈ b, a ∈ c, b ∈ d, c ∈ d; p direct in a and d
            (
                vec![
                    group("a", &["p"], &[]),
                    group("b", &[], &["a"]),
                    group("c", &[], &["a"]),
                    group("d", &["p"], &["b", "c"]),
                ],
                "p",
                vec!["a", "d"],
                vec!["a", "b", "c", "d"],
            ),
            // member group that is not in the snapshot is ignored
            (
                vec![group("a", &["p"], &[]), group("b", &[], &["a", "zz"])],
                "p",
                vec!["a"],
                vec!["a", "b"],
            ),
            (vec![group("a", &["q"], &[])], "p", vec![], vec![]),
        ];
        for (i, (groups, person, direct, transitive)) in cases.into_iter().enumerate() {
            let m = memberships(&groups);
            assert_eq!(ids(m.direct.get(person)), direct, "case {i} direct");
            assert_eq!(
                ids(m.transitive.get(person)),
                transitive,
                "case {i} transitive"
            );
        }
    }

    #[test]
    fn transitive_groups_name_the_nearest_direct_group_they_came_through() {
        // p is direct in a and e; a ∈ b ∈ c ∈ d and e ∈ d: d is nearer through e.
        let groups = [
            group("a", &["p"], &[]),
            group("b", &[], &["a"]),
            group("c", &[], &["b"]),
            group("d", &[], &["c", "e"]),
            group("e", &["p"], &[]),
        ];
        let m = memberships(&groups);
        let via: Vec<(&str, Option<&str>)> = m.transitive["p"]
            .iter()
            .map(|g| (g.id.as_str(), g.via.as_deref()))
            .collect();
        assert_eq!(
            via,
            [
                ("a", None),
                ("b", Some("G-a")),
                ("c", Some("G-a")),
                ("d", Some("G-e")),
                ("e", None),
            ]
        );
        assert!(m.direct["p"].iter().all(|g| g.via.is_none()));
    }

    #[test]
    fn resolve_fills_people() {
        let mut people = vec![
            Person::new("p", Default::default()),
            Person::new("q", Default::default()),
        ];
        resolve_memberships(
            &mut people,
            &[group("a", &["p"], &[]), group("b", &[], &["a"])],
        );
        assert_eq!(people[0].transitive_groups.len(), 2);
        assert!(people[1].direct_groups.is_empty());
    }

    #[test]
    fn assignments_reach_people_directly_and_through_groups() {
        let mut people: Vec<Person> = ["p", "q", "r"]
            .iter()
            .map(|id| Person::new(*id, Default::default()))
            .collect();
        let groups = [group("a", &["q"], &[]), group("b", &[], &["a"])];
        let assignment = |id: &str, role: Option<&str>| Assignment {
            principal_id: id.into(),
            app_role: role.map(str::to_string),
        };
        let assignments = [
            assignment("p", Some("Admin")),
            assignment("b", Some("User")),
            assignment("a", Some("User")),
            assignment("ghost", None),
        ];
        resolve_memberships(&mut people, &groups);
        let warnings = resolve_assignments(&mut people, &groups, &assignments, false);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("ghost"));
        assert!(people[0].assigned_directly);
        assert_eq!(people[0].app_roles, ["Admin"]);
        assert_eq!(
            people[1].assigned_via_groups,
            ["a"],
            "b reaches q only through nesting"
        );
        assert_eq!(people[1].app_roles, ["User"]);
        assert!(!people[2].is_assigned());

        let mut nested: Vec<Person> = vec![Person::new("q", Default::default())];
        resolve_memberships(&mut nested, &groups);
        resolve_assignments(&mut nested, &groups, &assignments, true);
        assert_eq!(
            nested[0].assigned_via_groups,
            ["b", "a"],
            "in assignment order"
        );
        assert_eq!(nested[0].app_roles, ["User"], "roles once");
    }
}
