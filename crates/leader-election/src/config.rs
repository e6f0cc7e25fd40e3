//! [`Timings`]: the three durations of an election, client-go's defaults, and their checks.

use std::time::Duration;

use crate::error::{Error, Result};

/// How long a lease stays valid after its holder last renewed it, as measured by every other
/// replica from the moment it saw the renewal (client-go's `LeaseDuration` default: 15 s).
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);

/// How long a leader keeps acting without a successful renewal (client-go's `RenewDeadline`
/// default: 10 s). The 5 s gap to the lease duration is the margin that absorbs request latency
/// and clock-rate differences between replicas.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);

/// How often a leader renews and a candidate retries (client-go's `RetryPeriod` default: 2 s).
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);

/// Candidates wait `retry_period * (1 + JITTER_FACTOR * r)` for `r` uniform in `[0, 1)` between
/// attempts, so replicas started together spread out (client-go's `JitterFactor`, 1.2).
pub const JITTER_FACTOR: f64 = 1.2;

/// The `leaseDurationSeconds` written by a release, together with an empty holder: the lease is
/// free at once, and a reader that does not know the empty-holder rule still waits only a second
/// (client-go writes the same).
pub const RELEASED_LEASE_DURATION: Duration = Duration::from_secs(1);

/// The durations of an election. All replicas of one election should use the same values.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use leader_election::{Error, Timings};
///
/// assert!(Timings::default().validate().is_ok());
/// let bad = Timings {
///     lease_duration: Duration::from_secs(10),
///     renew_deadline: Duration::from_secs(10),
///     ..Timings::default()
/// };
/// assert!(matches!(bad.validate(), Err(Error::RenewDeadlineNotBelowLeaseDuration { .. })));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// How long others wait, from seeing the last renewal, before they may take the lease.
    /// Written into the lease as whole seconds, so it must be a whole number of seconds.
    pub lease_duration: Duration,
    /// How long a leader keeps acting after the start of its last successful renewal.
    pub renew_deadline: Duration,
    /// Time between attempts (jittered for candidates, see [`JITTER_FACTOR`]).
    pub retry_period: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
        }
    }
}

impl Timings {
    /// Checks the rules client-go checks, plus whole seconds for the lease duration.
    ///
    /// # Errors
    ///
    /// * [`Error::ZeroDuration`] if any duration is zero;
    /// * [`Error::LeaseDurationNotWholeSeconds`] if the lease duration has a fraction of a second
    ///   or does not fit the lease's 32-bit field;
    /// * [`Error::RenewDeadlineNotBelowLeaseDuration`] unless `renew_deadline < lease_duration`;
    /// * [`Error::RetryPeriodTooLong`] unless `retry_period * JITTER_FACTOR < renew_deadline`.
    pub fn validate(&self) -> Result<()> {
        for (what, d) in [
            ("lease_duration", self.lease_duration),
            ("renew_deadline", self.renew_deadline),
            ("retry_period", self.retry_period),
        ] {
            if d.is_zero() {
                return Err(Error::ZeroDuration { what });
            }
        }
        if self.lease_duration.subsec_nanos() != 0
            || i32::try_from(self.lease_duration.as_secs()).is_err()
        {
            return Err(Error::LeaseDurationNotWholeSeconds {
                lease_duration: self.lease_duration,
            });
        }
        if self.renew_deadline >= self.lease_duration {
            return Err(Error::RenewDeadlineNotBelowLeaseDuration {
                renew_deadline: self.renew_deadline,
                lease_duration: self.lease_duration,
            });
        }
        if self.retry_period.mul_f64(JITTER_FACTOR) >= self.renew_deadline {
            return Err(Error::RetryPeriodTooLong {
                retry_period: self.retry_period,
                renew_deadline: self.renew_deadline,
            });
        }
        Ok(())
    }

    /// The lease duration in whole seconds, as written to the lease. Valid after
    /// [`Self::validate`].
    pub(crate) fn lease_seconds(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX)
    }

    /// A candidate's wait before its next attempt: the retry period plus up to
    /// `JITTER_FACTOR` times more.
    pub(crate) fn jittered_retry(&self) -> Duration {
        self.retry_period
            .mul_f64(1.0 + JITTER_FACTOR * fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn client_go_rules() {
        let t = |l, r, p| Timings {
            lease_duration: l,
            renew_deadline: r,
            retry_period: p,
        };
        assert!(t(secs(15), secs(10), secs(2)).validate().is_ok());
        assert!(matches!(
            t(secs(15), Duration::ZERO, secs(2)).validate(),
            Err(Error::ZeroDuration {
                what: "renew_deadline"
            })
        ));
        assert!(matches!(
            t(
                Duration::from_millis(1500),
                secs(1),
                Duration::from_millis(100)
            )
            .validate(),
            Err(Error::LeaseDurationNotWholeSeconds { .. })
        ));
        assert!(matches!(
            t(secs(10), secs(11), secs(2)).validate(),
            Err(Error::RenewDeadlineNotBelowLeaseDuration { .. })
        ));
        // 2 s * 1.2 = 2.4 s is not below 2.4 s.
        assert!(matches!(
            t(secs(15), Duration::from_millis(2400), secs(2)).validate(),
            Err(Error::RetryPeriodTooLong { .. })
        ));
        assert!(
            t(secs(15), Duration::from_millis(2401), secs(2))
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn jitter_stays_in_range() {
        let t = Timings::default();
        for _ in 0..1000 {
            let d = t.jittered_retry();
            assert!(d >= t.retry_period && d < t.retry_period.mul_f64(1.0 + JITTER_FACTOR));
        }
    }
}
