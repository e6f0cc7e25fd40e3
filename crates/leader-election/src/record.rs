//! [`LeaderElectionRecord`]: what an elector reads from and writes to a Lease's spec.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;

/// The election state kept in a Lease (client-go's `LeaderElectionRecord`).
///
/// The times are wall-clock times written for people and tools (`kubectl get lease`); electors
/// never read them to decide anything (see [`LeaderElector`](crate::LeaderElector) on clock
/// skew).
///
/// A Lease edited by hand reads as follows: a missing spec or holder is an empty holder (free); a
/// missing, zero or negative `leaseDurationSeconds` is zero (the reader's own lease duration then
/// applies, see [`LeaderElector`](crate::LeaderElector)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaderElectionRecord {
    /// Who holds the lease; empty when free (never acquired, or released).
    pub holder_identity: String,
    /// The holder's lease duration, whole seconds.
    pub lease_duration: Duration,
    /// When the holder acquired the lease (wall clock, informational).
    pub acquire_time: Option<Timestamp>,
    /// When the holder last renewed (wall clock, informational).
    pub renew_time: Option<Timestamp>,
    /// How many times the lease changed hands.
    pub leader_transitions: i32,
}

impl LeaderElectionRecord {
    /// Reads a Lease spec; see the type docs for how odd values read.
    pub fn from_spec(spec: Option<&LeaseSpec>) -> Self {
        let Some(spec) = spec else {
            return Self::default();
        };
        let seconds = spec.lease_duration_seconds.unwrap_or(0).max(0);
        Self {
            holder_identity: spec.holder_identity.clone().unwrap_or_default(),
            lease_duration: Duration::from_secs(u64::from(seconds.unsigned_abs())),
            acquire_time: spec.acquire_time.as_ref().map(|t| t.0),
            renew_time: spec.renew_time.as_ref().map(|t| t.0),
            leader_transitions: spec.lease_transitions.unwrap_or(0).max(0),
        }
    }

    /// The Lease spec for this record.
    pub fn to_spec(&self) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.holder_identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: self.acquire_time.map(MicroTime),
            renew_time: self.renew_time.map(MicroTime),
            lease_transitions: Some(self.leader_transitions),
            ..LeaseSpec::default()
        }
    }

    /// Whether nobody holds the lease.
    pub fn is_free(&self) -> bool {
        self.holder_identity.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_edited_values_read_as_documented() {
        assert_eq!(
            LeaderElectionRecord::from_spec(None),
            LeaderElectionRecord::default()
        );
        let spec = LeaseSpec {
            holder_identity: Some("a".into()),
            lease_duration_seconds: Some(-5),
            lease_transitions: Some(-1),
            ..LeaseSpec::default()
        };
        let r = LeaderElectionRecord::from_spec(Some(&spec));
        assert_eq!(r.holder_identity, "a");
        assert_eq!(r.lease_duration, Duration::ZERO);
        assert_eq!(r.leader_transitions, 0);
        assert!(LeaderElectionRecord::from_spec(Some(&LeaseSpec::default())).is_free());
    }

    #[test]
    fn round_trip() {
        let r = LeaderElectionRecord {
            holder_identity: "b".into(),
            lease_duration: Duration::from_secs(15),
            acquire_time: Some(Timestamp::UNIX_EPOCH),
            renew_time: Some(Timestamp::UNIX_EPOCH),
            leader_transitions: 3,
        };
        assert_eq!(LeaderElectionRecord::from_spec(Some(&r.to_spec())), r);
    }
}
