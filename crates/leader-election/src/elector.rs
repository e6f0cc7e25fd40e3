//! [`LeaderElector`]: one candidate for one Lease, and the decision made on every attempt.
//!
//! # Ground rules
//!
//! * `state` (a `parking_lot::Mutex`) is never held across an `.await`. Each attempt reads the
//!   lease without it, decides under it, writes without it, and records the outcome under it.
//! * `attempt` (a `tokio::sync::Mutex`) serialises attempts and releases: one read-decide-write
//!   at a time per elector, so `my_write` and `observed` always describe the latest exchange.
//! * `observed_at` changes only when the lease's resourceVersion changes (or it appears or
//!   disappears): expiry is measured from the first time this replica saw the current version.
//! * `token` is `Some` exactly while the started-leading callback has run and stopped-leading has
//!   not; `leading_until` is `Some` only while `token` is. Callbacks run after the lock is
//!   dropped, in the order the events happened.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::jiff::Timestamp;
use parking_lot::Mutex;
use timer_wheel::{Driver, SharedClock};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::builder::LeaderElectorBuilder;
use crate::config::{RELEASED_LEASE_DURATION, Timings};
use crate::error::{Error, Result};
use crate::lock::{LeaseLock, LockError, ObservedLease};
use crate::record::LeaderElectionRecord;
use crate::status::Status;

/// A candidate for one Lease: acquires it when free or expired, renews it while leading, and
/// releases it on graceful shutdown.
///
/// Clones share the elector. Drive it with [`run`](Self::run) (or
/// [`run_while_leading`](Self::run_while_leading)); [`try_acquire_or_renew`](Self::try_acquire_or_renew)
/// and [`release`](Self::release) are the single steps `run` is made of, public for tests and
/// for callers with a loop of their own.
///
/// # How an attempt decides (client-go's `tryAcquireOrRenew`, with the additions marked *)
///
/// 1. Read the lease. If its resourceVersion differs from the last one seen, remember the new
///    record and *when this replica saw it* (`observed_at`, on this elector's clock).
/// 2. The lease is ours if it names this identity and either we lead right now or its version
///    is the one we wrote last (*). Then renew it: write it back with a new renew time.
/// 3. Otherwise, if we were leading, stop at once (someone else wrote it).
///    The lease is free if its holder is empty (released). It is expired once
///    `observed_at + max(its leaseDurationSeconds, our lease_duration)` has passed (* the
///    maximum: a hand-shortened duration cannot make a live holder's lease expire early). A
///    lease naming our own identity that we did not write (edited by hand, or written by an
///    earlier process with our identity) is treated like anyone else's (*).
/// 4. If free or expired, take it: write our record against the version read. Of two
///    candidates writing against one version, the server accepts one and answers 409 to the
///    other, which simply did not win.
/// 5. A missing lease is created, at once if this elector never saw it exist, otherwise only
///    after `lease_duration` from when it saw it disappear (* a lease deleted under a live
///    leader is not up for grabs before that leader has stopped).
///
/// A successful write made in an attempt that started at `t` makes this replica the leader
/// until `t + renew_deadline`; [`is_leader`](Self::is_leader) turns false then, on its own,
/// even if the next request hangs, and `run` cancels the leadership token at that moment.
///
/// # Clock skew: the assumption and the bound
///
/// Electors never compare wall-clock times: the `renewTime` and `acquireTime` written in the
/// lease are for people and tools. Each replica measures durations on its own monotonic clock
/// (its [`Driver`]'s clock), so replicas whose wall clocks disagree by minutes still elect
/// safely. What must hold is that clocks run at about the same *rate*: the leader stops after
/// `renew_deadline` of its time, a follower takes over after `lease_duration` of its time, both
/// measured from moments that bracket the same write (the leader's attempt started before the
/// write, the follower read it after). So safety holds while a follower's clock runs less than
/// `lease_duration / renew_deadline` times as fast as the leader's: 1.5x with the defaults, far
/// beyond the drift of real clocks. Request latency only widens the margin.
///
/// # Bad input and failures
///
/// * API errors while renewing: the attempt returns the error, the leader keeps leading until its
///   renew deadline and stops then if no renewal succeeded.
/// * A lease edited by hand: a different holder makes the leader stop at its next attempt, and
///   others wait out the new holder's lease (step 3). Clearing the holder by hand is read as a
///   release: the next candidate takes the lease at once while the old leader may act until its
///   next attempt (at most `retry_period` later). Clear a holder by hand only when it is stopped.
/// * A lease deleted by hand: the leader stops at its next attempt; replicas that saw the lease
///   wait `lease_duration` before recreating it (step 5). A replica that *starts* after the
///   deletion never saw it and creates it at once: delete a held lease only with its holder
///   stopped.
/// * One identity per process: two live processes with the same identity are one candidate to
///   the lease and would both lead.
///
/// # Examples
///
/// See the [crate docs](crate) for a single attempt and a release, and
/// [`run_while_leading`](Self::run_while_leading) for a full loop.
#[derive(Clone)]
pub struct LeaderElector {
    pub(crate) inner: Arc<Inner>,
}

/// Callback types.
pub(crate) type StartedFn = Box<dyn Fn(CancellationToken) + Send + Sync>;
pub(crate) type StoppedFn = Box<dyn Fn() + Send + Sync>;
pub(crate) type NewLeaderFn = Box<dyn Fn(&str) + Send + Sync>;

#[derive(Default)]
pub(crate) struct Callbacks {
    pub(crate) started: Option<StartedFn>,
    pub(crate) stopped: Option<StoppedFn>,
    pub(crate) new_leader: Option<NewLeaderFn>,
}

/// A replica's fair share of a set of shards: how many it may take while others may still come.
pub(crate) struct FairShare {
    /// Shards this replica leads now, plus slots reserved by attempts in flight (shared by its
    /// electors). A slot is reserved before the write, so electors deciding at once cannot all
    /// pass the cap.
    pub(crate) owned: Arc<AtomicUsize>,
    /// It takes a free shard while it owns fewer than this.
    pub(crate) cap: usize,
    /// Beyond the cap, it takes a shard that has been free this long (its owner is gone).
    pub(crate) grace: Duration,
}

pub(crate) struct Inner {
    pub(crate) identity: String,
    pub(crate) timings: Timings,
    pub(crate) lock: LeaseLock,
    pub(crate) driver: Driver,
    pub(crate) release_on_cancel: bool,
    pub(crate) callbacks: Callbacks,
    pub(crate) share: Option<FairShare>,
    state: Mutex<State>,
    attempt: tokio::sync::Mutex<()>,
    status: watch::Sender<Status>,
}

#[derive(Default)]
struct State {
    observed: Observed,
    observed_at: Option<Instant>,
    leading_until: Option<Instant>,
    token: Option<CancellationToken>,
    /// The resourceVersion of our last successful write.
    my_write: Option<String>,
    /// The holder last seen.
    leader: Option<String>,
}

#[derive(Default)]
enum Observed {
    /// Never read.
    #[default]
    Nothing,
    /// Read, and it did not exist.
    Missing,
    /// Read, and this is what it held.
    Present(ObservedLease),
}

enum Event {
    Started(CancellationToken),
    Stopped,
    NewLeader(String),
}

/// What an attempt decided to write.
///
/// `claimed`: the write takes a lease this replica does not hold, and a slot of its fair share
/// was reserved for it (given back if the write does not win).
enum Plan {
    Wait,
    Create(LeaderElectionRecord, bool),
    Update(ObservedLease, LeaderElectionRecord, bool),
}

impl LeaderElector {
    /// A builder for the candidate `identity` of lease `namespace/name`.
    pub fn builder(client: kube::Client, namespace: &str, name: &str) -> LeaderElectorBuilder {
        LeaderElectorBuilder::new(client, namespace, name)
    }

    pub(crate) fn from_parts(
        identity: String,
        timings: Timings,
        lock: LeaseLock,
        driver: Driver,
        release_on_cancel: bool,
        callbacks: Callbacks,
        share: Option<FairShare>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                identity,
                timings,
                lock,
                driver,
                release_on_cancel,
                callbacks,
                share,
                state: Mutex::new(State::default()),
                attempt: tokio::sync::Mutex::new(()),
                status: watch::Sender::new(Status::default()),
            }),
        }
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.inner.identity
    }

    /// The lease, `namespace/name`.
    pub fn lease(&self) -> String {
        self.inner.lock.describe()
    }

    /// The election's durations.
    pub fn timings(&self) -> Timings {
        self.inner.timings
    }

    /// The clock every duration is measured on (the driver's).
    pub fn clock(&self) -> &SharedClock {
        self.inner.driver.clock()
    }

    /// Whether this replica leads *now*: it won or renewed the lease in an attempt that started
    /// less than `renew_deadline` ago. Turns false at that deadline without any request, so
    /// work gated on it stops before the lease can expire for anyone else.
    #[doc(alias = "IsLeader")]
    pub fn is_leader(&self) -> bool {
        let now = self.clock().now();
        self.inner
            .state
            .lock()
            .leading_until
            .is_some_and(|until| now < until)
    }

    /// The holder last seen in the lease (`None`: free, missing or not read yet).
    #[doc(alias = "GetLeader")]
    pub fn leader(&self) -> Option<String> {
        self.inner.state.lock().leader.clone()
    }

    /// The token of the current term, if this replica leads: cancelled when the term ends.
    pub fn leading_token(&self) -> Option<CancellationToken> {
        let now = self.clock().now();
        let state = self.inner.state.lock();
        state
            .leading_until
            .filter(|until| now < *until)
            .and(state.token.clone())
    }

    /// A channel of [`Status`] snapshots, updated after every attempt and every change.
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// One attempt: read the lease and acquire or renew it if the rules allow (see the type
    /// docs). Returns whether this replica leads after it.
    ///
    /// Started-leading, stopped-leading and new-leader callbacks run from here, after the
    /// decision. If the previous term's deadline has passed, stopped-leading runs first.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] if a request failed for another reason than a lost race (409, or 404 on
    /// update). Leadership is unchanged by an error: it ends at its deadline.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in the sense that matters: if dropped after its write reached the server, this
    /// replica does not lead (it never learned it won), and later attempts treat that write as
    /// someone else's and wait for it to expire.
    #[doc(alias = "tryAcquireOrRenew")]
    pub async fn try_acquire_or_renew(&self) -> Result<bool> {
        let _attempt = self.inner.attempt.lock().await;
        // Callbacks of each stage run before the next await, so a dropped attempt loses none.
        let mut events = Vec::new();
        self.expire_locked(&mut self.inner.state.lock(), &mut events);
        self.finish(std::mem::take(&mut events), false);
        let start = self.clock().now();
        let read = self.inner.lock.get().await;
        let after = self.clock().now();
        self.bump(|s| s.attempts += 1);
        let read = match read {
            Ok(read) => read,
            Err(source) => {
                self.finish(Vec::new(), true);
                return Err(self.api_error("get", source));
            }
        };
        let plan = self.decide(read, after, &mut events);
        self.finish(std::mem::take(&mut events), false);
        let (op, written, claim) = match plan {
            Plan::Wait => return Ok(false),
            Plan::Create(record, claimed) => {
                let claim = Claim::new(self, claimed);
                ("create", self.inner.lock.create(&record).await, claim)
            }
            Plan::Update(seen, record, claimed) => {
                let claim = Claim::new(self, claimed);
                let written = self.inner.lock.update(&seen, &record).await;
                ("update", written, claim)
            }
        };
        let result = match (op, written) {
            (_, Ok(lease)) => {
                let claimed = claim.take();
                Ok(self.won(start, lease, claimed, &mut events))
            }
            (_, Err(LockError::Lost)) => {
                tracing::debug!(lease = %self.lease(), identity = %self.identity(), "lost the race for the lease");
                Ok(false)
            }
            (op, Err(LockError::NoResourceVersion)) => {
                tracing::warn!(lease = %self.lease(), op, "the lease has no resourceVersion: not writing");
                Ok(false)
            }
            (op, Err(LockError::Api(source))) => Err(self.api_error(op, source)),
        };
        self.finish(events, result.is_err());
        result
    }

    /// Gives the lease up: stops leading first (the token is cancelled and stopped-leading runs
    /// before anything is sent), then, if the lease still holds this replica's last write,
    /// clears its holder and sets its duration to one second so a successor takes over at once
    /// (client-go's `release`). Returns whether the lease was released.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] if the write failed for another reason than a lost race. This replica has
    /// stopped leading anyway; the lease then expires as after a crash.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: the write may or may not have happened. Leadership has ended either way.
    pub async fn release(&self) -> Result<bool> {
        let _attempt = self.inner.attempt.lock().await;
        let mut events = Vec::new();
        let seen = {
            let mut state = self.inner.state.lock();
            self.lose_locked(&mut state, &mut events);
            match (&state.observed, &state.my_write) {
                (Observed::Present(seen), Some(mine)) if seen.resource_version == *mine => {
                    Some(seen.clone())
                }
                _ => None,
            }
        };
        self.finish(events, false);
        let Some(seen) = seen else {
            return Ok(false);
        };
        let now = wall_now();
        let record = LeaderElectionRecord {
            holder_identity: String::new(),
            lease_duration: RELEASED_LEASE_DURATION,
            acquire_time: Some(now),
            renew_time: Some(now),
            leader_transitions: seen.record.leader_transitions,
        };
        match self.inner.lock.update(&seen, &record).await {
            Ok(lease) => {
                let now = self.clock().now();
                let mut state = self.inner.state.lock();
                state.observed = Observed::Present(lease);
                state.observed_at = Some(now);
                state.my_write = None;
                state.leader = None;
                drop(state);
                self.bump(|s| s.leader = None);
                tracing::info!(lease = %self.lease(), identity = %self.identity(), "released the lease");
                Ok(true)
            }
            Err(LockError::Lost | LockError::NoResourceVersion) => Ok(false),
            Err(LockError::Api(source)) => Err(self.api_error("update", source)),
        }
    }

    /// Ends the current term if its deadline has passed: cancels the token and runs
    /// stopped-leading. Returns whether it did.
    pub(crate) fn expire_if_due(&self) -> bool {
        let mut events = Vec::new();
        self.expire_locked(&mut self.inner.state.lock(), &mut events);
        let expired = !events.is_empty();
        self.finish(events, false);
        expired
    }

    /// Ends the current term now, whatever its deadline.
    pub(crate) fn stop_leading(&self) {
        let mut events = Vec::new();
        self.lose_locked(&mut self.inner.state.lock(), &mut events);
        self.finish(events, false);
    }

    /// The end of the current term, if there is one.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.inner.state.lock().leading_until
    }

    /// When the lease held by someone else (or missing) may next be taken, if known.
    pub(crate) fn candidate_expiry(&self) -> Option<Instant> {
        let state = self.inner.state.lock();
        let at = state.observed_at?;
        match &state.observed {
            Observed::Nothing => None,
            Observed::Missing => Some(at + self.inner.timings.lease_duration),
            Observed::Present(seen) if seen.record.holder_identity == self.inner.identity => None,
            Observed::Present(seen) => Some(at + self.hold_time(&seen.record)),
        }
    }

    pub(crate) fn set_next_wake(&self, wake: Option<Instant>) {
        self.bump(|s| s.next_wake = wake);
    }

    // ===== the decision =====

    fn decide(&self, read: Option<ObservedLease>, now: Instant, events: &mut Vec<Event>) -> Plan {
        let me = &self.inner.identity;
        let ld = self.inner.timings.lease_duration;
        let mut state = self.inner.state.lock();
        let leading = state.leading_until.is_some_and(|until| now < until);
        let Some(seen) = read else {
            let first_look = matches!(state.observed, Observed::Nothing);
            if !matches!(state.observed, Observed::Missing) {
                state.observed = Observed::Missing;
                state.observed_at = Some(now);
            }
            if state.token.is_some() {
                tracing::warn!(lease = %self.lease(), identity = %me, "the lease was deleted: stopping");
                self.lose_locked(&mut state, events);
            }
            state.my_write = None;
            state.leader = None;
            let missing_since = state.observed_at.unwrap_or(now);
            if !first_look && now < missing_since + ld {
                return Plan::Wait;
            }
            let Some(claimed) = self.claim(now.saturating_duration_since(missing_since + ld))
            else {
                return Plan::Wait;
            };
            return Plan::Create(self.record_for(None), claimed);
        };

        let changed = !matches!(&state.observed, Observed::Present(o) if o.resource_version == seen.resource_version);
        if changed {
            state.observed = Observed::Present(seen.clone());
            state.observed_at = Some(now);
        }
        let holder = seen.record.holder_identity.clone();
        if holder.is_empty() {
            state.leader = None;
        } else if state.leader.as_deref() != Some(holder.as_str()) {
            state.leader = Some(holder.clone());
            if holder != *me {
                events.push(Event::NewLeader(holder.clone()));
            }
        }
        let ours = holder == *me
            && (leading || state.my_write.as_deref() == Some(seen.resource_version.as_str()));
        if ours {
            let record = self.record_for(Some(&seen.record));
            return Plan::Update(seen, record, false);
        }
        if state.token.is_some() {
            tracing::warn!(lease = %self.lease(), identity = %me, holder = %holder, "the lease was written by someone else: stopping");
            self.lose_locked(&mut state, events);
        }
        let observed_at = state.observed_at.unwrap_or(now);
        let expiry = observed_at + self.hold_time(&seen.record);
        if now < expiry {
            return Plan::Wait;
        }
        let Some(claimed) = self.claim(now.saturating_duration_since(expiry)) else {
            return Plan::Wait;
        };
        let record = self.record_for(Some(&seen.record));
        Plan::Update(seen, record, claimed)
    }

    /// How long a record keeps others out after it is seen: nothing if free, else the longer of
    /// its duration and ours.
    fn hold_time(&self, record: &LeaderElectionRecord) -> Duration {
        if record.is_free() {
            Duration::ZERO
        } else {
            record.lease_duration.max(self.inner.timings.lease_duration)
        }
    }

    /// Whether the fair share allows taking a lease that has been free for `free_for`; if so,
    /// reserves a slot (`Some(true)`), or `Some(false)` when there is no fair share to keep.
    fn claim(&self, free_for: Duration) -> Option<bool> {
        let Some(share) = &self.inner.share else {
            return Some(false);
        };
        let abandoned = free_for >= share.grace;
        share
            .owned
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |owned| {
                (owned < share.cap || abandoned).then_some(owned + 1)
            })
            .ok()
            .map(|_| true)
    }

    /// Gives back a slot reserved by [`Self::claim`].
    fn unclaim(&self) {
        if let Some(share) = &self.inner.share {
            share.owned.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Our record, renewing `old` if it is ours, else taking over from it (or creating).
    fn record_for(&self, old: Option<&LeaderElectionRecord>) -> LeaderElectionRecord {
        let now = wall_now();
        let me = &self.inner.identity;
        let (acquire_time, transitions) = match old {
            Some(old) if old.holder_identity == *me => {
                (old.acquire_time.or(Some(now)), old.leader_transitions)
            }
            Some(old) => (Some(now), old.leader_transitions.saturating_add(1)),
            None => (Some(now), 0),
        };
        // Every write must change the lease, or the server keeps its resourceVersion and
        // followers would not see a renewal: the renew time only moves forward, even if the
        // wall clock stands still or steps back.
        let renew_time = match old.and_then(|o| o.renew_time) {
            Some(previous) if previous >= now => previous
                .checked_add(Duration::from_micros(1))
                .unwrap_or(previous),
            _ => now,
        };
        LeaderElectionRecord {
            holder_identity: me.clone(),
            lease_duration: Duration::from_secs(u64::from(
                self.inner.timings.lease_seconds().unsigned_abs(),
            )),
            acquire_time,
            renew_time: Some(renew_time),
            leader_transitions: transitions,
        }
    }

    /// Records a successful write made by an attempt that started at `start`.
    fn won(
        &self,
        start: Instant,
        lease: ObservedLease,
        claimed: bool,
        events: &mut Vec<Event>,
    ) -> bool {
        let now = self.clock().now();
        let until = start + self.inner.timings.renew_deadline;
        let mut state = self.inner.state.lock();
        state.my_write = Some(lease.resource_version.clone());
        state.observed = Observed::Present(lease);
        state.observed_at = Some(now);
        if state.leader.as_deref() != Some(self.inner.identity.as_str()) {
            state.leader = Some(self.inner.identity.clone());
            events.push(Event::NewLeader(self.inner.identity.clone()));
        }
        if now >= until {
            // The write took longer than the renew deadline: others may already count from
            // the previous version. Do not act; the next attempt renews if nobody else wrote.
            self.lose_locked(&mut state, events);
            if claimed {
                self.unclaim();
            }
            return false;
        }
        state.leading_until = Some(until);
        if state.token.is_some() && claimed {
            self.unclaim();
        }
        if state.token.is_none() {
            let token = CancellationToken::new();
            state.token = Some(token.clone());
            if let (Some(share), false) = (&self.inner.share, claimed) {
                share.owned.fetch_add(1, Ordering::AcqRel);
            }
            tracing::info!(lease = %self.lease(), identity = %self.identity(), "started leading");
            events.push(Event::Started(token));
        }
        true
    }

    fn expire_locked(&self, state: &mut State, events: &mut Vec<Event>) {
        let now = self.clock().now();
        if state.token.is_some() && state.leading_until.is_none_or(|until| now >= until) {
            tracing::warn!(lease = %self.lease(), identity = %self.identity(), "renew deadline passed: stopping");
            self.lose_locked(state, events);
        }
    }

    fn lose_locked(&self, state: &mut State, events: &mut Vec<Event>) {
        state.leading_until = None;
        if let Some(token) = state.token.take() {
            token.cancel();
            if let Some(share) = &self.inner.share {
                share.owned.fetch_sub(1, Ordering::AcqRel);
            }
            events.push(Event::Stopped);
        }
    }

    /// Publishes the status and runs the callbacks of `events`, in order, with no lock held.
    fn finish(&self, events: Vec<Event>, failed: bool) {
        let (leading, leader) = {
            let state = self.inner.state.lock();
            (state.token.is_some(), state.leader.clone())
        };
        self.bump(|s| {
            s.leading = leading;
            s.leader = leader;
            if failed {
                s.errors += 1;
            }
        });
        let callbacks = &self.inner.callbacks;
        for event in events {
            match event {
                Event::Started(token) => {
                    if let Some(f) = &callbacks.started {
                        f(token);
                    }
                }
                Event::Stopped => {
                    if let Some(f) = &callbacks.stopped {
                        f();
                    }
                }
                Event::NewLeader(id) => {
                    if let Some(f) = &callbacks.new_leader {
                        f(&id);
                    }
                }
            }
        }
    }

    fn bump(&self, f: impl FnOnce(&mut Status)) {
        self.inner.status.send_modify(f);
    }

    fn api_error(&self, op: &'static str, source: kube::Error) -> Error {
        Error::Api {
            op,
            lease: self.lease(),
            source,
        }
    }
}

/// A fair-share slot reserved for a write in flight: given back when dropped (the write lost,
/// failed, or the attempt was cancelled) unless [`Claim::take`] hands it to the new term.
struct Claim<'a> {
    elector: &'a LeaderElector,
    armed: bool,
}

impl<'a> Claim<'a> {
    fn new(elector: &'a LeaderElector, claimed: bool) -> Self {
        Self {
            elector,
            armed: claimed,
        }
    }

    /// Whether a slot was reserved; the caller now accounts for it.
    fn take(mut self) -> bool {
        std::mem::replace(&mut self.armed, false)
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.elector.unclaim();
        }
    }
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("identity", &self.inner.identity)
            .field("lease", &self.inner.lock)
            .field("timings", &self.inner.timings)
            .finish_non_exhaustive()
    }
}

/// The wall-clock time written into records (informational only; never read back).
fn wall_now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let nanos = i32::try_from(since.subsec_nanos()).unwrap_or(0);
    Timestamp::new(seconds, nanos).unwrap_or(Timestamp::UNIX_EPOCH)
}
