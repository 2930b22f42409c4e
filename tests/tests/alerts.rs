//! `[alerts]` end to end: `muster serve` with a webhook pointed at a listener of this test, the
//! simulator made to refuse muster's token, and back.

use std::sync::Arc;
use std::time::Duration;

use muster::commands::serve;
use muster::http::AppState;
use muster_tests::webhook::Webhook;
use muster_tests::{Directory, Harness, wait_until, zoom_config};
use tokio::sync::oneshot;
use zoom_sim::Fault;

const SECRET_ENV: &str = "MUSTER_TEST_ALERT_SECRET";
const SECRET: &str = "alert-secret-for-tests";

/// Runs `job` as `muster serve` does, on a port of its own, until the sender is dropped.
async fn serve_job(job: muster::job::Job) -> oneshot::Sender<()> {
    let state = AppState::new(Arc::new(job), Some("admin".into())).expect("app state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve::run(listener, state, async move {
        let _ = stopped.await;
    }));
    stop
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_target_is_alerted_once_signed_and_resolved_when_it_answers_again() {
    // SAFETY: set before the server reads it; no other test in this binary reads the variable.
    unsafe { std::env::set_var(SECRET_ENV, SECRET) };
    let hook = Webhook::start().await;
    let url = &hook.url;
    let server = format!(
        "[server]\nscheduled_sync = false\nprobe_interval_secs = 1\n\n[alerts]\n\
         webhook_url = \"{url}\"\nsecret_env = \"{SECRET_ENV}\"\ncheck_interval_secs = 1\n\
         base_url = \"https://muster.example\"\n"
    );
    let harness = Harness::start(&zoom_config(None, &server), &[]).await;
    harness.write(&Directory::new());
    let Harness { dir, sim, job } = harness;
    let stop = serve_job(job).await;

    // The simulator refuses muster's token: the test connection fails, and the webhook hears
    // it once, signed, with a link to the status.
    sim.state.inject_failures(Fault::status(401), 100_000);
    let fired = wait_until(Duration::from_secs(30), || {
        !hook.states("target").is_empty()
    })
    .await;
    assert!(fired, "no alert arrived: {:?}", hook.deliveries());
    // Several more checks while it still fails: no second message within the resend interval.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(hook.states("target"), ["firing"]);
    let alert = hook
        .deliveries()
        .into_iter()
        .find(|d| d.body["key"] == "target")
        .expect("the alert");
    // The signature is over the exact bytes sent.
    assert_eq!(
        alert.signature,
        Some(muster::alerts::signature(SECRET.as_bytes(), &alert.raw)),
        "X-Muster-Signature is the HMAC of the body"
    );
    let body = alert.body;
    assert!(
        body["summary"]
            .as_str()
            .is_some_and(|s| s.contains("fails its test connection")),
        "{body}"
    );
    assert_eq!(body["link"], "https://muster.example/ui");

    // The target answers again: one "resolved".
    sim.state.clear_faults();
    let resolved = wait_until(Duration::from_secs(30), || hook.states("target").len() == 2).await;
    assert!(resolved, "{:?}", hook.states("target"));
    assert_eq!(hook.states("target"), ["firing", "resolved"]);
    drop(stop);
    drop(dir);
}

/// `[alerts.email]` without a webhook: the same failing target, mailed through an SMTP server
/// of this test, and mailed again when it answers.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_target_is_mailed_and_resolved_by_mail() {
    let smtp = muster_tests::fake_smtp::FakeSmtp::start().await;
    let server = format!(
        "[server]\nscheduled_sync = false\nprobe_interval_secs = 1\n\n[alerts]\n\
         check_interval_secs = 1\nbase_url = \"https://muster.example\"\n\n[alerts.email]\n\
         smtp_host = \"127.0.0.1\"\nsmtp_port = {}\nsecurity = \"none\"\n\
         from = \"muster <muster@example.com>\"\nto = [\"ops@example.com\", \"oncall@example.com\"]\n",
        smtp.port
    );
    let harness = Harness::start(&zoom_config(None, &server), &[]).await;
    harness.write(&Directory::new());
    let Harness { dir, sim, job } = harness;
    let stop = serve_job(job).await;

    sim.state.inject_failures(Fault::status(401), 100_000);
    let mailed = wait_until(Duration::from_secs(30), || !smtp.mails().is_empty()).await;
    assert!(mailed, "no alert was mailed");
    let mail = smtp.mails().remove(0);
    assert_eq!(mail.from, "muster@example.com");
    assert_eq!(mail.to, ["ops@example.com", "oncall@example.com"]);
    for want in [
        "Subject: [muster] firing: the target fails its test connection",
        "Details: https://muster.example/ui",
    ] {
        assert!(mail.data.contains(want), "{want} in {}", mail.data);
    }
    sim.state.clear_faults();
    let resolved = wait_until(Duration::from_secs(30), || {
        smtp.mails()
            .iter()
            .any(|m| m.data.contains("Subject: [muster] resolved"))
    })
    .await;
    assert!(resolved, "{:?}", smtp.mails());
    drop(stop);
    drop(dir);
}
