//! Rate limits the dispatcher keeps on its side, so WhatsApp never has to refuse: a pacer per
//! channel (its throughput, messages per second) and a token bucket per recipient (Meta's pair
//! limit: bursts of up to 45 messages, then about one every 6 s).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parley_core::ids::ChannelId;

/// How one channel is paced.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Between two sends' slots.
    pub spacing: Duration,
    /// How far behind schedule a late sender may catch up.
    pub slack: Duration,
}

impl Pace {
    /// For a channel allowed `throughput` messages per second, paced at `margin` (e.g. 0.95) of
    /// it. The rest of each second, the headroom, absorbs the slack and the jitter between a send
    /// leaving and reaching the provider (a stalled process or network): any one-second window of
    /// departures holds at most `(1 s + slack) / spacing + 1` sends; the slack takes a fifth of
    /// the headroom, the rest is left for jitter (40 ms at 0.95).
    pub fn new(throughput: i64, margin: f64) -> Pace {
        let margin = margin.clamp(0.5, 1.0);
        Pace {
            spacing: Duration::from_secs_f64(1.0 / (throughput.max(1) as f64 * margin)),
            slack: Duration::from_secs_f64(0.2 * (1.0 - margin)),
        }
    }
}

/// Paces one channel: the theoretical time of its next send, advanced by a fixed spacing per
/// send (GCRA). A sender that wakes up late may catch up on what it missed, within the slack.
#[derive(Clone, Debug)]
pub struct Pacer {
    next: Instant,
}

impl Pacer {
    pub fn new(now: Instant) -> Pacer {
        Pacer { next: now }
    }

    /// Reserves the next slot; answers when the send may leave (now when catching up).
    pub fn reserve(&mut self, now: Instant, pace: &Pace) -> Instant {
        // Idle for longer than the slack: start afresh from now (no burst from saved-up time).
        let earliest = now.checked_sub(pace.slack).unwrap_or(now);
        let slot = self.next.max(earliest);
        self.next = slot + pace.spacing;
        slot.max(now)
    }
}

/// Meta's pair rate limit: about one message every 6 s to the same user, bursts of up to 45.
pub const PAIR_BURST: f64 = 45.0;
pub const PAIR_REFILL_SECS: f64 = 6.0;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One token bucket per (channel, recipient). Buckets left alone long enough to be full again
/// are dropped, so a broadcast to a million people does not keep a million buckets.
#[derive(Default)]
pub struct PairLimits {
    buckets: HashMap<(ChannelId, String), Bucket>,
    pruned_at: Option<Instant>,
}

impl PairLimits {
    /// Takes a token for a message to `recipient`, or says how long to wait for one.
    pub fn take(&mut self, channel: ChannelId, recipient: &str, now: Instant) -> Result<(), Duration> {
        self.prune(now);
        let bucket =
            self.buckets.entry((channel, recipient.to_owned())).or_insert(Bucket { tokens: PAIR_BURST, at: now });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed / PAIR_REFILL_SECS).min(PAIR_BURST);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return Err(Duration::from_secs_f64((1.0 - bucket.tokens) * PAIR_REFILL_SECS));
        }
        bucket.tokens -= 1.0;
        Ok(())
    }

    /// Once a second, forgets the buckets that are full again (a broadcast's recipients, one
    /// message each, are forgotten after 6 s), so the map stays small and never stalls the
    /// dispatcher to grow.
    fn prune(&mut self, now: Instant) {
        if self.pruned_at.is_some_and(|at| now.saturating_duration_since(at) < Duration::from_secs(1)) {
            return;
        }
        self.pruned_at = Some(now);
        self.buckets.retain(|_, b| {
            let refilled = now.saturating_duration_since(b.at).as_secs_f64() / PAIR_REFILL_SECS;
            b.tokens + refilled < PAIR_BURST
        });
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends as fast as the pacer allows while waking up late by `lag` each time; returns the
    /// send times.
    fn paced(count: usize, rate: i64, lag: Duration) -> Vec<Instant> {
        let pace = Pace::new(rate, 0.95);
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        let mut now = start;
        (0..count)
            .map(|_| {
                // The sender sleeps until `at` when it is ahead, and wakes up `lag` late.
                let at = pacer.reserve(now, &pace);
                if at > now {
                    now = at + lag;
                }
                now
            })
            .collect()
    }

    fn busiest_second(times: &[Instant]) -> usize {
        let mut sorted = times.to_vec();
        sorted.sort();
        let mut best = 0;
        let mut first = 0;
        for (i, t) in sorted.iter().enumerate() {
            while t.duration_since(sorted[first]) >= Duration::from_secs(1) {
                first += 1;
            }
            best = best.max(i - first + 1);
        }
        best
    }

    #[test]
    fn pacing_never_exceeds_the_rate_and_catches_up_on_late_wakeups() {
        for rate in [1, 10, 80, 1000] {
            for lag in [Duration::ZERO, Duration::from_micros(300), Duration::from_millis(1), Duration::from_millis(7)]
            {
                let times = paced(rate as usize * 5, rate, lag);
                // Within the bound, which leaves most of the headroom for the way to the provider.
                let busiest = busiest_second(&times);
                let bound = (rate as f64 * 0.95 * 1.01 + 1.0).floor() as usize;
                assert!(busiest <= bound.min(rate as usize), "{rate}/s, lag {lag:?}: {busiest}");
                // Late wakeups do not slow the channel down.
                let span = times.last().unwrap().duration_since(times[0]).as_secs_f64();
                assert!(span < 5.0 / 0.95 * 1.01, "{rate}/s, lag {lag:?}: {span}");
            }
        }
    }

    #[test]
    fn a_pause_gives_no_burst_afterwards() {
        let pace = Pace::new(1000, 0.95);
        let start = Instant::now();
        let mut pacer = Pacer::new(start);
        pacer.reserve(start, &pace);
        let later = start + Duration::from_secs(10);
        let burst = (0..100).filter(|_| pacer.reserve(later, &pace) <= later).count();
        assert!(burst <= 12, "{burst} sends at once after a pause");
    }

    #[test]
    fn pair_limits_allow_a_burst_then_one_every_six_seconds() {
        let mut limits = PairLimits::default();
        let (ch, t0) = (ChannelId(1), Instant::now());
        for _ in 0..45 {
            assert_eq!(limits.take(ch, "336", t0), Ok(()));
        }
        let wait = limits.take(ch, "336", t0).unwrap_err();
        assert!((5.9..=6.0).contains(&wait.as_secs_f64()), "{wait:?}");
        assert_eq!(limits.take(ch, "447", t0), Ok(()), "another recipient has their own bucket");
        assert_eq!(limits.take(ChannelId(2), "336", t0), Ok(()), "and so has another channel");
        assert_eq!(limits.take(ch, "336", t0 + Duration::from_secs(6)), Ok(()));
        assert!(limits.take(ch, "336", t0 + Duration::from_secs(7)).is_err());
        // Buckets full again are forgotten: "447" and channel 2 took one token at t0 (full
        // again at t0 + 6 s), "336" is empty at t0 + 7 s (full again at t0 + 277 s).
        assert_eq!(limits.len(), 1);
        assert_eq!(limits.take(ch, "999", t0 + Duration::from_secs(8)), Ok(()));
        assert_eq!(limits.len(), 2);
        assert!(limits.take(ch, "336", t0 + Duration::from_secs(8)).is_err(), "not forgotten while it refills");
        assert_eq!(limits.take(ch, "777", t0 + Duration::from_secs(300)), Ok(()));
        assert_eq!(limits.len(), 1);
    }
}
