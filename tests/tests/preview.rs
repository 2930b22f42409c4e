//! Previewing a rule change over the demo: `examples/demo.toml` and `examples/directory.json`,
//! provisioned into the simulator by a real cycle, then a candidate license rule previewed. The
//! expected deltas are computed here from the directory's group memberships and what the
//! simulator holds, not by the code under test; and the preview sends the simulator nothing.

use std::collections::{BTreeMap, BTreeSet};

use muster::preview::{Candidate, PreviewOptions, preview};
use muster::sync::{CycleOptions, run_cycle};
use muster_tests::Sim;
use muster_tests::harness::{config_from, workspace_root};
use serde_json::{Value, json};

/// The demo's license rules (examples/demo.toml): group → plan or add-on. Its webinar and
/// large-meeting add-ons have no attributes in the Zoom profile, so they are never provisioned
/// and a preview does not count them: only phone is.
const PLAN_GROUP: (&str, &str) = ("Zoom-Licensed", "licensed");
const ADD_ON_GROUPS: [(&str, &str); 1] = [("Zoom-Phone", "phone")];

/// The directory's groups, each with its members (people and groups) resolved transitively to
/// the set of person ids it holds.
fn transitive_members(directory: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let groups: BTreeMap<&str, (&str, Vec<&str>)> = directory["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            let members = g["members"].as_array().expect("members");
            let members = members.iter().filter_map(Value::as_str).collect();
            (
                g["id"].as_str().expect("id"),
                (g["displayName"].as_str().expect("name"), members),
            )
        })
        .collect();
    fn expand<'a>(
        id: &'a str,
        groups: &BTreeMap<&'a str, (&'a str, Vec<&'a str>)>,
        seen: &mut BTreeSet<&'a str>,
        out: &mut BTreeSet<String>,
    ) {
        if !seen.insert(id) {
            return;
        }
        for member in &groups[id].1 {
            if groups.contains_key(member) {
                expand(member, groups, seen, out);
            } else {
                out.insert(member.to_string());
            }
        }
    }
    groups
        .iter()
        .map(|(id, (name, _))| {
            let mut people = BTreeSet::new();
            expand(id, &groups, &mut BTreeSet::new(), &mut people);
            (name.to_string(), people)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_previewed_rule_change_over_the_demo_gives_the_exact_deltas_and_sends_nothing() {
    let sim = Sim::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let root = workspace_root();
    std::fs::copy(
        root.join("examples/directory.json"),
        dir.path().join("directory.json"),
    )
    .expect("copy the demo directory");
    let text = std::fs::read_to_string(root.join("examples/demo.toml")).expect("demo.toml");
    let config = config_from(&text, &[("MUSTER_TARGET_URL", &sim.url)]);
    let job = muster::job::Job::build_with_token(config, dir.path(), sim.token.clone())
        .expect("the demo job builds");
    run_cycle(&job, &CycleOptions::default())
        .await
        .expect("the demo cycle runs")
        .expect("not quarantined");

    // Who the cycle provisioned, as the simulator holds them, by directory id.
    let directory: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("directory.json")).expect("read"),
    )
    .expect("JSON");
    let id_of_upn: BTreeMap<String, String> = directory["people"]
        .as_array()
        .expect("people")
        .iter()
        .map(|p| {
            let upn = p["attributes"]["userPrincipalName"].as_str().expect("upn");
            (
                upn.to_lowercase(),
                p["id"].as_str().expect("id").to_string(),
            )
        })
        .collect();
    let provisioned: BTreeSet<String> = sim
        .state
        .users()
        .iter()
        .filter(|u| u["active"] == json!(true))
        .map(|u| id_of_upn[&u["userName"].as_str().expect("userName").to_lowercase()].clone())
        .collect();
    assert!(provisioned.len() > 100, "the demo provisions most people");
    let members = transitive_members(&directory);
    let member = |group: &str, id: &str| members.get(group).is_some_and(|m| m.contains(id));
    // The active rule's license per person, from the demo's rules.
    let license_before = |id: &str| {
        let plan = if member(PLAN_GROUP.0, id) {
            PLAN_GROUP.1
        } else {
            "basic"
        };
        let add_ons: BTreeSet<&str> = ADD_ON_GROUPS
            .iter()
            .filter(|(g, _)| member(g, id))
            .map(|(_, a)| *a)
            .collect();
        (plan, add_ons)
    };

    // The candidate: everyone on `licensed` with no add-on, except one phone holder, for whom
    // it traps.
    let trapped = provisioned
        .iter()
        .find(|id| member("Zoom-Phone", id))
        .expect("a phone holder")
        .clone();
    let candidate = Candidate {
        name: "license-by-group".into(),
        component: Some(
            std::fs::read(muster_artifacts::SELECTIVE_TRAP).expect("the selective-trap guest"),
        ),
        config: Some(json!({"plan": "licensed", "trap_for": [trapped]}).to_string()),
        ..Candidate::default()
    };
    let requests_before = sim.state.counters().requests;
    let options = PreviewOptions {
        samples: 1000,
        ..PreviewOptions::default()
    };
    let report = preview(&job, &[candidate], &options)
        .await
        .expect("the preview runs");
    assert_eq!(
        sim.state.counters().requests,
        requests_before,
        "a preview sends nothing to the target"
    );

    let license_after = |id: &str| {
        if id == trapped {
            license_before(id)
        } else {
            ("licensed", BTreeSet::new())
        }
    };
    let mut expected: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for id in &provisioned {
        for (side, (plan, add_ons)) in [(0, license_before(id)), (1, license_after(id))] {
            for name in std::iter::once(plan).chain(add_ons) {
                let count = expected.entry(name.to_string()).or_default();
                if side == 0 {
                    count.0 += 1
                } else {
                    count.1 += 1
                }
            }
        }
    }
    let counted: BTreeMap<String, (u64, u64)> = report
        .impact
        .licenses
        .iter()
        .map(|c| (c.name.clone(), (c.before, c.after)))
        .collect();
    assert_eq!(counted, expected, "licenses per plan and add-on");
    let changed = provisioned
        .iter()
        .filter(|id| license_before(id) != license_after(id))
        .count() as u64;
    assert_eq!(report.impact.license_changes.count, changed);
    assert_eq!(report.impact.newly_failed.count, 1);
    assert_eq!(report.impact.newly_failed.samples[0].person.id, trapped);
    let trap_errors = report
        .impact
        .errors
        .iter()
        .find(|e| e.code == "PluginFailed:trap")
        .expect("the trap counted by kind");
    assert_eq!((trap_errors.before, trap_errors.after), (0, 1));
    assert_eq!(
        report.impact.attribute_changes.count, 0,
        "only the license moved"
    );
    // Both sides called the rule for the same people; the candidate's failure is counted.
    let cost = |side: &str| {
        report
            .costs
            .iter()
            .find(|c| c.plugin == "license-by-group" && c.side == side)
            .expect("a cost row")
            .clone()
    };
    assert_eq!(cost("active").calls, cost("candidate").calls);
    assert_eq!(cost("candidate").errors, 1);
    assert!(cost("active").fuel_per_call > 0);
    assert!(report.passed, "the demo configures no gates");
    assert!(
        report
            .plugins
            .iter()
            .any(|p| p.name == "license-by-group" && p.changed() && p.config_changed)
    );
}
