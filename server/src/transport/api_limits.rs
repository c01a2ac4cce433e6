//! Limits on the HTTP API that anyone can call without a token: looking up a join code, joining, and
//! trading a refresh token. Without them a script could fill an event's roster with made-up people or
//! walk the 31^6 join codes.
//!
//! Two budgets. Each client address has one for all three calls, where a lookup that fails (an unknown
//! join code, a refresh token that is no good) costs `failed_lookup_cost` requests and one that
//! succeeds costs one: the dearer cost is reserved before the lookup and the difference given back
//! when it succeeds, so a guess cannot be told from a hit before it is paid for. A venue's phones share
//! one address and join at the cheap rate; a guessing run from one address is stopped after
//! `burst / failed_lookup_cost` tries. Each event also has a budget of joins, whatever their
//! addresses, which bounds how fast its roster can grow however many addresses a script has.

use crate::config::LimitsConfig;
use crate::error::AppError;
use crate::limits::CostLimiter;
use crate::metrics::{METRICS, Metrics};
use makeroom_protocol::ErrorCode;
use std::net::IpAddr;
use std::time::Duration;

/// Whose budget a request is charged to: an IPv4 address, or an IPv6 address's /64 network (one
/// device, or one home or venue network, usually holds a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKey {
    V4([u8; 4]),
    V6Network([u8; 8]),
    /// No peer address was known (never over TCP); such requests share one budget.
    Unknown,
}

impl AddressKey {
    pub fn of(address: Option<IpAddr>) -> Self {
        match address.map(|a| a.to_canonical()) {
            Some(IpAddr::V4(v4)) => AddressKey::V4(v4.octets()),
            Some(IpAddr::V6(v6)) => {
                let mut network = [0; 8];
                network.copy_from_slice(&v6.octets()[..8]);
                AddressKey::V6Network(network)
            }
            None => AddressKey::Unknown,
        }
    }
}

pub struct ApiLimits {
    per_address: CostLimiter<AddressKey>,
    joins_per_event: CostLimiter<String>,
    failed_lookup_cost: u32,
}

/// A request admitted against its address's budget at the price of a failed lookup; `found` gives
/// back the difference once the lookup succeeded.
#[must_use = "a lookup that is never marked found costs as much as a failed one"]
pub struct Admission<'a> {
    limits: &'a ApiLimits,
    address: AddressKey,
}

impl Admission<'_> {
    /// The join code or refresh token was good: the request costs one, like any other.
    pub fn found(self) {
        let refund = self.limits.failed_lookup_cost.saturating_sub(1);
        self.limits.per_address.give_back(&self.address, refund);
    }

    /// The lookup failed: the dearer cost stays taken.
    pub fn failed(self) {
        Metrics::count(&METRICS.api_failed_lookups);
    }
}

impl ApiLimits {
    pub fn new(config: &LimitsConfig) -> Self {
        ApiLimits {
            per_address: CostLimiter::new(config.api_requests_per_second, config.api_request_burst),
            joins_per_event: CostLimiter::new(config.event_joins_per_second, config.event_join_burst),
            failed_lookup_cost: config.failed_lookup_cost.max(1),
        }
    }

    /// Admits one lookup from `address`, if its budget holds what a failed one would cost.
    pub fn admit(&self, address: Option<IpAddr>) -> Result<Admission<'_>, AppError> {
        let key = AddressKey::of(address);
        self.per_address.reserve(&key, self.failed_lookup_cost).map_err(|wait| {
            Metrics::count(&METRICS.api_rate_limited_address);
            refused(wait, "too many requests from your network address")
        })?;
        Ok(Admission { limits: self, address: key })
    }

    /// Counts one join to `event` against the event's budget.
    pub fn join(&self, event: &str) -> Result<(), AppError> {
        self.joins_per_event.reserve(&event.to_string(), 1).map_err(|wait| {
            Metrics::count(&METRICS.api_rate_limited_event);
            refused(wait, "too many people are joining this event at once")
        })
    }
}

fn refused(wait: Duration, what: &str) -> AppError {
    let retry_after_ms = wait.as_millis().min(u128::from(u64::MAX)) as u64 + 1;
    let seconds = retry_after_ms.div_ceil(1000);
    let unit = if seconds == 1 { "second" } else { "seconds" };
    AppError::Refused {
        code: ErrorCode::RateLimited,
        message: format!("{what}; try again in {seconds} {unit}"),
        retry_after_ms: Some(retry_after_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn limits(rate: u32, burst: u32, cost: u32) -> ApiLimits {
        ApiLimits {
            per_address: CostLimiter::new(rate, burst),
            joins_per_event: CostLimiter::new(1, 3),
            failed_lookup_cost: cost,
        }
    }

    #[test]
    fn failed_lookups_cost_far_more_than_good_ones() {
        let limits = limits(1, 100, 25);
        let venue = Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)));
        for _ in 0..60 {
            limits.admit(venue).expect("good lookups cost one each").found();
        }
        let guesser = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)));
        let mut guesses = 0;
        while let Ok(admission) = limits.admit(guesser) {
            admission.failed();
            guesses += 1;
        }
        assert_eq!(guesses, 4, "a burst of 100 holds four guesses at 25");
        let refused = limits.admit(guesser).err().expect("refused");
        assert_eq!(refused.code(), ErrorCode::RateLimited);
        let retry = refused.body().retry_after_ms.expect("says when");
        assert!(retry > 20_000 && retry <= 25_001, "{retry}");
        assert!(refused.to_string().contains("try again in"), "{refused}");
    }

    #[test]
    fn an_ipv6_network_shares_one_budget_and_mapped_ipv4_is_ipv4() {
        let one: Ipv6Addr = "2001:db8:1:2::1".parse().expect("v6");
        let other: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().expect("v6");
        assert_eq!(AddressKey::of(Some(one.into())), AddressKey::of(Some(other.into())));
        let mapped: Ipv6Addr = "::ffff:203.0.113.7".parse().expect("mapped");
        assert_eq!(AddressKey::of(Some(mapped.into())), AddressKey::V4([203, 0, 113, 7]));
    }

    #[test]
    fn an_event_takes_joins_at_its_own_rate_whatever_the_addresses() {
        let limits = limits(100, 100, 1);
        assert!((0..3).all(|_| limits.join("e_1").is_ok()));
        assert_eq!(limits.join("e_1").err().map(|e| e.code()), Some(ErrorCode::RateLimited));
        assert!(limits.join("e_2").is_ok(), "another event has its own budget");
    }
}
