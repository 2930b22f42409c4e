//! Seat budgets: how many people may hold each plan or add-on a target account has bought.
//!
//! A Zoom account buys a number of licenses per plan and add-on, and an assignment past that
//! fails at Zoom. So the planner never plans past a budget. The license rule decides what each
//! person should hold; [`allocate`] then decides who gets the seats where there are more
//! candidates than seats:
//!
//! - What a person holds and keeps wanting is kept, even past a budget lowered under it: the
//!   budget stops new assignments, it never takes a license away.
//! - A seat is freed in the same cycle when its holder's new license no longer holds it (someone
//!   left the group), and can go to someone else in that cycle.
//! - The rest go in a stable order: by the person's creation time in the source
//!   (`createdDateTime`, Microsoft Graph's `user` property, where the source has it; people
//!   without one after those with one), then by source id.
//! - A person denied a plan keeps the plan they hold, or gets the profile's default plan when new
//!   (none when the profile has no default: the target's own default applies). A person denied an
//!   add-on goes without it.
//!
//! Seats of people who are not planned (failed, skipped, out of scope, deprovisioned, outside an
//! on-demand run) count as held by them: a disable or delete frees its seat in the next cycle, so
//! a seat is never handed out twice if that deprovisioning is held back or fails. A disabled
//! record holds nothing: Zoom removes the licenses of a deactivated user ("Deactivating a user
//! will remove all licenses associated with a user", Zoom support, "Deactivating, unlinking, or
//! deleting users").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::License;

/// The source attribute that orders people who ask for the same seat.
pub const CREATED: &str = "createdDateTime";

/// Plan or add-on name → seats bought (`[license] seats`).
pub type SeatBudgets = BTreeMap<String, u32>;

/// Seats of one plan or add-on after the allocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatUse {
    pub used: u32,
    pub budget: u32,
}

/// One person the plan wants to license.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub id: &'a str,
    /// `createdDateTime` in the source (ISO 8601, which sorts as text), if it has one.
    pub created: Option<&'a str>,
    /// What the license rule decided.
    pub wanted: Option<&'a License>,
    /// What the person holds in the target now (`None` also for a disabled record).
    pub held: Option<&'a License>,
    /// The person's plan is not changing this cycle whatever it wants (a downgrade held back by
    /// the deletion threshold): they keep `held`, and free nothing.
    pub frozen: bool,
}

/// What a claim is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Everything wanted.
    Wanted,
    /// Less than wanted: this license (`None`: no license attributes at all), and the budgets
    /// that ran out.
    Limited {
        license: Option<License>,
        exhausted: Vec<Exhausted>,
    },
}

/// A budget that stopped a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exhausted {
    pub name: String,
    pub used: u32,
    pub budget: u32,
}

impl std::fmt::Display for Exhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.name, self.used, self.budget)
    }
}

/// The grants (one per claim, in order) and the seats used after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub grants: Vec<Grant>,
    pub seats: BTreeMap<String, SeatUse>,
}

/// Decides who gets the seats. `held_elsewhere`: the licenses of the records no claim stands
/// for (not disabled). `default_plan`: what a new person denied their plan gets.
pub fn allocate<'a>(
    budgets: &SeatBudgets,
    held_elsewhere: impl IntoIterator<Item = &'a License>,
    claims: &[Claim],
    default_plan: Option<&str>,
) -> Allocation {
    let mut used: BTreeMap<&str, u32> = budgets.keys().map(|k| (k.as_str(), 0)).collect();
    for license in held_elsewhere {
        for name in items(license) {
            take(&mut used, name);
        }
    }
    // What each claim keeps, and what it asks for anew: (claim, name) pairs.
    let mut asks: Vec<(usize, &str)> = Vec::new();
    for (i, claim) in claims.iter().enumerate() {
        let keep = |name: &str| claim.held.is_some_and(|h| holds(h, name));
        if claim.frozen {
            claim
                .held
                .into_iter()
                .flat_map(items)
                .for_each(|n| take(&mut used, n));
            continue;
        }
        let Some(wanted) = claim.wanted else {
            continue;
        };
        // A plan is held until the new one is granted: the seat is freed only by a move.
        if let Some(held) = claim.held
            && held.plan != wanted.plan
            && budgets.contains_key(wanted.plan.as_str())
        {
            take(&mut used, &held.plan);
        }
        for name in items(wanted) {
            if keep(name) {
                take(&mut used, name);
            } else if budgets.contains_key(name) {
                asks.push((i, name));
            }
        }
    }
    asks.sort_by(|&(a, x), &(b, y)| {
        let (a, b) = (&claims[a], &claims[b]);
        // People with a creation time first, earliest first.
        (a.created.is_none(), a.created, a.id, x).cmp(&(b.created.is_none(), b.created, b.id, y))
    });
    let mut denied: Vec<Vec<&str>> = vec![Vec::new(); claims.len()];
    let mut granted = vec![false; asks.len()];
    // Rounds until nothing more is granted: a plan granted late frees the holder's old plan
    // seat, which an earlier ask for that plan could then take.
    loop {
        let mut progress = false;
        for (k, &(i, name)) in asks.iter().enumerate() {
            if granted[k] {
                continue;
            }
            let budget = budgets.get(name).copied().unwrap_or(u32::MAX);
            let in_use = used.get(name).copied().unwrap_or(0);
            if in_use >= budget {
                continue;
            }
            granted[k] = true;
            progress = true;
            take(&mut used, name);
            let claim = &claims[i];
            if let (Some(held), Some(wanted)) = (claim.held, claim.wanted)
                && wanted.plan == name
                && held.plan != name
                && let Some(n) = used.get_mut(held.plan.as_str())
            {
                *n = n.saturating_sub(1);
            }
        }
        if !progress {
            break;
        }
    }
    for (k, &(i, name)) in asks.iter().enumerate() {
        if !granted[k] {
            denied[i].push(name);
        }
    }
    let mut grants = Vec::with_capacity(claims.len());
    for (claim, denied) in claims.iter().zip(&denied) {
        let Some(wanted) = claim.wanted.filter(|_| !denied.is_empty()) else {
            grants.push(Grant::Wanted);
            continue;
        };
        let plan_denied = denied.contains(&wanted.plan.as_str());
        let plan = if plan_denied {
            claim
                .held
                .map(|h| h.plan.clone())
                .or_else(|| default_plan.map(str::to_string))
        } else {
            Some(wanted.plan.clone())
        };
        if plan_denied && claim.held.is_none() {
            // A default plan should have no budget (it is what people get when budgets run
            // out), but if it has one, it is counted.
            if let Some(p) = &plan {
                take(&mut used, p);
            }
        }
        let add_ons = wanted
            .add_ons
            .iter()
            .filter(|a| !denied.contains(&a.as_str()));
        let license = plan.map(|plan| License::new(plan, add_ons));
        let exhausted = denied
            .iter()
            .map(|name| Exhausted {
                name: name.to_string(),
                used: used.get(name).copied().unwrap_or(0),
                budget: budgets.get(*name).copied().unwrap_or(0),
            })
            .collect();
        grants.push(Grant::Limited { license, exhausted });
    }
    let seats = budgets
        .iter()
        .map(|(name, &budget)| {
            let used = used.get(name.as_str()).copied().unwrap_or(0);
            (name.clone(), SeatUse { used, budget })
        })
        .collect();
    Allocation { grants, seats }
}

/// Counts a seat of `name`, if it has a budget.
fn take(used: &mut BTreeMap<&str, u32>, name: &str) {
    if let Some(n) = used.get_mut(name) {
        *n += 1;
    }
}

/// The plan and add-ons of a license: each takes a seat of its name.
pub fn items(license: &License) -> impl Iterator<Item = &str> {
    std::iter::once(license.plan.as_str()).chain(license.add_ons.iter().map(String::as_str))
}

/// Whether `license` takes a seat of `name`.
pub fn holds(license: &License, name: &str) -> bool {
    license.plan == name || license.add_ons.iter().any(|a| a == name)
}

#[cfg(test)]
mod tests;
