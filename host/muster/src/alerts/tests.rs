use super::*;

fn config() -> AlertsConfig {
    AlertsConfig {
        webhook_url: Some("http://127.0.0.1:9/hook".into()),
        secret_env: None,
        format: AlertFormat::Json,
        resend_minutes: 60,
        failure_percent: 10,
        cycle_minutes: 30,
        outbox_minutes: 15,
        check_interval_secs: 30,
        base_url: Some("https://muster.example/".into()),
        email: None,
    }
}

fn keys(alerts: &[Alert]) -> Vec<&str> {
    alerts.iter().map(|a| a.key.as_str()).collect()
}

#[test]
fn each_condition_raises_its_alert_and_only_past_its_threshold() {
    let config = config();
    assert!(conditions(&Facts::default(), &config).is_empty());
    let now = 1_000_000;
    let facts = Facts {
        now,
        quarantine: Some(("CredentialsRejected".into(), now + 3600)),
        held_deletions: 3,
        last_cycle: Some((7, 100, 11)),
        running_cycle: Some((8, now - 31 * 60)),
        outbox_oldest: Some(now - 16 * 60),
        held_plugins: vec![(
            "rule".into(),
            "abc".into(),
            "2 license changes over 1".into(),
        )],
        rejected_plugins: vec![("rule".into(), "def".into(), "not a component".into())],
        target_failing: Some("401 Unauthorized".into()),
    };
    let alerts = conditions(&facts, &config);
    assert_eq!(
        keys(&alerts),
        [
            "quarantine",
            "deletion-threshold",
            "cycle-failures",
            "cycle-slow-8",
            "outbox",
            "plugin-held-rule-abc",
            "plugin-rejected-rule-def",
            "target"
        ]
    );
    assert!(
        alerts[2].summary.contains("11 of the 100"),
        "{:?}",
        alerts[2]
    );
    assert_eq!(alerts[2].link, "/ui/logs?cycle=7&status=failure");
    // Just under each threshold: nothing.
    let under = Facts {
        now,
        last_cycle: Some((7, 100, 10)),
        running_cycle: Some((8, now - 29 * 60)),
        outbox_oldest: Some(now - 14 * 60),
        ..Facts::default()
    };
    assert!(conditions(&under, &config).is_empty());
}

#[test]
fn an_alert_is_sent_once_then_every_resend_interval_then_resolved_once() {
    let alert = |key: &str| Alert {
        key: key.into(),
        summary: format!("{key} holds"),
        link: "/ui".into(),
    };
    let mut notifier = Notifier::default();
    let states = |messages: Vec<Message>| -> Vec<(String, State)> {
        messages
            .into_iter()
            .map(|m| (m.alert.key, m.state))
            .collect()
    };
    assert_eq!(
        states(notifier.step(0, vec![alert("a")], 3600)),
        [("a".to_string(), State::Firing)]
    );
    // Still holding within the hour: nothing; a new one fires on its own.
    assert_eq!(
        states(notifier.step(600, vec![alert("a"), alert("b")], 3600)),
        [("b".to_string(), State::Firing)]
    );
    // An hour after it was sent, `a` is sent again, with its first `since`.
    let again = notifier.step(3600, vec![alert("a"), alert("b")], 3600);
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].alert.key.as_str(), again[0].since), ("a", 0));
    // `a` clears: resolved once, then silence.
    assert_eq!(
        states(notifier.step(3700, vec![alert("b")], 3600)),
        [("a".to_string(), State::Resolved)]
    );
    assert!(notifier.step(3800, vec![alert("b")], 3600).is_empty());
}

#[test]
fn the_signature_is_rfc_4231s_hmac_sha256() {
    // RFC 4231, test case 1.
    assert_eq!(
        signature(&[0x0b; 20], b"Hi There"),
        "sha256=b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    );
}

#[test]
fn bodies_carry_the_link_in_json_and_in_slack_form() {
    let message = Message {
        state: State::Firing,
        alert: Alert {
            key: "quarantine".into(),
            summary: "the job is quarantined".into(),
            link: "/ui".into(),
        },
        since: 0,
    };
    let json = body(&message, &config());
    assert_eq!(json["state"], "firing");
    assert_eq!(json["link"], "https://muster.example/ui");
    let slack = body(
        &message,
        &AlertsConfig {
            format: AlertFormat::Slack,
            ..config()
        },
    );
    let text = slack["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("the job is quarantined") && text.contains("https://muster.example/ui"),
        "{text}"
    );
}

#[test]
fn an_email_says_what_holds_since_when_and_where_to_look() {
    let message = Message {
        state: State::Firing,
        alert: Alert {
            key: "target".into(),
            summary: "the target fails its test connection: 401".into(),
            link: "/ui".into(),
        },
        since: 1_714_564_800,
    };
    let (subject, body) = email_text(&message, &config());
    assert_eq!(
        subject,
        "[muster] firing: the target fails its test connection: 401"
    );
    for want in [
        "State: firing",
        "Since: 2024-05-01T12:00:00Z",
        "Details: https://muster.example/ui",
    ] {
        assert!(body.contains(want), "{want} in {body}");
    }
    let long = Message {
        alert: Alert {
            summary: "x".repeat(400),
            ..message.alert.clone()
        },
        ..message
    };
    let (subject, _) = email_text(&long, &config());
    assert!(
        subject.chars().count() < 180 && subject.ends_with('…'),
        "{subject}"
    );
}
