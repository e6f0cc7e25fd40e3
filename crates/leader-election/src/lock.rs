//! [`LeaseLock`]: a Lease used as a lock, over `kube::Api<Lease>`.
//!
//! Every write carries the resourceVersion the writer last read, so of two candidates that read
//! the same version and both try to write, the API server accepts one and answers 409 Conflict to
//! the other (client-go's `LeaseLock`, same contract).

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

use crate::record::LeaderElectionRecord;

/// A Lease as read from the server: its election record and the resourceVersion to write against.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedLease {
    /// The election record in the lease's spec.
    pub record: LeaderElectionRecord,
    /// The lease's `metadata.resourceVersion` (empty if the server sent none).
    pub resource_version: String,
}

impl ObservedLease {
    fn of(lease: &Lease) -> Self {
        Self {
            record: LeaderElectionRecord::from_spec(lease.spec.as_ref()),
            resource_version: lease.metadata.resource_version.clone().unwrap_or_default(),
        }
    }
}

/// Why a lock operation did not write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Somebody else wrote first: 409 (Conflict on update, AlreadyExists on create), or the lease
    /// is gone (404 on update). Not a failure of the election: the caller just did not win.
    #[error("another writer won the lease")]
    Lost,
    /// The lease was read without a resourceVersion, so a write could not be made conditional
    /// (an unconditional write could overwrite another leader): nothing was sent.
    #[error("the lease has no resourceVersion to write against")]
    NoResourceVersion,
    /// Any other failure of the request.
    #[error(transparent)]
    Api(#[from] kube::Error),
}

/// One Lease, `namespace/name`, as a lock.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use fake_apiserver::FakeApiServer;
/// use leader_election::{LeaderElectionRecord, LeaseLock, LockError};
///
/// let server = FakeApiServer::builder().start().await?;
/// let lock = LeaseLock::new(server.client(), "default", "demo");
/// assert!(lock.get().await?.is_none());
/// let record = LeaderElectionRecord {
///     holder_identity: "a".into(),
///     lease_duration: Duration::from_secs(15),
///     ..LeaderElectionRecord::default()
/// };
/// let first = lock.create(&record).await?;
/// let renewed = LeaderElectionRecord { leader_transitions: 1, ..record.clone() };
/// let second = lock.update(&first, &renewed).await?;
/// assert_ne!(first.resource_version, second.resource_version);
/// // Writing against the first version again is a lost race, not an error of the API.
/// assert!(matches!(lock.update(&first, &record).await, Err(LockError::Lost)));
/// assert_eq!(lock.get().await?, Some(second));
/// # server.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct LeaseLock {
    api: Api<Lease>,
    namespace: String,
    name: String,
}

impl std::fmt::Debug for LeaseLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseLock")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl LeaseLock {
    /// The lease `namespace/name`, reached through `client`.
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// `namespace/name`.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads the lease; `None` if it does not exist.
    ///
    /// # Errors
    ///
    /// The client's error for anything but a 404.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a read has no effect.
    pub async fn get(&self) -> Result<Option<ObservedLease>, kube::Error> {
        Ok(self
            .api
            .get_opt(&self.name)
            .await?
            .as_ref()
            .map(ObservedLease::of))
    }

    /// Creates the lease with `record`.
    ///
    /// # Errors
    ///
    /// [`LockError::Lost`] if it already exists (409 AlreadyExists), [`LockError::Api`] otherwise.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a dropped call may still have created the lease.
    pub async fn create(&self, record: &LeaderElectionRecord) -> Result<ObservedLease, LockError> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(record.to_spec()),
        };
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(created) => Ok(ObservedLease::of(&created)),
            Err(e) => Err(classify(e)),
        }
    }

    /// Replaces the lease's record, if its resourceVersion is still `seen.resource_version`.
    ///
    /// Like the real API server, the server may treat a write that changes nothing as a no-op
    /// that keeps the resourceVersion: then nobody sees a change. Electors always write a renew
    /// time later than the previous one, so their writes are never no-ops.
    ///
    /// # Errors
    ///
    /// [`LockError::Lost`] on 409 Conflict (someone wrote since) or 404 (it was deleted);
    /// [`LockError::NoResourceVersion`] if `seen` has none; [`LockError::Api`] otherwise.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a dropped call may still have written.
    pub async fn update(
        &self,
        seen: &ObservedLease,
        record: &LeaderElectionRecord,
    ) -> Result<ObservedLease, LockError> {
        if seen.resource_version.is_empty() {
            return Err(LockError::NoResourceVersion);
        }
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                resource_version: Some(seen.resource_version.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(record.to_spec()),
        };
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(updated) => Ok(ObservedLease::of(&updated)),
            Err(e) => Err(classify(e)),
        }
    }
}

fn classify(e: kube::Error) -> LockError {
    match &e {
        kube::Error::Api(status) if status.code == 409 || status.code == 404 => LockError::Lost,
        _ => LockError::Api(e),
    }
}
