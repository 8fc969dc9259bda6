//! Limits on password guessing at the login form: failures are counted, not attempts, and past a
//! few free failures each further try must wait a delay that doubles with every failure.
//!
//! Two counts: per (address, email), so one address cannot guess one account's password
//! quickly, and per address over all emails (more generous), so one address cannot try a
//! password on many accounts. There is deliberately no count per email alone: anyone could
//! fill it for any account and lock its owner out. The owner, at their own address, has their
//! own (address, email) count and gets in with the right password however hard someone else
//! guesses from elsewhere. What remains open — a guesser with many addresses gets a few free
//! tries from each — is bounded by argon2id's cost per guess and the password rules.
//!
//! A success clears its (address, email) count. An attempt counts as a failure from the moment
//! it starts (a success gives it back), so a burst of parallel guesses cannot all slip in
//! before the first one fails. Counts are forgotten an hour after their last failure. Time is
//! the server's `Clock`. The counts live in this process's memory: a restart forgets them, and
//! servers sharing a database count apart.
//!
//! IPv6 addresses count per /64 network, the block one subscriber usually gets: counting each
//! address would give an attacker 2^64 fresh ones.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use parley_core::Timestamp;

/// The numbers of the policy.
#[derive(Clone, Copy, Debug)]
pub struct LoginPolicy {
    /// Failures per (address, email) before delays start.
    pub free_per_pair: u32,
    /// Failures per address (any email) before delays start.
    pub free_per_address: u32,
    /// The longest delay, in seconds.
    pub max_delay_secs: i64,
    /// A count is forgotten this long after its last failure, in seconds.
    pub forget_after_secs: i64,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        LoginPolicy { free_per_pair: 5, free_per_address: 50, max_delay_secs: 15 * 60, forget_after_secs: 3600 }
    }
}

/// How long to wait after the last of `failures` failures before the next try: nothing while
/// they are fewer than `free`, then 1 s, 2 s, 4 s… up to `max_secs`.
pub fn delay_secs(failures: u32, free: u32, max_secs: i64) -> i64 {
    if failures < free {
        return 0;
    }
    let doublings = failures - free;
    if doublings >= 62 { max_secs } else { (1i64 << doublings).min(max_secs) }
}

/// Whom a count is about. `None`: the server runs without connection info (not `serve`).
type Address = Option<IpAddr>;

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Timestamp,
}

#[derive(Default)]
struct Counts {
    by_pair: HashMap<(Address, String), Failures>,
    by_address: HashMap<Address, Failures>,
}

/// Beyond this many counts, those forgotten are dropped (and all of them if that is not enough:
/// losing counts beats running out of memory).
const MAX_ENTRIES: usize = 100_000;

/// The login limits, shared by the login and invitation forms.
#[derive(Clone, Default)]
pub struct LoginLimiter {
    policy: LoginPolicy,
    counts: Arc<Mutex<Counts>>,
}

/// The key of an address: IPv4 as is, IPv6 by its /64 network.
fn address_key(ip: Option<IpAddr>) -> Address {
    ip.map(|ip| match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    })
}

fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

impl LoginLimiter {
    pub fn new(policy: LoginPolicy) -> Self {
        LoginLimiter { policy, counts: Arc::default() }
    }

    /// The failures a count still holds at `now` (none once forgotten).
    fn live(&self, f: Option<&Failures>, now: Timestamp) -> u32 {
        f.filter(|f| now.as_micros() - f.last.as_micros() < self.policy.forget_after_secs * 1_000_000)
            .map_or(0, |f| f.count)
    }

    /// Seconds still to wait, by the count `f` with `free` free failures (0: may try).
    fn wait(&self, f: Option<&Failures>, free: u32, now: Timestamp) -> i64 {
        let Some(last) = f.map(|f| f.last) else { return 0 };
        let delay = delay_secs(self.live(f, now), free, self.policy.max_delay_secs);
        let until = last.as_micros() + delay * 1_000_000;
        // Rounded up: "retry in 0 s" would be refused again.
        (until - now.as_micros()).max(0).unsigned_abs().div_ceil(1_000_000) as i64
    }

    /// Starts a login attempt by `ip` for `email`: `Err(seconds)` while a delay runs (nothing
    /// counted), else counts the attempt as a failure until `succeeded` says otherwise.
    pub fn begin(&self, ip: Option<IpAddr>, email: &str, now: Timestamp) -> Result<(), i64> {
        let (address, pair) = (address_key(ip), (address_key(ip), email_key(email)));
        let mut counts = self.counts.lock().expect("login counts");
        let wait = self.wait(counts.by_pair.get(&pair), self.policy.free_per_pair, now).max(self.wait(
            counts.by_address.get(&address),
            self.policy.free_per_address,
            now,
        ));
        if wait > 0 {
            return Err(wait);
        }
        let pair_count = self.live(counts.by_pair.get(&pair), now) + 1;
        let address_count = self.live(counts.by_address.get(&address), now) + 1;
        counts.by_pair.insert(pair, Failures { count: pair_count, last: now });
        counts.by_address.insert(address, Failures { count: address_count, last: now });
        if counts.by_pair.len() + counts.by_address.len() > MAX_ENTRIES {
            self.forget_old(&mut counts, now);
        }
        Ok(())
    }

    /// The attempt begun for `ip` and `email` succeeded: the pair's failures are cleared and the
    /// address gets its attempt back (its other failures stay: logging into one's own account
    /// must not wipe the guesses made at others').
    pub fn succeeded(&self, ip: Option<IpAddr>, email: &str) {
        let address = address_key(ip);
        let mut counts = self.counts.lock().expect("login counts");
        counts.by_pair.remove(&(address, email_key(email)));
        if let Some(f) = counts.by_address.get_mut(&address) {
            f.count = f.count.saturating_sub(1);
        }
    }

    /// Seconds `ip` must wait before trying `email` (0: it may), without counting anything.
    pub fn retry_after(&self, ip: Option<IpAddr>, email: &str, now: Timestamp) -> i64 {
        let address = address_key(ip);
        let counts = self.counts.lock().expect("login counts");
        self.wait(counts.by_pair.get(&(address, email_key(email))), self.policy.free_per_pair, now).max(self.wait(
            counts.by_address.get(&address),
            self.policy.free_per_address,
            now,
        ))
    }

    fn forget_old(&self, counts: &mut Counts, now: Timestamp) {
        let keep = |f: &Failures| now.as_micros() - f.last.as_micros() < self.policy.forget_after_secs * 1_000_000;
        counts.by_pair.retain(|_, f| keep(f));
        counts.by_address.retain(|_, f| keep(f));
        if counts.by_pair.len() + counts.by_address.len() > MAX_ENTRIES {
            tracing::warn!("too many login failures to remember: the counts start over");
            *counts = Counts::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_secs(1_750_000_000);

    fn at(secs: i64) -> Timestamp {
        T0.plus_secs(secs)
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn delays_double_after_the_free_failures_up_to_a_ceiling() {
        let delays: Vec<i64> = (0..8).map(|n| delay_secs(n, 5, 900)).collect();
        assert_eq!(delays, [0, 0, 0, 0, 0, 1, 2, 4]);
        assert_eq!(delay_secs(20, 5, 900), 900);
        assert_eq!(delay_secs(u32::MAX, 5, 900), 900, "no overflow");
    }

    #[test]
    fn failures_per_address_and_email_bring_growing_delays_and_a_success_clears_them() {
        let limiter = LoginLimiter::default();
        let (me, email) = (ip("203.0.113.9"), "Ana@acme.example");
        for _ in 0..5 {
            assert_eq!(limiter.begin(me, email, at(0)), Ok(()));
        }
        assert_eq!(limiter.begin(me, "ana@ACME.example ", at(0)), Err(1), "the same email, however written");
        assert_eq!(limiter.begin(me, email, at(1)), Ok(()), "the delay ran out");
        assert_eq!(limiter.begin(me, email, at(2)), Err(1), "then 2 s after that failure");
        assert_eq!(limiter.retry_after(me, email, at(2)), 1);
        assert_eq!(limiter.begin(me, email, at(3)), Ok(()));
        assert_eq!(limiter.begin(me, email, at(3)), Err(4));
        assert_eq!(limiter.begin(me, "bob@acme.example", at(3)), Ok(()), "another email from the same address");
        assert_eq!(limiter.begin(ip("198.51.100.7"), email, at(3)), Ok(()), "the same email from elsewhere");
        // The right password, once the delay ran out: the count starts over.
        assert_eq!(limiter.begin(me, email, at(7)), Ok(()));
        limiter.succeeded(me, email);
        assert_eq!(limiter.retry_after(me, email, at(7)), 0);
        for _ in 0..5 {
            assert_eq!(limiter.begin(me, email, at(7)), Ok(()));
        }
        // Forgotten an hour after the last failure.
        assert_eq!(limiter.begin(me, email, at(7)), Err(1));
        assert_eq!(limiter.begin(me, email, at(7 + 3600)), Ok(()));
    }

    #[test]
    fn successes_do_not_count() {
        let limiter = LoginLimiter::default();
        for _ in 0..100 {
            assert_eq!(limiter.begin(ip("203.0.113.9"), "ana@acme.example", at(0)), Ok(()));
            limiter.succeeded(ip("203.0.113.9"), "ana@acme.example");
        }
    }

    #[test]
    fn one_address_trying_many_emails_is_slowed_too() {
        let limiter = LoginLimiter::default();
        let sprayer = ip("203.0.113.9");
        for i in 0..50 {
            assert_eq!(limiter.begin(sprayer, &format!("user{i}@acme.example"), at(0)), Ok(()), "email {i}");
        }
        assert_eq!(limiter.begin(sprayer, "fresh@acme.example", at(0)), Err(1));
        assert_eq!(limiter.begin(ip("198.51.100.7"), "fresh@acme.example", at(0)), Ok(()), "others are not slowed");
        // Logging into one's own account gives back that attempt only.
        limiter.succeeded(sprayer, "user49@acme.example");
        assert_eq!(limiter.begin(sprayer, "fresh@acme.example", at(0)), Ok(()));
        assert_eq!(limiter.begin(sprayer, "fresh2@acme.example", at(0)), Err(1));
    }

    #[test]
    fn an_ipv6_subscriber_counts_as_one_network() {
        let limiter = LoginLimiter::default();
        for i in 0..5 {
            assert_eq!(limiter.begin(ip(&format!("2001:db8:1:2::{i:x}")), "ana@acme.example", at(0)), Ok(()));
        }
        assert_eq!(limiter.begin(ip("2001:db8:1:2:ffff::1"), "ana@acme.example", at(0)), Err(1));
        assert_eq!(limiter.begin(ip("2001:db8:1:3::1"), "ana@acme.example", at(0)), Ok(()), "another /64");
        assert_eq!(address_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }
}
