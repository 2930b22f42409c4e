//! The frame every page shares (header, navigation, notice), the confirmation page, and small
//! formatting helpers.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::Visitor;

/// Which section a page belongs to (the navigation marks it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Logs,
    People,
    Plugins,
}

impl Section {
    const ALL: [(Section, &'static str, &'static str); 4] = [
        (Section::Overview, "Overview", "/ui"),
        (Section::Logs, "Provisioning logs", "/ui/logs"),
        (Section::People, "People", "/ui/people"),
        (Section::Plugins, "Plugins", "/ui/plugins"),
    ];
}

/// A whole page: `title` in the tab and as the heading, `body` under it.
pub fn page(
    visitor: &Visitor,
    section: Section,
    title: &str,
    notice: Option<&str>,
    body: Markup,
) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · muster" }
                link rel="stylesheet" href="/ui/assets/console.css";
                script src="/ui/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui" { "muster" }
                    nav aria-label="Sections" {
                        ul {
                            @for (s, label, href) in Section::ALL {
                                li {
                                    a href=(href) aria-current=[(s == section).then_some("page")] { (label) }
                                }
                            }
                        }
                    }
                    form.signout method="post" action="/ui/sign-out" {
                        input type="hidden" name="csrf" value=(visitor.csrf);
                        span.role title="Your role in this console" { (visitor.session.role.name()) }
                        button.link type="submit" { "Sign out" }
                    }
                }
                main #main {
                    h1 { (title) }
                    @if let Some(notice) = notice {
                        p.notice role="status" { (notice) }
                    }
                    (body)
                }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

/// A page for a refusal or an error, outside the frame (it needs no sign-in).
pub fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let markup = bare(
        title,
        html! {
            p { (detail) }
            p { a href="/ui" { "Back to the overview" } }
        },
    );
    (status, Html(markup.into_string())).into_response()
}

/// A page without navigation (sign-in, problems).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · muster" }
                link rel="stylesheet" href="/ui/assets/console.css";
            }
            body.bare {
                main #main {
                    p.brand { "muster" }
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// What a control will do, asked before it is done: the same form again with `confirm=yes`.
pub struct Confirm<'a> {
    pub title: &'a str,
    /// What will happen, in a sentence or two.
    pub explains: &'a str,
    pub action: &'a str,
    pub button: &'a str,
    /// Extra fields the form carries on (name, value).
    pub fields: Vec<(&'a str, String)>,
    /// Ask why (a text field named `reason`).
    pub ask_reason: bool,
    pub back: &'a str,
    /// A control that removes or overrides something: its button is drawn as a warning.
    pub danger: bool,
}

pub fn confirm(visitor: &Visitor, section: Section, c: Confirm<'_>) -> Response {
    page(
        visitor,
        section,
        c.title,
        None,
        html! {
            section.card.confirm {
                p { (c.explains) }
                form method="post" action=(c.action) {
                    input type="hidden" name="csrf" value=(visitor.csrf);
                    input type="hidden" name="confirm" value="yes";
                    @for (name, value) in &c.fields {
                        input type="hidden" name=(name) value=(value);
                    }
                    @if c.ask_reason {
                        p {
                            label for="reason" { "Why (shown on the overview and in the status)" }
                            input #reason type="text" name="reason" maxlength="200";
                        }
                    }
                    button.danger[c.danger] type="submit" { (c.button) }
                    " "
                    a.button.secondary href=(c.back) { "Cancel" }
                }
            }
        },
    )
}

/// A small form with one button that posts to `action` (first to its confirmation page).
pub fn button(visitor: &Visitor, action: &str, label: &str, fields: &[(&str, &str)]) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            input type="hidden" name="csrf" value=(visitor.csrf);
            @for (name, value) in fields {
                input type="hidden" name=(name) value=(value);
            }
            button type="submit" { (label) }
        }
    }
}

/// `2026-12-07 15:20:31 UTC`.
pub fn when(unix: i64) -> String {
    store::rfc3339(unix).replace('T', " ").replace('Z', " UTC")
}

/// `3 min ago`, `in 2 h`.
pub fn relative(unix: i64, now: i64) -> String {
    let secs = now - unix;
    let (n, future) = (secs.unsigned_abs(), secs < 0);
    let span = match n {
        0..=59 => format!("{n} s"),
        60..=3599 => format!("{} min", n / 60),
        3600..=172_799 => format!("{} h", n / 3600),
        _ => format!("{} days", n / 86_400),
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// A duration in seconds as `1 min 5 s`.
pub fn duration(secs: i64) -> String {
    match secs {
        ..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// A status word as a badge: `success`, `failure`, `skipped`, `warning`, `succeeded`, ...
pub fn badge(status: &str) -> Markup {
    let tone = match status.to_ascii_lowercase().as_str() {
        "success" | "succeeded" | "ok" | "ready" => "good",
        "failure" | "failed" | "interrupted" => "bad",
        "warning" | "staged" | "paused" | "quarantined" | "running" => "warn",
        _ => "plain",
    };
    html! { span class={ "badge " (tone) } { (status) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_say_them() {
        assert_eq!(when(1_714_564_800), "2024-05-01 12:00:00 UTC");
        assert_eq!(relative(100, 130), "30 s ago");
        assert_eq!(relative(100, 100 + 7200), "2 h ago");
        assert_eq!(relative(100 + 600, 100), "in 10 min");
        assert_eq!(relative(0, 3 * 86_400), "3 days ago");
        assert_eq!(duration(65), "1 min 5 s");
        assert_eq!(duration(3720), "1 h 2 min");
    }

    #[test]
    fn badges_escape_what_they_show() {
        let html = badge("<b>").into_string();
        assert!(html.contains("&lt;b&gt;"), "{html}");
        assert!(badge("failure").into_string().contains("badge bad"));
    }
}
