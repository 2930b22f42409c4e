use super::*;

fn license(plan: &str, add_ons: &[&str]) -> License {
    License::new(plan, add_ons.iter().copied())
}

fn claim<'a>(
    id: &'a str,
    created: Option<&'a str>,
    wanted: &'a License,
    held: Option<&'a License>,
) -> Claim<'a> {
    Claim {
        id,
        created,
        wanted: Some(wanted),
        held,
        frozen: false,
    }
}

fn budgets(pairs: &[(&str, u32)]) -> SeatBudgets {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn limited(grant: &Grant) -> Option<(Option<License>, Vec<String>)> {
    match grant {
        Grant::Wanted => None,
        Grant::Limited { license, exhausted } => Some((
            license.clone(),
            exhausted.iter().map(ToString::to_string).collect(),
        )),
    }
}

#[test]
fn holders_keep_then_oldest_then_id() {
    let licensed = license("licensed", &[]);
    let basic = license("basic", &[]);
    let b = budgets(&[("licensed", 2)]);
    let claims = [
        claim("z-new", Some("2020-01-01T00:00:00Z"), &licensed, None),
        claim("a-new", None, &licensed, None),
        claim(
            "holder",
            Some("2024-01-01T00:00:00Z"),
            &licensed,
            Some(&licensed),
        ),
        claim(
            "b-new",
            Some("2019-01-01T00:00:00Z"),
            &licensed,
            Some(&basic),
        ),
    ];
    let got = allocate(&b, [], &claims, Some("basic"));
    assert_eq!(got.grants[2], Grant::Wanted, "the holder keeps the seat");
    assert_eq!(
        got.grants[3],
        Grant::Wanted,
        "the oldest asker gets the last seat"
    );
    let exhausted = vec!["licensed 2/2".to_string()];
    assert_eq!(
        limited(&got.grants[0]),
        Some((Some(basic.clone()), exhausted.clone())),
        "a new person denied the plan gets the default plan"
    );
    assert_eq!(limited(&got.grants[1]), Some((Some(basic), exhausted)));
    assert_eq!(got.seats["licensed"], SeatUse { used: 2, budget: 2 });
}

#[test]
fn a_lowered_budget_takes_nothing_away() {
    let licensed = license("licensed", &["phone"]);
    let b = budgets(&[("licensed", 1), ("phone", 0)]);
    let claims = [
        claim("a", None, &licensed, Some(&licensed)),
        claim("b", None, &licensed, Some(&licensed)),
    ];
    let got = allocate(&b, [], &claims, None);
    assert_eq!(got.grants, vec![Grant::Wanted, Grant::Wanted]);
    assert_eq!(got.seats["licensed"], SeatUse { used: 2, budget: 1 });
    assert_eq!(got.seats["phone"], SeatUse { used: 2, budget: 0 });
}

#[test]
fn a_seat_freed_in_the_cycle_is_reused() {
    let licensed = license("licensed", &["phone"]);
    let plain = license("licensed", &[]);
    let basic = license("basic", &[]);
    let b = budgets(&[("licensed", 1), ("phone", 1)]);
    // The leaver is listed after the newcomer: the order of the claims does not matter.
    let claims = [
        claim("newcomer", None, &licensed, Some(&basic)),
        claim("leaver", None, &basic, Some(&licensed)),
    ];
    let got = allocate(&b, [], &claims, None);
    assert_eq!(got.grants, vec![Grant::Wanted, Grant::Wanted]);
    assert_eq!(got.seats["licensed"], SeatUse { used: 1, budget: 1 });
    assert_eq!(got.seats["phone"], SeatUse { used: 1, budget: 1 });
    // Dropping only the add-on frees it too.
    let claims = [
        claim("newcomer", None, &licensed, Some(&plain)),
        claim("leaver", None, &plain, Some(&licensed)),
    ];
    let b = budgets(&[("phone", 1)]);
    assert_eq!(
        allocate(&b, [], &claims, None).grants,
        vec![Grant::Wanted, Grant::Wanted]
    );
}

#[test]
fn a_plan_seat_is_freed_only_by_a_granted_move() {
    let united = license("zoom-united", &[]);
    let licensed = license("licensed", &[]);
    let basic = license("basic", &[]);
    let b = budgets(&[("licensed", 1), ("zoom-united", 0)]);
    let claims = [
        // Wants to move up from licensed, but zoom-united has no seats: keeps licensed.
        claim("mover", None, &united, Some(&licensed)),
        claim("asker", None, &licensed, Some(&basic)),
    ];
    let got = allocate(&b, [], &claims, None);
    assert_eq!(
        limited(&got.grants[0]),
        Some((Some(licensed.clone()), vec!["zoom-united 0/0".to_string()]))
    );
    assert_eq!(
        limited(&got.grants[1]),
        Some((Some(basic), vec!["licensed 1/1".to_string()]))
    );
    assert_eq!(got.seats["licensed"], SeatUse { used: 1, budget: 1 });
}

#[test]
fn a_late_move_frees_a_seat_for_an_earlier_asker() {
    let united = license("zoom-united", &[]);
    let licensed = license("licensed", &[]);
    let b = budgets(&[("licensed", 1), ("zoom-united", 1)]);
    // "a" sorts first and asks for licensed, held by "b", who moves to zoom-united later.
    let claims = [
        claim("a", None, &licensed, None),
        claim("b", None, &united, Some(&licensed)),
    ];
    let got = allocate(&b, [], &claims, None);
    assert_eq!(got.grants, vec![Grant::Wanted, Grant::Wanted]);
    assert_eq!(got.seats["licensed"], SeatUse { used: 1, budget: 1 });
}

#[test]
fn seats_held_elsewhere_and_frozen_claims_count() {
    let licensed = license("licensed", &["phone"]);
    let basic = license("basic", &[]);
    let b = budgets(&[("licensed", 2), ("phone", 5)]);
    let frozen = Claim {
        frozen: true,
        ..claim("frozen", None, &basic, Some(&licensed))
    };
    let claims = [frozen, claim("asker", None, &licensed, Some(&basic))];
    let got = allocate(&b, [&licensed], &claims, None);
    assert_eq!(got.grants[0], Grant::Wanted);
    assert_eq!(
        limited(&got.grants[1]),
        Some((
            Some(license("basic", &["phone"])),
            vec!["licensed 2/2".to_string()]
        )),
        "the add-on is granted where the plan is not"
    );
    assert_eq!(got.seats["phone"], SeatUse { used: 3, budget: 5 });
}

#[test]
fn without_a_default_plan_a_new_person_gets_no_license() {
    let licensed = license("licensed", &[]);
    let b = budgets(&[("licensed", 0)]);
    let claims = [claim("new", None, &licensed, None)];
    let got = allocate(&b, [], &claims, None);
    assert_eq!(
        limited(&got.grants[0]),
        Some((None, vec!["licensed 0/0".to_string()]))
    );
}

#[test]
fn unbudgeted_names_are_free() {
    let licensed = license("licensed", &["whiteboard"]);
    let got = allocate(
        &budgets(&[("phone", 0)]),
        [],
        &[claim("a", None, &licensed, None)],
        None,
    );
    assert_eq!(got.grants, vec![Grant::Wanted]);
    assert_eq!(got.seats.len(), 1);
}
