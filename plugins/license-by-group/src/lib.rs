//! `license-by-group`: decides a Zoom license from the groups a person is in and the app roles
//! they hold.
//!
//! Config (JSON):
//! ```json
//! {"rules": [{"group": "Zoom-Licensed", "plan": "licensed"},
//!            {"app_role": "Admin", "plan": "pro", "name": "admins-get-pro"},
//!            {"group": "Zoom-Phone", "add_on": "phone"},
//!            {"group": "Zoom-Webinar", "add_on": "webinar"}],
//!  "default_plan": "basic", "transitive": true}
//! ```
//! Rules are read in order: the first rule with a `plan` that matches the person (a `group` they
//! are in, or an `app_role` they hold) decides the plan (precedence is the order); every matching
//! `add_on` rule adds its add-on. No matching plan rule → `default_plan`. Group names compare
//! case-insensitively, as Entra's do; app role values exactly.
//!
//! The decision names the rule that chose the plan (its `name`, else its group or app role;
//! `default_plan` when none matched) and rests on the groups and roles that matched, a group
//! reached through nesting with the direct group it came through (`Zoom-Phone ← Sales-Managers`).

use muster_plugin::license_rule::{Level, License, LicenseDecision, Person, PluginError, Why, assign, group_path, log};

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
    group: Option<String>,
    app_role: Option<String>,
    name: Option<String>,
    plan: Option<String>,
    add_on: Option<String>,
}

fn basic() -> String {
    "basic".into()
}

fn yes() -> bool {
    true
}

/// What made a rule match: a group (the path to it) or an app role.
#[derive(Clone)]
enum Match {
    Group { name: String, path: String },
    AppRole(String),
}

impl Match {
    fn fact(&self) -> String {
        match self {
            Match::Group { path, .. } => path.clone(),
            Match::AppRole(role) => format!("app role {role}"),
        }
    }
}

fn matches(person: &Person, rule: &Rule, transitive: bool) -> Option<Match> {
    if let Some(name) = &rule.group {
        let group = person
            .groups
            .iter()
            .filter(|g| transitive || g.direct)
            .find(|g| g.display_name.eq_ignore_ascii_case(name))?;
        return Some(Match::Group { name: name.clone(), path: group_path(group) });
    }
    let role = rule.app_role.as_ref()?;
    person.app_roles.iter().any(|r| r == role).then(|| Match::AppRole(role.clone()))
}

fn check(config: &Config) -> Result<(), PluginError> {
    for (i, rule) in config.rules.iter().enumerate() {
        let invalid = |message: String| PluginError { code: muster_plugin::INVALID_CONFIG.into(), message };
        if rule.group.is_some() == rule.app_role.is_some() {
            return Err(invalid(format!("rules[{i}]: give exactly one of `group` and `app_role`")));
        }
    }
    Ok(())
}

fn decide(person: Person, current: Option<License>, config: Config) -> Result<LicenseDecision, PluginError> {
    check(&config)?;
    let mut plan: Option<(&Rule, Match)> = None;
    let mut add_ons: Vec<String> = Vec::new();
    let mut add_on_matches: Vec<Match> = Vec::new();
    for rule in &config.rules {
        let Some(found) = matches(&person, rule, config.transitive) else { continue };
        if let Some(a) = &rule.add_on {
            if !add_ons.contains(a) {
                add_ons.push(a.clone());
                add_on_matches.push(found.clone());
            }
        }
        if rule.plan.is_some() && plan.is_none() {
            plan = Some((rule, found));
        }
    }
    add_ons.sort();

    let mut reason = match &plan {
        Some((rule, found)) => format!("plan {}: {}", rule.plan.as_deref().unwrap_or_default(), sentence(std::slice::from_ref(found))),
        None => format!("plan {}: no plan group matched (default)", config.default_plan),
    };
    if !add_on_matches.is_empty() {
        reason.push_str(&format!("; add-ons {}: {}", add_ons.join(", "), sentence(&add_on_matches)));
    }
    let rule_name = match &plan {
        Some((rule, found)) => rule.name.clone().unwrap_or_else(|| match found {
            Match::Group { name, .. } => name.clone(),
            Match::AppRole(role) => format!("app role {role}"),
        }),
        None => "default_plan".into(),
    };
    let mut why = Why::new(String::new()).rule(rule_name);
    for fact in plan.iter().map(|(_, m)| m).chain(&add_on_matches).map(Match::fact) {
        if !why.because.contains(&fact) {
            why = why.because(fact);
        }
    }
    let license = License {
        plan: plan.as_ref().and_then(|(r, _)| r.plan.clone()).unwrap_or(config.default_plan.clone()),
        add_ons,
    };
    if current.as_ref().is_some_and(|c| same_license(c, &license)) {
        why.text = format!("unchanged; {reason}");
        return Ok(LicenseDecision::NoChange(why));
    }
    log(Level::Debug, &format!("{}: {reason}", person.id));
    why.text = reason;
    Ok(assign(license.plan, license.add_ons, why))
}

/// `member of Zoom-Webinar, Zoom-Phone` for groups, `app role Admin` for roles, as the log's
/// sentence reads.
fn sentence(matches: &[Match]) -> String {
    let groups: Vec<&str> = matches
        .iter()
        .filter_map(|m| match m {
            Match::Group { name, .. } => Some(name.as_str()),
            Match::AppRole(_) => None,
        })
        .collect();
    let roles: Vec<&str> = matches
        .iter()
        .filter_map(|m| match m {
            Match::AppRole(role) => Some(role.as_str()),
            Match::Group { .. } => None,
        })
        .collect();
    let mut parts = Vec::new();
    if !groups.is_empty() {
        parts.push(format!("member of {}", groups.join(", ")));
    }
    if !roles.is_empty() {
        parts.push(format!("app role {}", roles.join(", ")));
    }
    parts.join(", ")
}

fn same_license(a: &License, b: &License) -> bool {
    let mut x = a.add_ons.clone();
    x.sort();
    a.plan == b.plan && x == b.add_ons
}

// muster-plugin reads `Config` from the configuration's JSON (a text that does not parse fails
// the person with `invalid-config`) and allocates with one-shot-alloc: muster gives a Rust guest
// a fresh instance per person, so nothing needs freeing.
muster_plugin::license_rule!(Config, decide);
