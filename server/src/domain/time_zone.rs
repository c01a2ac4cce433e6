//! An event's time zone: an IANA name (`Europe/London`), checked against the time zone database
//! built into the server (jiff's bundled copy, so a server without `/usr/share/zoneinfo` knows the
//! same zones as any other), and times written in it for people to read.

use super::DomainError;

/// A time zone the database knows, under its canonical name.
#[derive(Debug, Clone)]
pub struct EventZone {
    pub name: String,
    zone: jiff::tz::TimeZone,
}

const MAX_NAME_CHARS: usize = 64;

/// The zone named `name` (IANA names are matched ignoring ASCII case, and kept as the database
/// spells them).
pub fn parse(name: &str) -> Result<EventZone, DomainError> {
    let name = name.trim();
    let unknown = || {
        DomainError::Invalid(format!(
            "`{}` is not a time zone such as Europe/London",
            name.chars().take(MAX_NAME_CHARS).collect::<String>()
        ))
    };
    if name.is_empty() || name.len() > MAX_NAME_CHARS || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(unknown());
    }
    let zone = jiff::tz::TimeZone::get(name).map_err(|_| unknown())?;
    let name = zone.iana_name().unwrap_or(name).to_string();
    Ok(EventZone { name, zone })
}

impl EventZone {
    /// The zone an event names, for writing its times: the default zone when it names none the
    /// database knows (an old or hand-edited record), and UTC should even that be missing.
    pub fn of_event(name: Option<&str>) -> EventZone {
        name.and_then(|name| parse(name).ok())
            .or_else(|| parse(makeroom_protocol::roster::DEFAULT_TIME_ZONE).ok())
            .unwrap_or_else(|| EventZone { name: "UTC".into(), zone: jiff::tz::TimeZone::UTC })
    }

    /// `YYYY-MM-DD HH:MM` and the zone's abbreviation then (`2026-07-11 14:00 BST`).
    pub fn format(&self, ms: i64) -> String {
        match jiff::Timestamp::from_millisecond(ms) {
            Ok(at) => at.to_zoned(self.zone.clone()).strftime("%Y-%m-%d %H:%M %Z").to_string(),
            Err(_) => "—".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_named_as_the_database_names_them_and_times_follow_summer_time() {
        let london = parse("europe/london").expect("known, whatever the case");
        assert_eq!(london.name, "Europe/London");
        assert_eq!(london.format(0), "1970-01-01 01:00 BST", "Britain kept summer time all year then");
        assert_eq!(london.format(1_795_451_275_000), "2026-11-23 16:27 GMT");
        assert_eq!(london.format(1_783_778_400_000), "2026-07-11 15:00 BST");
        let new_york = parse("America/New_York").expect("known");
        assert_eq!(new_york.format(1_795_451_275_000), "2026-11-23 11:27 EST");
        for bad in
            ["", "Mars/Olympus_Mons", "Europe/ London", "Europe/London\u{0}", "../../etc/passwd", &"A".repeat(65)]
        {
            assert!(matches!(parse(bad), Err(DomainError::Invalid(_))), "{bad:?}");
        }
    }
}
