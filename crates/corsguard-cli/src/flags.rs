//! Flag values more than one command reads.

use std::time::Duration;

/// `--timeout SECONDS`: from a millisecond to an hour, so that no deadline overflows a clock.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    match s.trim().trim_end_matches('s').parse::<f64>() {
        Ok(n) if (0.001..=3600.0).contains(&n) => Ok(Duration::from_secs_f64(n)),
        _ => Err(format!("`{s}` is not a timeout; write seconds from 0.001 to 3600, e.g. 10 or 0.5")),
    }
}
