//! A preview report as a terminal table or as Markdown (for a pull request comment).

use std::fmt::Write;

use engine::preview::{Changed, Impact, LicenseCount, LicenseKind};

use super::PreviewReport;

/// The report for a terminal.
pub fn table(report: &PreviewReport) -> String {
    let mut out = String::new();
    let impact = &report.impact;
    for c in &report.plugins {
        let _ = writeln!(out, "{}", versions_line(c));
    }
    let _ = writeln!(
        out,
        "people: {} planned ({} read)\n",
        impact.people, report.people_read
    );
    out.push_str("licenses:\n");
    if impact.licenses.is_empty() {
        out.push_str("  none held before or after\n");
    }
    for count in &impact.licenses {
        let _ = writeln!(
            out,
            "  {:<20} {:<7} {}",
            count.name,
            kind(count.kind),
            license_line(count)
        );
    }
    out.push_str("\nchanges:\n");
    let rows = change_rows(impact);
    for (label, count) in &rows {
        let _ = writeln!(out, "  {label:<20} {count}");
    }
    for change in &impact.license_changes.samples {
        let _ = writeln!(
            out,
            "  license    {}: {} → {}{}",
            who(&change.person),
            or_none(&change.before),
            or_none(&change.after),
            change
                .reason_after
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    for change in &impact.attribute_changes.samples {
        for diff in &change.changes {
            let _ = writeln!(
                out,
                "  attribute  {}: {}: {} → {}",
                who(&change.person),
                diff.path,
                or_none(&diff.before),
                or_none(&diff.after)
            );
        }
    }
    for (label, changed) in [
        ("skipped", &impact.newly_skipped),
        ("failed", &impact.newly_failed),
    ] {
        for change in &changed.samples {
            let _ = writeln!(
                out,
                "  {label:<10} {}: {}",
                who(&change.person),
                change.reason
            );
        }
    }
    if !impact.errors.is_empty() {
        out.push_str("\nfailures by kind (active → candidate):\n");
        for e in &impact.errors {
            let _ = writeln!(out, "  {:<32} {} → {}", e.code, e.before, e.after);
        }
    }
    out.push_str("\ncost per call:\n");
    for c in &report.costs {
        let _ = writeln!(
            out,
            "  {:<24} {:<9} {:<14} {:>7} calls  p50 {:>6} µs  p99 {:>6} µs  {:>9} fuel",
            c.plugin, c.side, c.version, c.calls, c.p50_us, c.p99_us, c.fuel_per_call
        );
    }
    out.push_str("\ngates:\n");
    if impact.gates.is_empty() {
        out.push_str("  none configured ([plugins.gates])\n");
    }
    for g in &impact.gates {
        let _ = writeln!(
            out,
            "  {:<28} {:>6} of at most {:>6} (bound {})  {}",
            g.gate,
            g.actual,
            g.allowed,
            g.bound,
            if g.passed { "ok" } else { "EXCEEDED" }
        );
    }
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(out, "\n{}", verdict(report));
    out
}

/// The report as GitHub-flavoured Markdown.
pub fn markdown(report: &PreviewReport) -> String {
    let mut out = String::new();
    let impact = &report.impact;
    let _ = writeln!(out, "### muster plugin preview: {}\n", verdict(report));
    for c in &report.plugins {
        let _ = writeln!(out, "- {}", versions_line(c).replace("  ", " "));
    }
    let _ = writeln!(
        out,
        "\n{} people planned ({} read).\n",
        impact.people, report.people_read
    );
    out.push_str(
        "| License | Kind | Before | After | Delta | Seats |\n|---|---|--:|--:|--:|--:|\n",
    );
    for count in &impact.licenses {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            count.name,
            kind(count.kind),
            count.before,
            count.after,
            signed(count.delta()),
            count.budget.map(|b| b.to_string()).unwrap_or_default()
        );
    }
    out.push_str("\n| Change | People |\n|---|--:|\n");
    for (label, count) in change_rows(impact) {
        let _ = writeln!(out, "| {label} | {count} |");
    }
    if !impact.gates.is_empty() {
        out.push_str("\n| Gate | Actual | Allowed | Bound | |\n|---|--:|--:|--:|---|\n");
        for g in &impact.gates {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                g.gate,
                g.actual,
                g.allowed,
                g.bound,
                if g.passed { "ok" } else { "**exceeded**" }
            );
        }
    }
    if !impact.license_changes.samples.is_empty() {
        details(
            &mut out,
            "License changes",
            &impact.license_changes,
            "| Person | Before | After | Why (the candidate rule) |\n|---|---|---|---|",
            |c| {
                format!(
                    "| {} | {} | {} | {} |",
                    cell(&who(&c.person)),
                    or_none(&c.before),
                    or_none(&c.after),
                    cell(or_none(&c.reason_after))
                )
            },
        );
    }
    if !impact.attribute_changes.samples.is_empty() {
        details(
            &mut out,
            "Attribute changes",
            &impact.attribute_changes,
            "| Person | Attribute | Before | After |\n|---|---|---|---|",
            |c| {
                c.changes
                    .iter()
                    .map(|d| {
                        format!(
                            "| {} | `{}` | {} | {} |",
                            cell(&who(&c.person)),
                            d.path,
                            cell(or_none(&d.before)),
                            cell(or_none(&d.after))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            },
        );
    }
    for (label, changed) in [
        ("Newly skipped", &impact.newly_skipped),
        ("Newly failed", &impact.newly_failed),
    ] {
        if !changed.samples.is_empty() {
            details(
                &mut out,
                label,
                changed,
                "| Person | Reason |\n|---|---|",
                |c| format!("| {} | {} |", cell(&who(&c.person)), cell(&c.reason)),
            );
        }
    }
    if !report.costs.is_empty() {
        out.push_str("\n| Plugin | Side | Version | Calls | p50 µs | p99 µs | Fuel/call |\n|---|---|---|--:|--:|--:|--:|\n");
        for c in &report.costs {
            let _ = writeln!(
                out,
                "| {} | {} | `{}` | {} | {} | {} | {} |",
                c.plugin, c.side, c.version, c.calls, c.p50_us, c.p99_us, c.fuel_per_call
            );
        }
    }
    out
}

fn details<T>(
    out: &mut String,
    title: &str,
    changed: &Changed<T>,
    header: &str,
    row: impl Fn(&T) -> String,
) {
    let _ = writeln!(
        out,
        "\n<details><summary>{title}: {} (first {})</summary>\n\n{header}",
        changed.count,
        changed.samples.len()
    );
    for sample in &changed.samples {
        let _ = writeln!(out, "{}", row(sample));
    }
    out.push_str("\n</details>\n");
}

fn versions_line(c: &super::Compared) -> String {
    let version = if c.active == c.candidate {
        format!("{} (unchanged)", c.active)
    } else {
        format!("{} → {}", c.active, c.candidate)
    };
    let config = if c.config_changed {
        ", configuration changed"
    } else {
        ""
    };
    format!("{} ({}): {version}{config}", c.name, c.world)
}

fn change_rows(impact: &Impact) -> [(&'static str, u64); 4] {
    [
        ("license changes", impact.license_changes.count),
        ("attribute changes", impact.attribute_changes.count),
        ("newly skipped", impact.newly_skipped.count),
        ("newly failed", impact.newly_failed.count),
    ]
}

/// `412 → 431 (+19)`, with the seats where a budget is set.
pub fn license_line(count: &LicenseCount) -> String {
    let mut line = format!(
        "{} → {} ({})",
        count.before,
        count.after,
        signed(count.delta())
    );
    if let Some(budget) = count.budget {
        let over = if count.after > u64::from(budget) {
            " OVER BUDGET"
        } else {
            ""
        };
        let _ = write!(line, " of {budget} seats{over}");
    }
    line
}

fn verdict(report: &PreviewReport) -> &'static str {
    if report.passed {
        "within the gates"
    } else {
        "EXCEEDS THE GATES"
    }
}

fn kind(kind: LicenseKind) -> &'static str {
    match kind {
        LicenseKind::Plan => "plan",
        LicenseKind::AddOn => "add-on",
    }
}

fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{n}")
    } else {
        n.to_string()
    }
}

fn who(person: &engine::preview::Who) -> String {
    match &person.name {
        Some(name) if name != &person.id => format!("{name} ({})", person.id),
        _ => person.id.clone(),
    }
}

fn or_none(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("(none)")
}

/// A Markdown table cell: pipes and line breaks would end it.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
