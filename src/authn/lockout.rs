//! The password lockout rule and the per-IP throttle.
//!
//! Every 5th consecutive wrong password locks the account for a period that
//! doubles each time, and the 100th disables it until an operator unlocks it
//! (NIST SP 800-63B-4 §3.2.2 ceiling).

use crate::store::lockouts::LockSchedule;

/// Wrong passwords in a row that trigger a lock.
pub const FAILURES_PER_LOCK: i64 = 5;
/// Consecutive failures after which only an operator can unlock.
pub const HARD_CEILING: i64 = 100;
/// The first lock's length.
pub const FIRST_LOCK_SECS: i64 = 15 * 60;
/// The longest timed lock.
pub const LONGEST_LOCK_SECS: i64 = 24 * 3600;
/// `locked_until` of a disabled account: 9999-12-31T23:59:59Z.
pub const DISABLED_UNTIL: i64 = 253_402_300_799;

/// Per-IP throttle: wrong passwords from one address (across all accounts) in a window.
pub const IP_FAILURES_PER_WINDOW: i64 = 20;
/// Per-IP throttle window.
pub const IP_WINDOW_SECS: i64 = 15 * 60;

/// The rule above as data for the store, which sets a lock in the same
/// write that counts the failure reaching it; built once.
pub fn schedule() -> &'static LockSchedule {
    static SCHEDULE: std::sync::LazyLock<LockSchedule> = std::sync::LazyLock::new(build_schedule);
    &SCHEDULE
}

fn build_schedule() -> LockSchedule {
    let mut lengths = Vec::new();
    for nth in 1..=HARD_CEILING / FAILURES_PER_LOCK {
        let secs = lock_until(nth * FAILURES_PER_LOCK, 0).unwrap_or(LONGEST_LOCK_SECS);
        lengths.push(secs);
        if secs >= LONGEST_LOCK_SECS {
            break;
        }
    }
    LockSchedule::new(FAILURES_PER_LOCK, lengths, HARD_CEILING, DISABLED_UNTIL)
}

/// Until when an account is locked after `failures` consecutive wrong passwords, if at all.
pub fn lock_until(failures: i64, now: i64) -> Option<i64> {
    if failures >= HARD_CEILING {
        return Some(DISABLED_UNTIL);
    }
    if failures <= 0 || failures % FAILURES_PER_LOCK != 0 {
        return None;
    }
    let nth = failures / FAILURES_PER_LOCK; // 1, 2, 3, ...
    let secs = FIRST_LOCK_SECS.saturating_mul(1_i64 << (nth - 1).min(20));
    Some(now + secs.min(LONGEST_LOCK_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fifth_failure_locks_for_a_doubling_period_up_to_a_day() {
        assert_eq!(lock_until(4, 0), None);
        assert_eq!(lock_until(5, 0), Some(15 * 60));
        assert_eq!(lock_until(6, 0), None);
        assert_eq!(lock_until(10, 0), Some(30 * 60));
        assert_eq!(lock_until(15, 0), Some(60 * 60));
        assert_eq!(lock_until(50, 0), Some(24 * 3600));
        assert_eq!(lock_until(95, 0), Some(24 * 3600));
    }

    #[test]
    fn the_schedule_lists_each_lock_length_once_up_to_the_longest() {
        let schedule = schedule();
        assert_eq!(
            schedule.lengths,
            [900, 1800, 3600, 7200, 14400, 28800, 57600, 86400]
        );
        assert_eq!((schedule.every, schedule.ceiling), (5, 100));
    }

    #[test]
    fn the_hundredth_failure_disables_the_account() {
        assert_eq!(lock_until(100, 0), Some(DISABLED_UNTIL));
        assert_eq!(lock_until(101, 0), Some(DISABLED_UNTIL));
    }
}
