//! Run ids: `run-<trainer start, UTC>-<counter>-<random>`. The start time means a restarted
//! trainer never reuses an old run's id; the random tail keeps two trainers started in the
//! same second apart.

use std::sync::atomic::{AtomicU64, Ordering};

/// Longest run id accepted in a request (ours are 37 bytes).
pub(super) const MAX_RUN_ID: usize = 128;

/// The ids one trainer hands out.
pub(super) struct RunIds {
    /// This service's start (`YYYYMMDDhhmmss`, UTC).
    boot: String,
    next: AtomicU64,
}

impl RunIds {
    pub(super) fn new() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()) as i64;
        RunIds {
            boot: utc_stamp(now),
            next: AtomicU64::new(1),
        }
    }

    /// Ids as a trainer started at `boot` would give them.
    #[cfg(test)]
    pub(super) fn started_at(boot: &str) -> Self {
        RunIds {
            boot: boot.into(),
            next: AtomicU64::new(1),
        }
    }

    /// A fresh id; fails only when the OS has no randomness to give.
    pub(super) fn next(&self) -> Result<String, getrandom::Error> {
        let mut tail = [0u8; 4];
        getrandom::getrandom(&mut tail)?;
        Ok(format!(
            "run-{}-{:06}-{:08x}",
            self.boot,
            self.next.fetch_add(1, Ordering::Relaxed),
            u32::from_le_bytes(tail)
        ))
    }
}

/// `YYYYMMDDhhmmss` of `secs` since the epoch, UTC (run ids sort by the trainer's start).
pub(super) fn utc_stamp(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps_match_the_calendar() {
        assert_eq!(utc_stamp(0), "19700101000000");
        assert_eq!(utc_stamp(951_782_400), "20000229000000"); // a leap day
        assert_eq!(utc_stamp(1_796_206_185), "20261202100945");
    }
}
