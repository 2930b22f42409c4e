//! The licenses-over-time chart, as inline SVG drawn on the server: no script, no library, and
//! it prints. One line per plan and add-on across the cycles, a dashed line per seat budget.

use std::collections::{BTreeMap, BTreeSet};

use maud::{Markup, html};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// Line colours, distinguishable for the common colour-vision deficiencies (Okabe & Ito's
/// palette); each line is also named in the legend and in its `<title>`.
const COLOURS: [&str; 7] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];

/// `series`: (cycle id, licenses held at its end), oldest first.
pub fn licenses(series: &[(i64, &store::LicenseTally)], budgets: &BTreeMap<String, u32>) -> Markup {
    let names: BTreeSet<(&str, &str)> = series
        .iter()
        .flat_map(|(_, t)| {
            t.plans
                .keys()
                .map(|n| ("plan", n.as_str()))
                .chain(t.add_ons.keys().map(|n| ("add-on", n.as_str())))
        })
        .collect();
    let value = |t: &store::LicenseTally, kind: &str, name: &str| -> u64 {
        let map = if kind == "plan" { &t.plans } else { &t.add_ons };
        map.get(name).copied().unwrap_or(0)
    };
    let shown_budgets: Vec<(&str, u32)> = names
        .iter()
        .filter_map(|(_, n)| budgets.get(*n).map(|b| (*n, *b)))
        .collect();
    let top = series
        .iter()
        .flat_map(|(_, t)| names.iter().map(|(k, n)| value(t, k, n)))
        .chain(shown_budgets.iter().map(|(_, b)| u64::from(*b)))
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = Scale {
        points: series.len(),
        top: nice_ceiling(top),
    };
    let first = series.first().map_or(0, |(id, _)| *id);
    let last = series.last().map_or(0, |(id, _)| *id);
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
            aria-label={ "Licenses held at the end of cycles " (first) " to " (last) } {
            @for tick in [0, scale.top / 2, scale.top] {
                line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(scale.y(tick)) y2=(scale.y(tick)) {}
                text.axis x=(LEFT - 6.0) y=(scale.y(tick) + 4.0) text-anchor="end" { (tick) }
            }
            text.axis x=(LEFT) y=(HEIGHT - 8.0) { "cycle " (first) }
            text.axis x=(WIDTH - RIGHT) y=(HEIGHT - 8.0) text-anchor="end" { "cycle " (last) }
            @for (i, (kind, name)) in names.iter().enumerate() {
                @let colour = COLOURS[i % COLOURS.len()];
                @let points = series.iter().enumerate().map(|(x, (_, t))| format!("{:.1},{:.1}", scale.x(x), scale.y(value(t, kind, name)))).collect::<Vec<_>>().join(" ");
                polyline.series fill="none" stroke=(colour) stroke-width="2" points=(points) {
                    title { (name) " (" (kind) ")" }
                }
                @if let Some(budget) = budgets.get(*name) {
                    line.budget x1=(LEFT) x2=(WIDTH - RIGHT) y1=(scale.y(u64::from(*budget))) y2=(scale.y(u64::from(*budget)))
                        stroke=(colour) stroke-dasharray="6 4" {
                        title { (name) " seats: " (budget) }
                    }
                }
            }
        }
        ul.legend {
            @for (i, (kind, name)) in names.iter().enumerate() {
                li {
                    span.swatch style={ "background:" (COLOURS[i % COLOURS.len()]) } {}
                    (name) " (" (kind) ")"
                    @if let Some(b) = budgets.get(*name) { ", " (b) " seats (dashed)" }
                }
            }
        }
    }
}

struct Scale {
    points: usize,
    top: u64,
}

impl Scale {
    fn x(&self, i: usize) -> f64 {
        let span = WIDTH - LEFT - RIGHT;
        if self.points <= 1 {
            return LEFT + span / 2.0;
        }
        LEFT + span * i as f64 / (self.points - 1) as f64
    }

    fn y(&self, v: u64) -> f64 {
        let span = HEIGHT - TOP - BOTTOM;
        TOP + span * (1.0 - v as f64 / self.top as f64)
    }
}

/// The smallest of 1, 2, 5 × 10ⁿ at or above `n`: round axis labels.
fn nice_ceiling(n: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            let candidate = step.saturating_mul(m);
            if candidate >= n {
                return candidate;
            }
        }
        step = step.saturating_mul(10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(plans: &[(&str, u64)], add_ons: &[(&str, u64)]) -> store::LicenseTally {
        store::LicenseTally {
            plans: plans.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
            add_ons: add_ons.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
        }
    }

    #[test]
    fn one_line_per_license_scaled_to_a_round_top() {
        let (a, b, c) = (
            tally(&[("licensed", 10)], &[]),
            tally(&[("licensed", 40)], &[("phone", 5)]),
            tally(&[("licensed", 30)], &[("phone", 7)]),
        );
        let series = [(1, &a), (2, &b), (3, &c)];
        let budgets = BTreeMap::from([("phone".to_string(), 8)]);
        let svg = licenses(&series, &budgets).into_string();
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert_eq!(svg.matches("class=\"budget\"").count(), 1, "{svg}");
        // Top of the axis: 50 (the next round number over 40); 40 people sit 4/5 of the way up.
        assert!(svg.contains(">50</text>"), "{svg}");
        let y40 = TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - 40.0 / 50.0);
        assert!(
            svg.contains(&format!("{:.1},{y40:.1}", (LEFT + WIDTH - RIGHT) / 2.0)),
            "{svg}"
        );
        // A license absent from a cycle is drawn at 0 there.
        assert!(
            svg.contains(&format!("{LEFT:.1},{:.1}", HEIGHT - BOTTOM)),
            "{svg}"
        );
        assert!(svg.contains("phone (add-on), 8 seats (dashed)"), "{svg}");
    }

    #[test]
    fn round_ceilings() {
        let got: Vec<u64> = [0, 1, 3, 7, 10, 11, 40, 99, 101, 4999]
            .into_iter()
            .map(nice_ceiling)
            .collect();
        assert_eq!(got, [1, 1, 5, 10, 10, 20, 50, 100, 200, 5000]);
    }
}
