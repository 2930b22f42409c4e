//! One request class's rate: paced evenly, lowered by the target's 429s, raised again after
//! a quiet period.
//!
//! Synchronous and clock-free: every method takes `now`, so tests drive it with made-up
//! instants and [`Limits`](super::Limits) with the real clock. Written out rather than with
//! `governor`, whose limiters cannot change their rate or pause while keeping their state.
//!
//! The shape is TCP's AIMD (RFC 5681 §3.1): a 429 lowers the rate multiplicatively (or to the
//! `X-RateLimit-Limit` the target announced, when lower), and every quiet period without one
//! raises it by a fixed step. Refinements keep a steady state free of 429s:
//! - a 429 met by a step up goes back to the rate before the step, which ran a quiet period
//!   without one, rather than lower;
//! - the limit a 429 revealed caps the probing for [`FORGET`]: the announced limit, the rate
//!   before a failed step, or 95 % of the rate the 429 came at, so a limit once found is not
//!   hit again and again; after [`FORGET`] without a 429 the probing goes on up to the
//!   configured rate, since Zoom's limits are shared by every app of the account and free up
//!   when the others stop;
//! - the configured rate is the ceiling. A guess too high costs a few 429s; a guess too low costs
//!   throughput but is never exceeded, because an admin may keep the rest of the account's
//!   shared budget for other apps on purpose.

use std::time::{Duration, Instant};

/// A 429 multiplies the rate by this when the target does not say its limit (CUBIC's β, RFC
/// 9438 §4.6: gentler than halving, and two steps take a 2× overshoot below the limit).
pub(crate) const DECREASE: f64 = 0.7;
/// How long without a 429 before the rate goes up one step: several of the one-second windows
/// Zoom counts in, so one step's effect is seen before the next.
pub(crate) const QUIET: Duration = Duration::from_secs(5);
/// One step up, as a share of the configured rate.
pub(crate) const STEP: f64 = 0.05;
/// How long a limit learned from a 429 caps the probing.
pub(crate) const FORGET: Duration = Duration::from_secs(300);
/// Below a limit found without the target saying it, the probing stops at this share of it.
pub(crate) const HEADROOM: f64 = 0.95;
/// The pause after a 429 without `Retry-After`: Zoom's limits are per second, and Zoom has been
/// seen throttling without the header (Zoom devforum #18928).
pub(crate) const DEFAULT_PAUSE: Duration = Duration::from_secs(1);
/// The rate never goes below this many requests per second on its own (one every 10 s).
pub(crate) const MIN_RATE: f64 = 0.1;
/// Nor below this share of the configured rate: a run of 429s that are not about the rate (a
/// target's throttling storm, other apps of the account spending the shared budget) would
/// otherwise take the rate down to [`MIN_RATE`], and a ceiling learned there would keep it low
/// for [`FORGET`]. Twenty times too high a guess still converges.
pub(crate) const FLOOR: f64 = 0.05;

/// The most the probing may reach, as a 429 revealed it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Learned {
    ceiling: f64,
    at: Instant,
}

/// The state of one class.
#[derive(Debug, Clone)]
pub(crate) struct Adaptive {
    configured: f64,
    rate: f64,
    learned: Option<Learned>,
    /// The last rate that ran a quiet period without a 429 since the last fall.
    good: Option<f64>,
    /// When the next request may leave (GCRA's theoretical arrival time).
    next_at: Instant,
    paused_until: Instant,
    /// The last rise or fall of the rate; the quiet period counts from it.
    changed_at: Instant,
    /// The last fall: 429s to requests sent before it were answered to the old rate and are
    /// not a reason to fall again.
    lowered_at: Option<Instant>,
    /// Bumped whenever slots already handed out are void (a 429 paused the class).
    epoch: u64,
    throttled: u64,
}

/// A slot: when the request may leave, and the epoch it was handed out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    pub at: Instant,
    pub epoch: u64,
}

impl Adaptive {
    /// Starts at `configured` requests per second (positive and finite, as validated).
    pub(crate) fn new(configured: f64, now: Instant) -> Self {
        Adaptive {
            configured,
            rate: configured,
            learned: None,
            good: None,
            next_at: now,
            paused_until: now,
            changed_at: now,
            lowered_at: None,
            epoch: 0,
            throttled: 0,
        }
    }

    pub(crate) fn configured(&self) -> f64 {
        self.configured
    }

    /// Requests per second now.
    pub(crate) fn rate(&self) -> f64 {
        self.rate
    }

    /// 429s met so far.
    pub(crate) fn throttled(&self) -> u64 {
        self.throttled
    }

    #[cfg(test)]
    pub(crate) fn paused_until(&self) -> Instant {
        self.paused_until
    }

    /// Whether a slot handed out earlier still holds (no 429 has paused the class since).
    pub(crate) fn holds(&self, slot: Slot) -> bool {
        slot.epoch == self.epoch
    }

    /// The next slot: one every `1 / rate` seconds, none during a pause. A burst of one, so a
    /// target counting in any window never sees more than the rate.
    pub(crate) fn reserve(&mut self, now: Instant) -> Slot {
        self.probe(now);
        let at = now.max(self.next_at).max(self.paused_until);
        self.next_at = at + interval(self.rate);
        Slot {
            at,
            epoch: self.epoch,
        }
    }

    /// A 429 at `now` to a request that left at `sent`. `retry_after` is the target's wait;
    /// `announced` its `X-RateLimit-Limit`, in requests per second.
    pub(crate) fn throttle(
        &mut self,
        now: Instant,
        sent: Instant,
        retry_after: Option<Duration>,
        announced: Option<f64>,
    ) {
        self.throttled += 1;
        let pause_end = now + retry_after.unwrap_or(DEFAULT_PAUSE);
        self.paused_until = self.paused_until.max(pause_end);
        // Slots handed out at the old pace are void: their holders take new ones after the pause.
        self.next_at = self.paused_until;
        self.epoch += 1;
        if self.lowered_at.is_some_and(|lowered| sent < lowered) {
            return;
        }
        let before = self.rate;
        let (rate, ceiling) = match (announced.filter(|l| l.is_finite() && *l > 0.0), self.good) {
            // The target says its limit and we were above it: that is the rate.
            (Some(limit), _) if limit < before => (limit, limit),
            // A step up went too far: back to the rate before it.
            (_, Some(good)) if good < before => (good, good),
            // Otherwise (announced but not above it: others share the budget) lower.
            _ => {
                let floor = (self.configured * FLOOR).max(MIN_RATE);
                let lowered = (before * DECREASE).max(floor);
                (lowered, (before * HEADROOM).max(floor))
            }
        };
        self.rate = rate.min(self.configured);
        self.learned = Some(Learned { ceiling, at: now });
        self.good = None;
        self.lowered_at = Some(now);
        self.changed_at = now;
    }

    /// The most the probing may reach now.
    fn ceiling(&mut self, now: Instant) -> f64 {
        match self.learned {
            Some(l) if now.saturating_duration_since(l.at) < FORGET => {
                l.ceiling.min(self.configured)
            }
            _ => {
                self.learned = None;
                self.configured
            }
        }
    }

    /// One step up when a quiet period has passed since the last change.
    fn probe(&mut self, now: Instant) {
        let ceiling = self.ceiling(now);
        if self.rate >= ceiling || now.saturating_duration_since(self.changed_at) < QUIET {
            return;
        }
        self.good = Some(self.rate);
        self.rate = (self.rate + STEP * self.configured).min(ceiling);
        self.changed_at = now;
    }
}

/// The time between two requests at `rate`, at most a day (a rate of 1e-30 is valid).
fn interval(rate: f64) -> Duration {
    const DAY: Duration = Duration::from_secs(86_400);
    Duration::try_from_secs_f64(1.0 / rate).map_or(DAY, |d| d.min(DAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Reserves `n` slots at `now` and returns their offsets from `t0`.
    fn slots(limiter: &mut Adaptive, t0: Instant, now: Instant, n: usize) -> Vec<Duration> {
        (0..n)
            .map(|_| limiter.reserve(now).at.duration_since(t0))
            .collect()
    }

    #[test]
    fn paces_evenly_at_the_configured_rate() {
        let t0 = Instant::now();
        let mut limiter = Adaptive::new(4.0, t0);
        assert_eq!(slots(&mut limiter, t0, t0, 3), [ms(0), ms(250), ms(500)]);
        // Idle time is not banked: after a pause the next slot is now, then 250 ms on.
        let later = t0 + 10 * S;
        assert_eq!(
            slots(&mut limiter, t0, later, 2),
            [10 * S, 10 * S + ms(250)]
        );
    }

    #[test]
    fn a_429_lowers_the_rate_and_pauses_for_retry_after() {
        let t0 = Instant::now();
        let mut limiter = Adaptive::new(10.0, t0);
        let old = limiter.reserve(t0);
        limiter.throttle(t0 + ms(100), t0, Some(2 * S), None);
        assert!((limiter.rate() - 7.0).abs() < 1e-9, "{}", limiter.rate());
        assert!(
            !limiter.holds(old),
            "slots handed out before the 429 are void"
        );
        assert_eq!(limiter.paused_until(), t0 + ms(2100));
        let next = limiter.reserve(t0 + ms(200));
        assert_eq!(next.at, t0 + ms(2100), "nothing leaves before Retry-After");
        assert!(limiter.holds(next));
        // Without Retry-After: a pause of one second all the same.
        limiter.throttle(t0 + 3 * S, t0 + ms(2900), None, None);
        assert_eq!(limiter.paused_until(), t0 + 4 * S);
        assert_eq!(limiter.throttled(), 2);
    }

    #[test]
    fn an_announced_limit_is_taken_at_once() {
        let t0 = Instant::now();
        let mut limiter = Adaptive::new(60.0, t0);
        limiter.throttle(t0, t0, Some(S), Some(30.0));
        assert_eq!(limiter.rate(), 30.0);
        // Announced but not below the rate: others use the budget, so lower as without it.
        limiter.throttle(t0 + 2 * S, t0 + ms(1500), Some(S), Some(30.0));
        assert!((limiter.rate() - 21.0).abs() < 1e-9, "{}", limiter.rate());
    }

    #[test]
    fn throttles_of_requests_sent_before_the_fall_do_not_lower_it_again() {
        let t0 = Instant::now();
        let mut limiter = Adaptive::new(20.0, t0);
        limiter.throttle(t0 + ms(50), t0, Some(S), None);
        // Fifteen more answers to requests that left before the first 429 came back.
        for i in 0..15 {
            limiter.throttle(t0 + ms(60 + i), t0 + ms(i), Some(S), None);
        }
        assert!((limiter.rate() - 14.0).abs() < 1e-9, "{}", limiter.rate());
        assert_eq!(limiter.throttled(), 16);
        // A request sent after the fall and throttled all the same: lower again.
        limiter.throttle(t0 + 3 * S, t0 + 2 * S, Some(S), None);
        assert!((limiter.rate() - 9.8).abs() < 1e-9, "{}", limiter.rate());
    }

    #[test]
    fn probes_upward_after_quiet_periods_up_to_the_learned_limit() {
        let t0 = Instant::now();
        let mut limiter = Adaptive::new(100.0, t0);
        limiter.throttle(t0, t0, Some(S), None);
        assert!((limiter.rate() - 70.0).abs() < 1e-9);
        // Not before a quiet period.
        limiter.reserve(t0 + QUIET - ms(1));
        assert!((limiter.rate() - 70.0).abs() < 1e-9);
        // One step (5 % of 100) per quiet period, up to 95 % of the rate the 429 came at.
        let mut now = t0;
        let mut seen = Vec::new();
        for _ in 0..8 {
            now += QUIET;
            limiter.reserve(now);
            seen.push(limiter.rate().round() as u32);
        }
        assert_eq!(seen, [75, 80, 85, 90, 95, 95, 95, 95]);
        // A 429 to the last step: back to the rate before it, which stays the ceiling.
        limiter.throttle(now + ms(1), now, None, None);
        assert!((limiter.rate() - 90.0).abs() < 1e-9, "{}", limiter.rate());
        for _ in 0..5 {
            now += QUIET;
            limiter.reserve(now);
        }
        assert!((limiter.rate() - 90.0).abs() < 1e-9, "{}", limiter.rate());
        // After FORGET without a 429 it goes on, up to the configured rate and no further.
        for _ in 0..(FORGET.as_secs() / QUIET.as_secs() + 10) {
            now += QUIET;
            limiter.reserve(now);
        }
        assert_eq!(limiter.rate(), 100.0);
    }

    #[test]
    fn an_announced_limit_caps_the_probing_at_itself() {
        let t0 = Instant::now();
        let mut limiter = Adaptive::new(60.0, t0);
        limiter.throttle(t0, t0, Some(S), Some(30.0));
        let mut now = t0;
        for _ in 0..20 {
            now += QUIET;
            limiter.reserve(now);
        }
        assert_eq!(limiter.rate(), 30.0);
    }

    #[test]
    fn never_below_the_floor() {
        let t0 = Instant::now();
        let mut limiter = Adaptive::new(0.2, t0);
        let mut now = t0;
        for _ in 0..10 {
            now += 10 * S;
            limiter.throttle(now, now, None, None);
        }
        assert_eq!(limiter.rate(), MIN_RATE);
        let slot = limiter.reserve(now + 5 * S);
        let gap = limiter.reserve(slot.at).at.duration_since(slot.at);
        assert!(gap.abs_diff(10 * S) < ms(1), "{gap:?}");
    }

    #[test]
    fn a_storm_of_429s_leaves_a_twentieth_of_the_configured_rate() {
        let t0 = Instant::now();
        let mut limiter = Adaptive::new(1000.0, t0);
        let mut now = t0;
        for _ in 0..30 {
            now += S;
            limiter.throttle(now, now, Some(S), None);
        }
        assert_eq!(limiter.rate(), 50.0);
    }
}
