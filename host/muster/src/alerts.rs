//! `[alerts]`: telling someone when the job stops working. `muster serve` looks at the job's
//! state every `check_interval_secs` ([`facts`]), turns it into the alerts that hold now
//! ([`conditions`], pure), and a [`Notifier`] decides what to send: an alert when its condition
//! starts, again every `resend_minutes` while it lasts, and a "resolved" one when it clears.
//! Each is POSTed to the webhook ([`deliver`]), signed with HMAC-SHA256 when a secret is set,
//! and/or mailed ([`Mailer`]), and retried with backoff.

use std::collections::BTreeMap;
use std::time::Duration;

use engine::config::{AlertFormat, AlertsConfig};
use serde::Serialize;

use crate::job::Job;

/// The header carrying `sha256=` and the hex HMAC-SHA256 of the body.
pub const SIGNATURE_HEADER: &str = "X-Muster-Signature";
/// Attempts per alert (the first and two retries), 1 s then 4 s apart.
const ATTEMPTS: u32 = 3;

/// What [`conditions`] reads of the job's state.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Unix seconds.
    pub now: i64,
    /// The quarantine's reason and next attempt (unix seconds), when the job is quarantined.
    pub quarantine: Option<(String, i64)>,
    /// Disables and deletes the deletion threshold holds.
    pub held_deletions: usize,
    /// The last finished cycle: id, people planned, failed.
    pub last_cycle: Option<(i64, u64, u64)>,
    /// The cycle running now: id and when it started (unix seconds).
    pub running_cycle: Option<(i64, i64)>,
    /// When the oldest change waiting in the gateway's outbox was accepted (unix seconds).
    pub outbox_oldest: Option<i64>,
    /// Plugin versions their gates held back: name, version, why.
    pub held_plugins: Vec<(String, String, String)>,
    /// Plugin versions the plugin folder offered that did not load: name, version, why.
    pub rejected_plugins: Vec<(String, String, String)>,
    /// The last test connection's message, when it failed.
    pub target_failing: Option<String>,
}

/// One condition that holds now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// Stable while the condition lasts: what deduplicates it.
    pub key: String,
    pub summary: String,
    /// The console page that explains it.
    pub link: String,
}

/// The alerts `facts` raise under `config`.
pub fn conditions(facts: &Facts, config: &AlertsConfig) -> Vec<Alert> {
    let mut alerts = Vec::new();
    let mut raise = |key: String, summary: String, link: &str| {
        alerts.push(Alert {
            key,
            summary,
            link: link.to_string(),
        })
    };
    if let Some((reason, next)) = &facts.quarantine {
        raise(
            "quarantine".into(),
            format!(
                "the job is quarantined ({reason}); next attempt {}",
                store::rfc3339(*next)
            ),
            "/ui",
        );
    }
    if facts.held_deletions > 0 {
        raise(
            "deletion-threshold".into(),
            format!(
                "{} disables and deletes are held back by the deletion threshold; release them \
                 once the source is checked (the console's \"Release held deletions\", or \
                 POST /admin/sync?allow_deletes=true)",
                facts.held_deletions
            ),
            "/ui#controls",
        );
    }
    if let Some((id, planned, failed)) = facts.last_cycle
        && planned > 0
        && failed * 100 > planned * config.failure_percent
    {
        raise(
            "cycle-failures".into(),
            format!(
                "cycle {id} failed {failed} of the {planned} people it planned (over {} %)",
                config.failure_percent
            ),
            &format!("/ui/logs?cycle={id}&status=failure"),
        );
    }
    if let Some((id, started)) = facts.running_cycle {
        let minutes = (facts.now - started) / 60;
        if minutes >= i64::try_from(config.cycle_minutes).unwrap_or(i64::MAX) {
            raise(
                format!("cycle-slow-{id}"),
                format!("cycle {id} has been running for {minutes} minutes"),
                "/ui",
            );
        }
    }
    if let Some(oldest) = facts.outbox_oldest {
        let minutes = (facts.now - oldest) / 60;
        if minutes >= i64::try_from(config.outbox_minutes).unwrap_or(i64::MAX) {
            raise(
                "outbox".into(),
                format!(
                    "a change Entra sent has waited {minutes} minutes in the outbox without \
                     reaching the target"
                ),
                "/ui#outbox",
            );
        }
    }
    for (name, version, reason) in &facts.held_plugins {
        raise(
            format!("plugin-held-{name}-{version}"),
            format!("plugin {name} version {version} was not activated: {reason}"),
            "/ui/plugins",
        );
    }
    for (name, version, why) in &facts.rejected_plugins {
        raise(
            format!("plugin-rejected-{name}-{version}"),
            format!(
                "plugin {name} version {version} in the plugin folder was rejected ({why}); the \
                 active version keeps serving"
            ),
            "/ui/plugins",
        );
    }
    if let Some(message) = &facts.target_failing {
        raise(
            "target".into(),
            format!("the target fails its test connection: {message}"),
            "/ui",
        );
    }
    alerts
}

/// Whether a message says an alert holds or has cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Firing,
    Resolved,
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub state: State,
    #[serde(flatten)]
    pub alert: Alert,
    /// When the condition started (unix seconds).
    pub since: i64,
}

/// What was sent, per alert key: the deduplication and re-send state.
#[derive(Debug, Default)]
pub struct Notifier {
    /// Key → (the alert, since, last sent).
    active: BTreeMap<String, (Alert, i64, i64)>,
}

impl Notifier {
    /// The messages to send now for the alerts that hold at `now` (unix seconds).
    pub fn step(&mut self, now: i64, holding: Vec<Alert>, resend_secs: i64) -> Vec<Message> {
        let mut out = Vec::new();
        let keys: Vec<String> = holding.iter().map(|a| a.key.clone()).collect();
        for alert in holding {
            match self.active.get_mut(&alert.key) {
                None => {
                    out.push(Message {
                        state: State::Firing,
                        alert: alert.clone(),
                        since: now,
                    });
                    self.active.insert(alert.key.clone(), (alert, now, now));
                }
                Some((kept, since, last)) => {
                    *kept = alert;
                    if now - *last >= resend_secs {
                        *last = now;
                        out.push(Message {
                            state: State::Firing,
                            alert: kept.clone(),
                            since: *since,
                        });
                    }
                }
            }
        }
        let cleared: Vec<String> = self
            .active
            .keys()
            .filter(|k| !keys.contains(k))
            .cloned()
            .collect();
        for key in cleared {
            if let Some((alert, since, _)) = self.active.remove(&key) {
                out.push(Message {
                    state: State::Resolved,
                    alert,
                    since,
                });
            }
        }
        out
    }
}

/// Reads the job's state for [`conditions`].
pub fn facts(job: &Job, target_failing: Option<String>) -> anyhow::Result<Facts> {
    let store = &job.store;
    let now = store::now_unix();
    let last = store.cycles(5)?;
    let running = last
        .iter()
        .find(|c| c.status == store::CycleStatus::Running);
    // A run for one person (on demand) or a gateway pass is not what the failure share is for.
    let finished = last.iter().find(|c| {
        c.status != store::CycleStatus::Running
            && c.kind != store::CycleKind::OnDemand
            && c.counts.is_some()
    });
    let last_cycle = finished.and_then(|c| {
        let counts = c.counts.as_ref()?;
        let planned = counts.planned.unwrap_or(
            counts.created
                + counts.updated
                + counts.disabled
                + counts.deleted
                + counts.skipped
                + counts.failed
                + counts.unchanged,
        );
        Some((c.id, planned, counts.failed))
    });
    Ok(Facts {
        now,
        quarantine: store.quarantine()?.map(|q| (q.reason, q.next_attempt)),
        held_deletions: store.staged_deletes()?.len(),
        last_cycle,
        running_cycle: running.map(|c| (c.id, c.started_at)),
        outbox_oldest: store.outbox_oldest()?.map(|ms| ms / 1000),
        held_plugins: job.staging.held(),
        rejected_plugins: job.staging.rejected(),
        target_failing,
    })
}

/// The body of a message in the configured format.
pub fn body(message: &Message, config: &AlertsConfig) -> serde_json::Value {
    let link = link(message, config);
    match config.format {
        AlertFormat::Json => serde_json::json!({
            "source": "muster",
            "state": message.state,
            "key": message.alert.key,
            "summary": message.alert.summary,
            "since": store::rfc3339(message.since),
            "link": link,
        }),
        AlertFormat::Slack => {
            let state = match message.state {
                State::Firing => "🔴 muster",
                State::Resolved => "✅ muster, resolved",
            };
            serde_json::json!({
                "text": format!("{state}: {} ({link})", message.alert.summary),
            })
        }
    }
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// POSTs a message to the webhook (when one is configured), retrying a failure (no answer, or
/// not a 2xx) with backoff.
pub async fn deliver(
    client: &reqwest::Client,
    config: &AlertsConfig,
    secret: Option<&[u8]>,
    message: &Message,
) -> Result<(), String> {
    let Some(url) = config.webhook_url.as_deref() else {
        return Ok(());
    };
    let body = serde_json::to_vec(&body(message, config)).map_err(|e| e.to_string())?;
    let mut last_error = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(4u64.pow(attempt - 1))).await;
        }
        let mut request = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        if let Some(secret) = secret {
            request = request.header(SIGNATURE_HEADER, signature(secret, &body));
        }
        match request.send().await {
            Ok(answer) if answer.status().is_success() => return Ok(()),
            Ok(answer) => last_error = format!("the webhook answered {}", answer.status()),
            Err(e) => last_error = format!("the webhook could not be reached: {e}"),
        }
    }
    Err(last_error)
}

/// The secret from `secret_env`, when set.
pub fn secret(config: &AlertsConfig) -> anyhow::Result<Option<Vec<u8>>> {
    match &config.secret_env {
        None => Ok(None),
        Some(name) => match std::env::var(name) {
            Ok(value) if !value.is_empty() => Ok(Some(value.into_bytes())),
            _ => anyhow::bail!(
                "[alerts] secret_env names {name}, which is not set; alerts would go unsigned"
            ),
        },
    }
}

/// The link of a message: under `base_url` when set.
fn link(message: &Message, config: &AlertsConfig) -> String {
    match &config.base_url {
        Some(base) => format!("{}{}", base.trim_end_matches('/'), message.alert.link),
        None => message.alert.link.clone(),
    }
}

/// A message as an e-mail's subject and plain-text body.
pub fn email_text(message: &Message, config: &AlertsConfig) -> (String, String) {
    let state = match message.state {
        State::Firing => "firing",
        State::Resolved => "resolved",
    };
    let mut summary: String = message.alert.summary.chars().take(150).collect();
    if summary.len() < message.alert.summary.len() {
        summary.push('…');
    }
    let subject = format!("[muster] {state}: {summary}");
    let body = format!(
        "{}\n\nState: {state}\nSince: {}\nAlert: {}\nDetails: {}\n\n-- \nmuster; alerts are \
         set in the job's [alerts] table.\n",
        message.alert.summary,
        store::rfc3339(message.since),
        message.alert.key,
        link(message, config),
    );
    (subject, body)
}

/// Sends alerts by e-mail through `[alerts.email]`'s SMTP server.
pub struct Mailer {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
    to: Vec<lettre::message::Mailbox>,
}

impl Mailer {
    /// The mailer `config` describes, its password read from `password_env`: an unset
    /// variable or an address that does not parse is an error at start, not at the first alert.
    pub fn new(config: &engine::config::EmailConfig) -> anyhow::Result<Mailer> {
        use anyhow::Context as _;
        use engine::config::SmtpSecurity;
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::{AsyncSmtpTransport, Tokio1Executor};

        let host = config.smtp_host.trim();
        let mut builder = match config.security {
            SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
            SmtpSecurity::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                host,
            )),
        }
        .with_context(|| format!("[alerts.email] smtp_host {host:?}"))?
        .port(config.port())
        .timeout(Some(Duration::from_secs(20)));
        if let (Some(user), Some(variable)) = (&config.username, &config.password_env) {
            let password = std::env::var(variable)
                .ok()
                .filter(|p| !p.is_empty())
                .with_context(|| {
                    format!("[alerts.email] password_env names {variable}, which is not set")
                })?;
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let mailbox = |text: &str, key: &str| -> anyhow::Result<lettre::message::Mailbox> {
            text.trim()
                .parse()
                .with_context(|| format!("[alerts.email] {key} {text:?} is not an e-mail address"))
        };
        Ok(Mailer {
            transport: builder.build(),
            from: mailbox(&config.from, "from")?,
            to: config
                .to
                .iter()
                .map(|t| mailbox(t, "to"))
                .collect::<anyhow::Result<_>>()?,
        })
    }

    /// Mails `message` to every recipient, retrying a failure with backoff.
    pub async fn send(&self, message: &Message, config: &AlertsConfig) -> Result<(), String> {
        use lettre::AsyncTransport as _;
        let (subject, body) = email_text(message, config);
        let mut email = lettre::Message::builder()
            .from(self.from.clone())
            .subject(subject);
        for to in &self.to {
            email = email.to(to.clone());
        }
        let email = email
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| format!("building the e-mail: {e}"))?;
        let mut last_error = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(4u64.pow(attempt - 1))).await;
            }
            match self.transport.send(email.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    last_error = format!("the SMTP server refused or could not be reached: {e}")
                }
            }
        }
        Err(last_error)
    }
}

#[cfg(test)]
mod tests;
