//! [`LeaderElectorBuilder`]: identity, lease, timings, clock and callbacks, checked on `build`.

use std::time::Duration;

use timer_wheel::Driver;
use tokio_util::sync::CancellationToken;

use crate::config::Timings;
use crate::elector::{Callbacks, FairShare, LeaderElector};
use crate::error::{Error, Result};
use crate::lock::LeaseLock;

/// Configures a [`LeaderElector`]; made by [`LeaderElector::builder`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use fake_apiserver::FakeApiServer;
/// use leader_election::{Error, LeaderElector};
/// use timer_wheel::{Driver, FakeClock};
///
/// let server = FakeApiServer::builder().start().await?;
/// let driver = Driver::new(FakeClock::new())?;
/// let elector = LeaderElector::builder(server.client(), "default", "my-controller")
///     .identity("replica-a")
///     .lease_duration(Duration::from_secs(15))
///     .renew_deadline(Duration::from_secs(10))
///     .retry_period(Duration::from_secs(2))
///     .driver(driver)
///     .on_started_leading(|token| println!("leading until {token:?} is cancelled"))
///     .on_stopped_leading(|| println!("stopped leading"))
///     .on_new_leader(|id| println!("{id} leads"))
///     .build()?;
/// assert_eq!(elector.identity(), "replica-a");
///
/// // Bad timings are a typed error, not a panic.
/// let err = LeaderElector::builder(server.client(), "default", "my-controller")
///     .identity("replica-a")
///     .renew_deadline(Duration::from_secs(20))
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, Error::RenewDeadlineNotBelowLeaseDuration { .. }));
/// # server.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct LeaderElectorBuilder {
    client: kube::Client,
    namespace: String,
    name: String,
    identity: String,
    timings: Timings,
    driver: Option<Driver>,
    release_on_cancel: bool,
    callbacks: Callbacks,
    pub(crate) share: Option<FairShare>,
}

impl LeaderElectorBuilder {
    pub(crate) fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            identity: String::new(),
            timings: Timings::default(),
            driver: None,
            release_on_cancel: true,
            callbacks: Callbacks::default(),
            share: None,
        }
    }

    /// This candidate's identity, unique per process (a pod name, or hostname plus a random
    /// suffix). Required.
    pub fn identity(mut self, identity: impl Into<String>) -> Self {
        self.identity = identity.into();
        self
    }

    /// All three durations at once.
    pub fn timings(mut self, timings: Timings) -> Self {
        self.timings = timings;
        self
    }

    /// How long others wait, from seeing the last renewal, before they may take over (15 s).
    #[doc(alias = "LeaseDuration")]
    pub fn lease_duration(mut self, d: Duration) -> Self {
        self.timings.lease_duration = d;
        self
    }

    /// How long a leader keeps acting without a successful renewal (10 s).
    #[doc(alias = "RenewDeadline")]
    pub fn renew_deadline(mut self, d: Duration) -> Self {
        self.timings.renew_deadline = d;
        self
    }

    /// Time between attempts (2 s; jittered for candidates).
    #[doc(alias = "RetryPeriod")]
    pub fn retry_period(mut self, d: Duration) -> Self {
        self.timings.retry_period = d;
        self
    }

    /// The timer driver whose clock measures every duration and whose timers `run` waits on.
    /// Default: [`Driver::global`] on the real clock. Tests pass a driver on a
    /// [`FakeClock`](timer_wheel::FakeClock).
    pub fn driver(mut self, driver: Driver) -> Self {
        self.driver = Some(driver);
        self
    }

    /// Whether [`run`](LeaderElector::run) releases the lease when shut down (default: `true`,
    /// so a successor takes over at once; client-go calls this `ReleaseOnCancel`).
    #[doc(alias = "ReleaseOnCancel")]
    pub fn release_on_cancel(mut self, yes: bool) -> Self {
        self.release_on_cancel = yes;
        self
    }

    /// Called when this replica starts leading, with a token that is cancelled when the term
    /// ends (deadline passed, lease taken or deleted, shutdown). Runs inside the elector's task:
    /// spawn long work, do not block.
    #[doc(alias = "OnStartedLeading")]
    pub fn on_started_leading(
        mut self,
        f: impl Fn(CancellationToken) + Send + Sync + 'static,
    ) -> Self {
        self.callbacks.started = Some(Box::new(f));
        self
    }

    /// Called when a term ends, after its token was cancelled.
    #[doc(alias = "OnStoppedLeading")]
    pub fn on_stopped_leading(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.callbacks.stopped = Some(Box::new(f));
        self
    }

    /// Called when the lease is seen with a new holder (this replica included).
    #[doc(alias = "OnNewLeader")]
    pub fn on_new_leader(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.callbacks.new_leader = Some(Box::new(f));
        self
    }

    /// Checks everything and builds the elector.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyIdentity`], [`Error::InvalidName`] for a bad lease name or namespace, and
    /// the errors of [`Timings::validate`].
    pub fn build(self) -> Result<LeaderElector> {
        if self.identity.is_empty() {
            return Err(Error::EmptyIdentity);
        }
        check_name("namespace", &self.namespace, 63)?;
        check_name("name", &self.name, 253)?;
        self.timings.validate()?;
        let driver = self.driver.unwrap_or_else(|| Driver::global().clone());
        Ok(LeaderElector::from_parts(
            self.identity,
            self.timings,
            LeaseLock::new(self.client, &self.namespace, &self.name),
            driver,
            self.release_on_cancel,
            self.callbacks,
            self.share,
        ))
    }
}

impl std::fmt::Debug for LeaderElectorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElectorBuilder")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("identity", &self.identity)
            .field("timings", &self.timings)
            .finish_non_exhaustive()
    }
}

/// A DNS-1123 name: lower-case alphanumerics, `-` and `.`, starting and ending alphanumeric.
fn check_name(what: &'static str, value: &str, max: usize) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidName {
            what,
            value: value.to_owned(),
            reason,
        })
    };
    if value.is_empty() {
        return bad("it is empty");
    }
    if value.len() > max {
        return bad("it is too long");
    }
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !value.chars().all(|c| alnum(c) || c == '-' || c == '.') {
        return bad("only lower-case letters, digits, '-' and '.' are allowed");
    }
    if !value.starts_with(alnum) || !value.ends_with(alnum) {
        return bad("it must start and end with a letter or digit");
    }
    Ok(())
}
