//! WATCH: streams of `{"type": ..., "object": ...}` lines.
//!
//! A watch is a cursor into the [`History`](crate::history): one task per watch reads the events
//! after its cursor in batches, keeps those for its resource, namespace and selectors, gathers
//! them into one [`Chunk`] and sends it; then it waits for the store to announce a newer
//! resourceVersion, a bookmark tick, its timeout, a close signal or the client leaving.
//!
//! Memory per watcher is bounded and object bodies are shared: a chunk is a list of pieces in
//! which each object is the store's own `Bytes` (a reference count, not a copy), so a thousand
//! watchers of one large object hold it once. Only [`CHANNEL_CHUNKS`] chunks wait per watcher; a
//! watcher whose client stops reading for the server's slow-watcher timeout is closed, as a
//! real server closes a watcher that falls behind; the client resumes from the last
//! resourceVersion it saw, and gets `410 Expired` if the history has moved past it.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;

use crate::history::EventKind;
use crate::list::{ListOptions, parse_rv};
use crate::resources::ResourceDef;
use crate::server::Shared;
use crate::status::ApiError;
use crate::store::{Obj, ReadAt};

/// Events read from the history per lock acquisition.
const BATCH: usize = 1024;
/// Chunks in flight between a watch task and its HTTP body: enough to keep the socket busy.
const CHANNEL_CHUNKS: usize = 4;
/// A chunk is sent once it reaches this size even if more events are ready.
const CHUNK_BYTES: usize = 256 * 1024;

/// Where a watch starts.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// Synthetic ADDED events for the current objects, then changes; `initial_end` adds the
    /// `k8s.io/initial-events-end` bookmark after them (`sendInitialEvents=true`).
    Snapshot { at: ReadAt, initial_end: bool },
    /// Changes strictly after this resourceVersion.
    After(u64),
}

/// Validate the watch options and start the stream.
pub(crate) fn watch(
    shared: &Arc<Shared>,
    def: Arc<ResourceDef>,
    ns: Option<String>,
    opts: ListOptions,
    metadata_only: bool,
) -> Result<Response, ApiError> {
    let rv = opts.resource_version.as_deref();
    let start = match (
        opts.send_initial_events,
        opts.resource_version_match.as_deref(),
    ) {
        (Some(true), Some("NotOlderThan")) => {
            if !opts.allow_bookmarks {
                return Err(ApiError::invalid(
                    "WatchOptions",
                    "",
                    vec![(
                        "allowWatchBookmarks".into(),
                        "Required value: must be true when sendInitialEvents is true".into(),
                    )],
                ));
            }
            let at = match rv {
                None | Some("0") => ReadAt::Latest,
                Some(n) => ReadAt::NotOlderThan(parse_rv(n)?),
            };
            Start::Snapshot {
                at,
                initial_end: true,
            }
        }
        (Some(true), _) => {
            return Err(ApiError::invalid("WatchOptions", "", vec![(
                "resourceVersionMatch".into(),
                "Unsupported value: sendInitialEvents=true requires resourceVersionMatch=NotOlderThan".into(),
            )]));
        }
        (Some(false), Some("NotOlderThan") | None) | (None, None) => match rv {
            None | Some("0") if opts.send_initial_events.is_none() => Start::Snapshot {
                at: ReadAt::Latest,
                initial_end: false,
            },
            None | Some("0") => Start::After(shared.store.current_rv()),
            Some(n) => Start::After(parse_rv(n)?),
        },
        (_, Some(m)) => {
            return Err(ApiError::bad_request(format!(
                "resourceVersionMatch {m:?} is not allowed for watch (only NotOlderThan, with sendInitialEvents)"
            )));
        }
    };
    if let Start::After(n) = start {
        let current = shared.store.current_rv();
        if n > current {
            return Err(ApiError::too_large_rv(n, current));
        }
    }
    let (tx, rx) = mpsc::channel::<Vec<Bytes>>(CHANNEL_CHUNKS);
    let hang = shared.faults.take_hang();
    let task = Watcher {
        shared: Arc::clone(shared),
        key: shared.store.table_key(&def),
        def,
        ns,
        opts,
        metadata_only,
        tx,
    };
    tokio::spawn(if hang {
        futures::future::Either::Left(task.hang())
    } else {
        futures::future::Either::Right(task.run(start))
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|pieces| (pieces, rx))
    })
    .flat_map(|pieces| {
        futures::stream::iter(pieces.into_iter().map(Ok::<_, std::convert::Infallible>))
    });
    let mut response = Response::new(Body::from_stream(body.boxed()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

struct Watcher {
    shared: Arc<Shared>,
    key: Arc<crate::resources::ResourceKey>,
    def: Arc<ResourceDef>,
    ns: Option<String>,
    opts: ListOptions,
    /// Objects are sent as `PartialObjectMetadata` (metadata only).
    metadata_only: bool,
    tx: mpsc::Sender<Vec<Bytes>>,
}

/// Watch output being gathered: small encoded pieces, and objects shared with the store.
#[derive(Debug, Default)]
struct Chunk {
    pieces: Vec<Bytes>,
    /// Encoded bytes not yet cut into a piece.
    tail: Vec<u8>,
    len: usize,
}

impl Chunk {
    /// Appends encoded bytes.
    fn push(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Appends shared bytes without copying them.
    fn push_shared(&mut self, bytes: Bytes) {
        if !self.tail.is_empty() {
            self.pieces
                .push(Bytes::from(std::mem::take(&mut self.tail)));
        }
        self.len += bytes.len();
        self.pieces.push(bytes);
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn into_pieces(mut self) -> Vec<Bytes> {
        if !self.tail.is_empty() {
            self.pieces.push(Bytes::from(self.tail));
        }
        self.pieces
    }
}

/// Why a watch loop stopped.
enum Stop {
    /// Ended normally (timeout, close, client gone).
    Done,
    /// Send this error event, then end.
    Error(ApiError),
}

impl Watcher {
    /// Headers are sent; then nothing until closed.
    async fn hang(self) {
        let mut closer = self.shared.faults.closer.subscribe();
        closer.borrow_and_update();
        tokio::select! {
            _ = closer.changed() => {}
            () = self.tx.closed() => {}
        }
    }

    async fn run(self, start: Start) {
        let mut closer = self.shared.faults.closer.subscribe();
        closer.borrow_and_update();
        let stop = tokio::select! {
            // A close signal wins over anything the stream would still do.
            biased;
            _ = closer.changed() => match closer.borrow().error.clone() {
                Some(error) => Stop::Error(error),
                None => Stop::Done,
            },
            () = self.tx.closed() => Stop::Done,
            stop = self.stream(start) => stop,
        };
        if let Stop::Error(error) = stop {
            let mut line = Vec::new();
            line.extend_from_slice(b"{\"type\":\"ERROR\",\"object\":");
            line.extend_from_slice(error.to_status().to_string().as_bytes());
            line.extend_from_slice(b"}\n");
            let _ = self.tx.send(vec![Bytes::from(line)]).await;
        }
    }

    /// Appends an event for the encoded `object`, as metadata only if asked.
    fn encode(&self, out: &mut Chunk, kind: &str, object: &Bytes) {
        if self.metadata_only {
            encode_event(out, kind, Bytes::from(crate::partial::object(object)));
        } else {
            encode_event(out, kind, object.clone());
        }
    }

    fn matches(&self, obj: &Obj) -> bool {
        self.ns.as_deref().is_none_or(|ns| obj.namespace == ns) && self.opts.matches(obj)
    }

    /// Sends `chunk`; ends the watch when the client has left or has not read for the
    /// slow-watcher timeout.
    async fn send(&self, chunk: Chunk) -> Result<(), Stop> {
        let timeout = self.shared.slow_watcher_timeout;
        match tokio::time::timeout(timeout, self.tx.send(chunk.into_pieces())).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stop::Done),
            Err(_) => {
                tracing::debug!(?timeout, "closing a watcher whose client stopped reading");
                Err(Stop::Done)
            }
        }
    }

    /// The body of a watch; returns when the watch should end.
    async fn stream(&self, start: Start) -> Stop {
        match self.stream_inner(start).await {
            Ok(never) => match never {},
            Err(stop) => stop,
        }
    }

    async fn stream_inner(&self, start: Start) -> Result<std::convert::Infallible, Stop> {
        let store = &self.shared.store;
        let mut notify = store.subscribe();
        // A timeout too far out to represent is no timeout at all.
        let deadline = self
            .opts
            .timeout_seconds
            .and_then(|t| tokio::time::Instant::now().checked_add(Duration::from_secs(t)));
        let period = self.shared.bookmark_interval;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        notify.borrow_and_update();
        let mut cursor = match start {
            Start::After(n) => n,
            Start::Snapshot { at, initial_end } => {
                let page = store
                    .list(&self.def, self.ns.as_deref(), at, None, 0, &|o| {
                        self.matches(o)
                    })
                    .map_err(Stop::Error)?;
                let mut chunk = Chunk::default();
                for obj in &page.items {
                    self.encode(&mut chunk, "ADDED", &obj.json);
                    if chunk.len() >= CHUNK_BYTES {
                        self.send(std::mem::take(&mut chunk)).await?;
                    }
                }
                if initial_end {
                    encode_bookmark(&mut chunk, &self.def, page.rv, true);
                }
                if !chunk.is_empty() {
                    self.send(chunk).await?;
                }
                page.rv
            }
        };

        let mut batch = Vec::with_capacity(BATCH);
        loop {
            // Drain everything after the cursor, then wait.
            loop {
                notify.borrow_and_update();
                batch.clear();
                store
                    .events_after(cursor, BATCH, &mut batch)
                    .map_err(|floor| {
                        Stop::Error(ApiError::expired(format!(
                            "too old resource version: {cursor} ({floor})"
                        )))
                    })?;
                let Some(last) = batch.last() else { break };
                cursor = last.rv;
                let mut chunk = Chunk::default();
                for e in batch.iter().filter(|e| Arc::ptr_eq(&e.resource, &self.key)) {
                    let now = self.matches(&e.object);
                    let before = e.prev.as_ref().is_some_and(|p| self.matches(p));
                    let kind = match e.kind {
                        EventKind::Added if now => "ADDED",
                        EventKind::Modified if now && before => "MODIFIED",
                        EventKind::Modified if now => "ADDED",
                        EventKind::Modified if before => {
                            // It left the selection: the real server sends the last state that
                            // matched, stamped with this change's resourceVersion.
                            if let Some(prev) = &e.prev {
                                let left = restamp(&prev.json, e.rv);
                                self.encode(&mut chunk, "DELETED", &left);
                            }
                            continue;
                        }
                        EventKind::Deleted if now => "DELETED",
                        _ => continue,
                    };
                    self.encode(&mut chunk, kind, &e.object.json);
                    if chunk.len() >= CHUNK_BYTES {
                        self.send(std::mem::take(&mut chunk)).await?;
                    }
                }
                if !chunk.is_empty() {
                    self.send(chunk).await?;
                }
            }
            let timeout = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = notify.changed() => if changed.is_err() { return Err(Stop::Done) },
                _ = ticks.tick(), if self.opts.allow_bookmarks => {
                    let mut chunk = Chunk::default();
                    encode_bookmark(&mut chunk, &self.def, cursor, false);
                    self.send(chunk).await?;
                }
                () = timeout => return Err(Stop::Done),
            }
        }
    }
}

/// `object` (encoded) with `metadata.resourceVersion` set to `rv`.
fn restamp(object: &Bytes, rv: u64) -> Bytes {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(object) else {
        return object.clone();
    };
    value["metadata"]["resourceVersion"] = serde_json::Value::from(rv.to_string());
    Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
}

/// Append `{"type":"<kind>","object":<json>}\n`, sharing `object`.
fn encode_event(out: &mut Chunk, kind: &str, object: Bytes) {
    out.push(b"{\"type\":\"");
    out.push(kind.as_bytes());
    out.push(b"\",\"object\":");
    out.push_shared(object);
    out.push(b"}\n");
}

/// A BOOKMARK event: an object of the watched kind with only its resourceVersion (and, at the end
/// of the initial events, the `k8s.io/initial-events-end` annotation).
fn encode_bookmark(out: &mut Chunk, def: &ResourceDef, rv: u64, initial_end: bool) {
    let mut object = json!({
        "kind": def.kind,
        "apiVersion": def.api_version(),
        "metadata": { "resourceVersion": rv.to_string(), "creationTimestamp": null },
    });
    if initial_end {
        object["metadata"]["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
    }
    encode_event(out, "BOOKMARK", Bytes::from(object.to_string()));
}
