//! `license-by-group`: decides a Zoom license from the groups a person is in.
//!
//! Config (JSON):
//! ```json
//! {"rules": [{"group": "Zoom-Licensed", "plan": "licensed"},
//!            {"group": "Zoom-Phone", "add_on": "phone"},
//!            {"group": "Zoom-Webinar", "add_on": "webinar"}],
//!  "default_plan": "basic", "transitive": true}
//! ```
//! Rules are read in order: the first rule with a `plan` whose group the person is in decides
//! the plan (precedence is the order); every matching `add_on` rule adds its add-on. No matching
//! plan rule → `default_plan`. Group names compare case-insensitively, as Entra's do.

use muster_plugin::v0_1::license_rule::{Assignment, Level, License, LicenseDecision, Person, PluginError, log};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    rules: Vec<Rule>,
    #[serde(default = "basic")]
    default_plan: String,
    /// Match groups reached through nesting too (Entra itself cannot).
    #[serde(default = "yes")]
    transitive: bool,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    group: String,
    plan: Option<String>,
    add_on: Option<String>,
}

fn basic() -> String {
    "basic".into()
}

fn yes() -> bool {
    true
}

fn decide(person: Person, current: Option<License>, config: Config) -> Result<LicenseDecision, PluginError> {
    let groups = if config.transitive { &person.transitive_groups } else { &person.direct_groups };
    let member_of = |name: &str| groups.iter().any(|g| g.display_name.eq_ignore_ascii_case(name));

    let mut plan: Option<(&str, &str)> = None;
    let mut add_ons: Vec<String> = Vec::new();
    let mut add_on_groups: Vec<&str> = Vec::new();
    for rule in config.rules.iter().filter(|r| member_of(&r.group)) {
        if let (Some(p), None) = (&rule.plan, plan) {
            plan = Some((p, &rule.group));
        }
        if let Some(a) = &rule.add_on {
            if !add_ons.contains(a) {
                add_ons.push(a.clone());
                add_on_groups.push(&rule.group);
            }
        }
    }
    add_ons.sort();

    let mut reason = match plan {
        Some((p, group)) => format!("plan {p}: member of {group}"),
        None => format!("plan {}: no plan group matched (default)", config.default_plan),
    };
    if !add_on_groups.is_empty() {
        reason.push_str(&format!("; add-ons {}: member of {}", add_ons.join(", "), add_on_groups.join(", ")));
    }
    let license = License {
        plan: plan.map_or(config.default_plan.clone(), |(p, _)| p.to_string()),
        add_ons,
    };
    if current.as_ref().is_some_and(|c| same_license(c, &license)) {
        return Ok(LicenseDecision::NoChange(format!("unchanged; {reason}")));
    }
    log(Level::Debug, &format!("{}: {reason}", person.id));
    Ok(LicenseDecision::Assign(Assignment { license, reason }))
}

fn same_license(a: &License, b: &License) -> bool {
    let mut x = a.add_ons.clone();
    x.sort();
    a.plan == b.plan && x == b.add_ons
}

// muster-plugin reads `Config` from the configuration's JSON (a text that does not parse fails
// the person with `invalid-config`) and allocates with one-shot-alloc: muster gives a Rust guest
// a fresh instance per person, so nothing needs freeing.
muster_plugin::license_rule_0_1!(Config, decide);
