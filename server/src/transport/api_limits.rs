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

/// Proxies whose `X-Forwarded-For` is believed: for a request from one of them, the client is the
/// address that proxy put last in the header (earlier entries are whatever the client claimed).
/// Anyone else's header is ignored, so a client cannot choose whose budget it spends.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// Parses addresses and networks such as `127.0.0.1`, `10.0.0.0/8` or `fd00::/8`.
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        let mut networks = Vec::new();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let (address, bits) = entry.split_once('/').unwrap_or((entry, ""));
            let address: IpAddr = address
                .parse()
                .map_err(|_| anyhow::anyhow!("`{entry}` in --trusted-proxies is not an IP address or network"))?;
            let address = address.to_canonical();
            let full = if address.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                "" => full,
                bits => bits.parse().ok().filter(|b| *b <= full).ok_or_else(|| {
                    anyhow::anyhow!("`{entry}` in --trusted-proxies has a prefix length beyond {full}")
                })?,
            };
            networks.push((address, bits));
        }
        Ok(TrustedProxies { networks })
    }

    fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.networks.iter().any(|(network, bits)| same_prefix(*network, peer, *bits))
    }

    /// The client behind a request from `peer` that carried `forwarded_for` (its `X-Forwarded-For`
    /// headers, in order).
    pub fn client<'a>(&self, peer: Option<IpAddr>, forwarded_for: impl Iterator<Item = &'a str>) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let last = forwarded_for.last().and_then(|header| header.rsplit(',').next()).map(str::trim);
        Some(last.and_then(|address| address.parse().ok()).unwrap_or(peer))
    }
}

fn same_prefix(network: IpAddr, address: IpAddr, bits: u8) -> bool {
    let (network, address, width) = match (network, address) {
        (IpAddr::V4(n), IpAddr::V4(a)) => (u128::from(u32::from(n)), u128::from(u32::from(a)), 32),
        (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    shift >= width || (network >> shift) == (address >> shift)
}

pub struct ApiLimits {
    per_address: CostLimiter<AddressKey>,
    joins_per_event: CostLimiter<String>,
    failed_lookup_cost: u32,
    photo_uploads: CostLimiter<String>,
}

/// Photo uploads per person: a burst for a table's worth of post-its, then one a second. (How many a
/// team may keep is the outputs' rule.)
const PHOTO_UPLOADS_PER_SECOND: u32 = 1;
const PHOTO_UPLOAD_BURST: u32 = 20;

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
            photo_uploads: CostLimiter::new(PHOTO_UPLOADS_PER_SECOND, PHOTO_UPLOAD_BURST),
        }
    }

    /// Counts one photo upload by `participant` against their budget.
    pub fn photo_upload(&self, participant: &str) -> Result<(), AppError> {
        self.photo_uploads.reserve(&participant.to_string(), 1).map_err(|wait| refused(wait, "too many photos at once"))
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
            photo_uploads: CostLimiter::new(1, 2),
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
    fn only_a_trusted_proxy_says_who_the_client_is() {
        let proxies =
            TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into(), "fd00::/8".into()]).expect("parses");
        let client = |peer: &str, headers: &[&str]| {
            proxies.client(Some(peer.parse().expect("ip")), headers.iter().copied()).map(|a| a.to_string())
        };
        assert_eq!(client("127.0.0.1", &["203.0.113.7"]).as_deref(), Some("203.0.113.7"));
        assert_eq!(client("10.1.2.3", &["1.1.1.1, 198.51.100.2"]).as_deref(), Some("198.51.100.2"), "the last hop");
        assert_eq!(
            client("10.1.2.3", &["1.1.1.1", "198.51.100.3"]).as_deref(),
            Some("198.51.100.3"),
            "the last header"
        );
        assert_eq!(client("fd12::1", &["2001:db8::9"]).as_deref(), Some("2001:db8::9"));
        assert_eq!(client("::ffff:127.0.0.1", &["203.0.113.8"]).as_deref(), Some("203.0.113.8"), "mapped IPv4");
        assert_eq!(
            client("192.0.2.1", &["203.0.113.7"]).as_deref(),
            Some("192.0.2.1"),
            "anyone else's header is ignored"
        );
        assert_eq!(client("127.0.0.1", &["not an address"]).as_deref(), Some("127.0.0.1"));
        assert_eq!(client("127.0.0.1", &[]).as_deref(), Some("127.0.0.1"));
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.local".into()]).is_err());
        let everyone = TrustedProxies::parse(&["0.0.0.0/0".into()]).expect("parses");
        assert!(everyone.trusts("192.0.2.1".parse().expect("ip")));
    }

    #[test]
    fn an_event_takes_joins_at_its_own_rate_whatever_the_addresses() {
        let limits = limits(100, 100, 1);
        assert!((0..3).all(|_| limits.join("e_1").is_ok()));
        assert_eq!(limits.join("e_1").err().map(|e| e.code()), Some(ErrorCode::RateLimited));
        assert!(limits.join("e_2").is_ok(), "another event has its own budget");
    }
}
