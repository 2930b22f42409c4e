use super::*;

const NOW: i64 = 1_800_000_000;

fn tokens() -> (BearerToken, BearerToken) {
    (
        BearerToken::new("admin-secret"),
        BearerToken::new("viewer-secret"),
    )
}

#[test]
fn a_session_verifies_under_its_own_roles_token_until_it_expires() {
    let (admin, viewer) = tokens();
    let lookup = |r: Role| match r {
        Role::Admin => Some(&admin),
        Role::Viewer => Some(&viewer),
    };
    let (session, value) = Session::issue(&viewer, Role::Viewer, NOW, 3600);
    assert_eq!(Session::verify(&value, NOW, lookup), Some(session.clone()));
    assert_eq!(Session::verify(&value, NOW + 3599, lookup), Some(session));
    assert_eq!(Session::verify(&value, NOW + 3600, lookup), None, "expired");
    // A viewer cookie relabelled as admin fails: the admin token does not sign it.
    let forged = value.replacen("viewer.", "admin.", 1);
    assert_eq!(Session::verify(&forged, NOW, lookup), None);
    // A later expiry without a new MAC fails.
    let (text, mac) = value.rsplit_once('.').expect("mac");
    let later = text.replace(&(NOW + 3600).to_string(), &(NOW + 99_999).to_string());
    assert_eq!(
        Session::verify(&format!("{later}.{mac}"), NOW, lookup),
        None
    );
    // A changed token ends the sessions it signed.
    let rotated = BearerToken::new("viewer-secret-2");
    assert_eq!(
        Session::verify(&value, NOW, |_| Some(&rotated)),
        None,
        "rotated token"
    );
    // A role that is not configured any more.
    assert_eq!(Session::verify(&value, NOW, |_| None), None);
    for junk in [
        "",
        ".",
        "admin",
        "admin.1.2",
        "admin.x.n.mac",
        "nobody.1.n.mac",
    ] {
        assert_eq!(Session::verify(junk, NOW, lookup), None, "{junk:?}");
    }
}

#[test]
fn csrf_tokens_are_per_session() {
    let (admin, _) = tokens();
    let (one, _) = Session::issue(&admin, Role::Admin, NOW, 60);
    let (two, _) = Session::issue(&admin, Role::Admin, NOW, 60);
    let csrf = one.csrf(&admin);
    assert!(one.csrf_matches(&admin, &csrf));
    assert!(!two.csrf_matches(&admin, &csrf), "another session's token");
    assert!(!one.csrf_matches(&admin, ""));
    assert!(!one.csrf_matches(&BearerToken::new("other"), &csrf));
}

#[test]
fn cookies_are_http_only_and_strict() {
    let set = set_cookie(Some("v"), 60, false);
    assert_eq!(
        set.to_str().expect("ascii"),
        "muster_console=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"
    );
    let out = set_cookie(None, 0, true);
    assert!(out.to_str().expect("ascii").ends_with("Max-Age=0; Secure"));
    let mut headers = HeaderMap::new();
    headers.append(
        header::COOKIE,
        HeaderValue::from_static("a=1; muster_console=xyz"),
    );
    assert_eq!(cookie(&headers, COOKIE).as_deref(), Some("xyz"));
    assert_eq!(cookie(&headers, "b"), None);
}
