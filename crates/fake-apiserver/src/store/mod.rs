//! The object store: every object of every resource, the global resourceVersion and the history.
//!
//! # Ground rules
//!
//! * One `parking_lot::Mutex` ([`Store::state`]) guards the counter `rv`, every table and the
//!   [`History`]. A write takes it once, checks, assigns `rv + 1`, stores the object, appends the
//!   event and wakes watchers before releasing it, so the order of events in the history is the
//!   order of resourceVersions, and a reader that holds the lock sees a state that is exactly "the
//!   state at `rv`".
//! * Objects are immutable [`Obj`]s behind `Arc`: the JSON bytes are produced once per write and
//!   shared by the table, the history, every list response and every watcher. A reader clones
//!   `Arc`s under the lock and does all encoding after releasing it.
//! * Request bodies are parsed and validated before the lock is taken; under the lock only the
//!   checks that depend on the stored state happen (existence, preconditions, generation).
//! * The lock is never held across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use parking_lot::Mutex;
use serde_json::Value;

mod checks;
mod graceful;
mod list;
mod namespaces;

use crate::history::{Event, EventKind, History};
use crate::limits::check_object;
use crate::meta::{self, UidGen};
use crate::resources::{ResourceDef, ResourceKey};
use crate::status::ApiError;
use crate::validation::validate_metadata;
use checks::{
    add_finalizer, blocked, check_type, check_uid, finalizers, metadata_mut, set_or_remove,
    spec_changed,
};

/// Key of an object inside its resource's table: (namespace, name); namespace `""` when
/// cluster-scoped. Ordered, so lists and continue tokens follow this order.
pub(crate) type ObjKey = (String, String);

/// A stored object: its serialized JSON plus the fields filters need.
#[derive(Debug)]
pub(crate) struct Obj {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) rv: u64,
    pub(crate) labels: BTreeMap<String, String>,
    /// `metadata.deletionTimestamp` is set: the object is being deleted.
    pub(crate) terminating: bool,
    /// The full object as JSON, `metadata.resourceVersion` == `rv`.
    pub(crate) json: Bytes,
}

impl Obj {
    fn build(value: &Value, rv: u64) -> Arc<Obj> {
        let meta = &value["metadata"];
        let text = |k: &str| {
            meta.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let labels = meta
            .get("labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let json = Bytes::from(serde_json::to_vec(value).unwrap_or_default());
        Arc::new(Obj {
            namespace: text("namespace"),
            name: text("name"),
            rv,
            labels,
            terminating: meta.get("deletionTimestamp").is_some_and(|v| !v.is_null()),
            json,
        })
    }

    /// The object as a JSON value (parsed from the stored bytes).
    pub(crate) fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    fn key(&self) -> ObjKey {
        (self.namespace.clone(), self.name.clone())
    }
}

/// Where a read is served from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadAt {
    /// The newest state.
    Latest,
    /// At least this resourceVersion (served from the newest state).
    NotOlderThan(u64),
    /// Exactly this resourceVersion (reconstructed from the history).
    Exact(u64),
}

/// One page of a list.
#[derive(Debug)]
pub(crate) struct Page {
    /// The resourceVersion the page shows.
    pub(crate) rv: u64,
    pub(crate) items: Vec<Arc<Obj>>,
    /// Key of the last item returned when more items follow.
    pub(crate) next: Option<ObjKey>,
    /// How many items after this page pass the filter (0 when none follow).
    pub(crate) remaining: usize,
}

/// What a delete carries: its preconditions, and the grace period it asks for (pods only).
#[derive(Debug, Default, Clone)]
pub(crate) struct Preconditions {
    pub(crate) uid: Option<String>,
    pub(crate) resource_version: Option<String>,
    pub(crate) grace_period: Option<i64>,
    /// `dryRun: ["All"]` in the `DeleteOptions` body.
    pub(crate) dry_run: bool,
    /// The finalizer a `propagationPolicy` of `Foreground` (`foregroundDeletion`) or `Orphan`
    /// (`orphan`) adds: the garbage collector's, which removes it after handling the
    /// dependents. Without one running (as on a bare kube-apiserver) the object stays.
    pub(crate) propagation_finalizer: Option<&'static str>,
}

/// The objects of one resource.
#[derive(Debug)]
struct Table {
    key: Arc<ResourceKey>,
    items: BTreeMap<ObjKey, Arc<Obj>>,
}

#[derive(Debug)]
struct State {
    /// The newest resourceVersion handed out.
    rv: u64,
    tables: HashMap<ResourceKey, Table>,
    history: History,
}

/// See the module documentation for the ground rules.
#[derive(Debug)]
pub(crate) struct Store {
    state: Mutex<State>,
    /// Carries the newest resourceVersion; watchers wait on it for new events.
    notify: tokio::sync::watch::Sender<u64>,
    uids: UidGen,
    /// The largest object (encoded) a write may store.
    max_object_bytes: usize,
}

/// Namespaces the real server refuses to delete (its `NamespaceLifecycle` admission).
const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

fn pods_key() -> ResourceKey {
    ResourceKey {
        group: String::new(),
        version: "v1".into(),
        plural: "pods".into(),
    }
}

fn namespaces_key() -> ResourceKey {
    ResourceKey {
        group: String::new(),
        version: "v1".into(),
        plural: "namespaces".into(),
    }
}

impl Store {
    pub(crate) fn new(
        history_capacity: usize,
        history_bytes: usize,
        start_rv: u64,
        max_object_bytes: usize,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                rv: start_rv,
                tables: HashMap::new(),
                history: History::new(history_capacity, history_bytes, start_rv),
            }),
            notify: tokio::sync::watch::channel(start_rv).0,
            uids: UidGen::new(),
            max_object_bytes,
        }
    }

    /// The newest resourceVersion.
    pub(crate) fn current_rv(&self) -> u64 {
        self.state.lock().rv
    }

    /// The oldest resourceVersion watches may start from.
    pub(crate) fn floor(&self) -> u64 {
        self.state.lock().history.floor()
    }

    /// Number of events kept.
    pub(crate) fn history_len(&self) -> usize {
        self.state.lock().history.len()
    }

    /// Bytes of objects the kept events hold.
    pub(crate) fn history_bytes(&self) -> usize {
        self.state.lock().history.bytes()
    }

    /// Total number of stored objects.
    pub(crate) fn len(&self) -> usize {
        self.state
            .lock()
            .tables
            .values()
            .map(|t| t.items.len())
            .sum()
    }

    /// A receiver that changes whenever a new event is recorded.
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// The shared key of a resource's table (created empty if needed); events carry it.
    pub(crate) fn table_key(&self, def: &ResourceDef) -> Arc<ResourceKey> {
        let mut state = self.state.lock();
        Arc::clone(&table_mut(&mut state, &ResourceKey::of(def)).key)
    }

    /// Up to `max` events after `after`, `Err(floor)` when `after` has been compacted away.
    pub(crate) fn events_after(
        &self,
        after: u64,
        max: usize,
        out: &mut Vec<Arc<Event>>,
    ) -> Result<(), u64> {
        let state = self.state.lock();
        state
            .history
            .after(after, max, out)
            .ok_or(state.history.floor())
    }

    /// Forget the history up to now: watches from any older resourceVersion get 410.
    pub(crate) fn compact(&self) -> u64 {
        let mut state = self.state.lock();
        let rv = state.rv;
        state.history.compact(rv);
        rv
    }

    /// As after an etcd restore: the history is gone and the resourceVersion jumps by `bump`.
    pub(crate) fn restore(&self, bump: u64) -> u64 {
        let mut state = self.state.lock();
        state.rv += bump;
        let rv = state.rv;
        state.history.compact(rv);
        self.notify.send_replace(rv);
        rv
    }

    // ===== reads =====

    pub(crate) fn get(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
    ) -> Result<Arc<Obj>, ApiError> {
        let state = self.state.lock();
        state
            .tables
            .get(&ResourceKey::of(def))
            .and_then(|t| t.items.get(&(ns.to_owned(), name.to_owned())))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))
    }

    // ===== writes =====

    /// Create an object from a request body. `ns` is the namespace from the path.
    pub(crate) fn create(
        &self,
        def: &ResourceDef,
        ns: &str,
        body: Value,
    ) -> Result<Arc<Obj>, ApiError> {
        self.create_checked(def, ns, body, &|_| Ok(()))
    }

    /// [`create`](Self::create), with `check` run where the real server validates: after the
    /// request's own checks (kind, namespace) and once the object has its uid, before anything
    /// is stored. `check` may still change the object (a Job's selector is made from its uid).
    pub(crate) fn create_checked(
        &self,
        def: &ResourceDef,
        ns: &str,
        mut body: Value,
        check: &dyn Fn(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Arc<Obj>, ApiError> {
        check_type(def, &mut body)?;
        let uid = self.uids.next();
        let meta = metadata_mut(&mut body)?;
        if meta
            .get("resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let mut name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if name.is_empty() {
            match meta.get("generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => {
                    name = format!("{prefix}{}", meta::name_suffix(&uid))
                }
                _ => {
                    return Err(ApiError::invalid(
                        &def.kind,
                        "",
                        vec![(
                            "metadata.name".into(),
                            "Required value: name or generateName is required".into(),
                        )],
                    ));
                }
            }
        }
        meta::validate_name(&name, def.name_rule)
            .map_err(|m| ApiError::invalid(&def.kind, &name, vec![("metadata.name".into(), m)]))?;
        validate_metadata(&def.kind, &name, meta)?;
        if def.namespaced() {
            match meta.get("namespace").and_then(Value::as_str) {
                Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                    return Err(ApiError::bad_request(format!(
                        "the namespace of the provided object ({body_ns}) does not match the namespace sent on the request ({ns})"
                    )));
                }
                _ => {}
            }
            meta.insert("namespace".into(), Value::from(ns));
        } else {
            meta.remove("namespace");
        }
        meta.insert("name".into(), Value::from(name.clone()));
        meta.insert("uid".into(), Value::from(uid));
        meta.insert(
            "creationTimestamp".into(),
            Value::from(meta::rfc3339(meta::unix_now())),
        );
        if def.generation {
            meta.insert("generation".into(), Value::from(1));
        } else {
            meta.remove("generation");
        }
        meta.remove("deletionTimestamp");
        meta.remove("deletionGracePeriodSeconds");
        if def.group.is_empty() && def.plural == "namespaces" {
            namespaces::prepare_create(&mut body);
        }
        let key = (
            if def.namespaced() {
                ns.to_owned()
            } else {
                String::new()
            },
            name.clone(),
        );
        check(&mut body)?;
        check_object(&def.kind, &name, &body, self.max_object_bytes)?;

        let mut state = self.state.lock();
        if def.namespaced() {
            let namespace = state
                .tables
                .get(&namespaces_key())
                .and_then(|t| t.items.get(&(String::new(), ns.to_owned())))
                .ok_or_else(|| ApiError::not_found("", "namespaces", ns))?;
            if namespace.terminating {
                return Err(ApiError::namespace_terminating(
                    &def.group,
                    &def.plural,
                    &name,
                    ns,
                ));
            }
        }
        let rkey = ResourceKey::of(def);
        if table_mut(&mut state, &rkey).items.contains_key(&key) {
            return Err(ApiError::already_exists(&def.group, &def.plural, &name));
        }
        Ok(self.commit_locked(&mut state, &rkey, body, None, EventKind::Added))
    }

    /// Replace an object (PUT), or only its status when `status_only`.
    pub(crate) fn update(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        mut body: Value,
        status_only: bool,
    ) -> Result<Arc<Obj>, ApiError> {
        check_type(def, &mut body)?;
        let body_meta = metadata_mut(&mut body)?;
        if let Some(n) = body_meta.get("name").and_then(Value::as_str)
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        self.modify(def, ns, name, |_old| Ok(body), status_only)
    }

    /// Read-modify-write of one object under the lock: `change` turns the stored object into the
    /// requested one; then the update rules apply (preconditions, immutable metadata, status
    /// subresource, generation, finalizers).
    pub(crate) fn modify(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        change: impl FnOnce(Value) -> Result<Value, ApiError>,
        status_only: bool,
    ) -> Result<Arc<Obj>, ApiError> {
        let rkey = ResourceKey::of(def);
        let key = (ns.to_owned(), name.to_owned());
        let mut state = self.state.lock();
        let old = table_mut(&mut state, &rkey)
            .items
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
        let old_value = old.value();
        let mut new = change(old_value.clone())?;
        check_type(def, &mut new)?;
        let new_meta = metadata_mut(&mut new)?;
        if let Some(rv) = new_meta
            .get("resourceVersion")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            && rv != old.rv.to_string()
        {
            return Err(ApiError::conflict(
                &def.group,
                &def.plural,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        if let Some(uid) = new_meta
            .get("uid")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            check_uid(def, name, uid, &old_value)?;
        }
        let mut result = if status_only {
            let mut r = old_value.clone();
            set_or_remove(&mut r, "status", new.get("status").cloned());
            r
        } else {
            if def.status {
                set_or_remove(&mut new, "status", old_value.get("status").cloned());
            }
            let old_meta = &old_value["metadata"];
            let meta = metadata_mut(&mut new)?;
            for field in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match old_meta.get(field) {
                    Some(v) => meta.insert(field.into(), v.clone()),
                    None => meta.remove(field),
                };
            }
            if rkey == namespaces_key() {
                namespaces::keep_spec_finalizers(&old_value, &mut new);
            }
            new
        };
        if def.generation && !status_only && spec_changed(def, &old_value, &result) {
            let generation = old_value["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            result["metadata"]["generation"] = Value::from(generation);
        }
        if !status_only {
            crate::defaults::on_update(def, &old_value, &mut result);
        }
        result["metadata"]["resourceVersion"] = Value::from(old.rv.to_string());
        if result == old_value {
            return Ok(old); // no-op: the real server writes nothing and keeps the resourceVersion
        }
        validate_metadata(&def.kind, name, metadata_mut(&mut result)?)?;
        check_object(&def.kind, name, &result, self.max_object_bytes)?;
        let deleting = result["metadata"]
            .get("deletionTimestamp")
            .is_some_and(|v| !v.is_null());
        if deleting {
            let before = finalizers(&old_value);
            let added: Vec<&str> = finalizers(&result)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                let listed: Vec<String> = added.iter().map(|f| format!("{f:?}")).collect();
                return Err(ApiError::invalid(
                    &def.kind,
                    name,
                    vec![(
                        "metadata.finalizers".into(),
                        format!(
                            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                            listed.join(", ")
                        ),
                    )],
                ));
            }
        }
        if deleting && !blocked(&rkey, &result) {
            // Gone with its last finalizer: as on the real server, the DELETED event carries the
            // last stored state (finalizers and all) at the deletion's resourceVersion.
            return Ok(self.commit_locked(
                &mut state,
                &rkey,
                old_value,
                Some(old),
                EventKind::Deleted,
            ));
        }
        Ok(self.commit_locked(&mut state, &rkey, result, Some(old), EventKind::Modified))
    }

    /// Delete an object: gone at once without finalizers; with finalizers, only marked with a
    /// `deletionTimestamp` (and removed by the update that empties them).
    pub(crate) fn delete(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        pre: &Preconditions,
    ) -> Result<Arc<Obj>, ApiError> {
        let rkey = ResourceKey::of(def);
        if rkey == namespaces_key() && IMMORTAL_NAMESPACES.contains(&name) {
            return Err(ApiError::forbidden(
                &def.group,
                &def.plural,
                name,
                "this namespace may not be deleted",
            ));
        }
        let mut state = self.state.lock();
        let old = table_mut(&mut state, &rkey)
            .items
            .get(&(ns.to_owned(), name.to_owned()))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
        let value = old.value();
        if let Some(uid) = &pre.uid {
            check_uid(def, name, uid, &value)?;
        }
        if let Some(rv) = &pre.resource_version
            && *rv != old.rv.to_string()
        {
            return Err(ApiError::conflict(
                &def.group,
                &def.plural,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    old.rv
                ),
            ));
        }
        let mut value = value;
        if let Some(finalizer) = pre.propagation_finalizer
            && !old.terminating
        {
            add_finalizer(&mut value, finalizer);
        }
        if rkey == pods_key() {
            return Ok(self.delete_pod_locked(&mut state, &rkey, old, value, pre.grace_period));
        }
        Ok(self.delete_locked(&mut state, &rkey, old, value))
    }

    fn delete_locked(
        &self,
        state: &mut State,
        rkey: &ResourceKey,
        old: Arc<Obj>,
        mut value: Value,
    ) -> Arc<Obj> {
        if !blocked(rkey, &value) {
            return self.commit_locked(state, rkey, value, Some(old), EventKind::Deleted);
        }
        if old.terminating {
            return old;
        }
        value["metadata"]["deletionTimestamp"] = Value::from(meta::rfc3339(meta::unix_now()));
        if *rkey == namespaces_key() {
            // A namespace goes Terminating; what is in it is the namespace controller's job.
            value["status"]["phase"] = Value::from("Terminating");
        } else {
            value["metadata"]["deletionGracePeriodSeconds"] = Value::from(0);
        }
        self.commit_locked(state, rkey, value, Some(old), EventKind::Modified)
    }

    /// Delete every object of `def` in `ns` (all for `None`) that passes `filter`.
    pub(crate) fn delete_collection(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        filter: &dyn Fn(&Obj) -> bool,
    ) -> Vec<Arc<Obj>> {
        let rkey = ResourceKey::of(def);
        let mut state = self.state.lock();
        let victims: Vec<Arc<Obj>> = table_mut(&mut state, &rkey)
            .items
            .values()
            .filter(|o| ns.is_none_or(|ns| o.namespace == ns) && filter(o))
            .cloned()
            .collect();
        victims
            .into_iter()
            .map(|old| {
                let value = old.value();
                if rkey == pods_key() {
                    self.delete_pod_locked(&mut state, &rkey, old, value, None)
                } else {
                    self.delete_locked(&mut state, &rkey, old, value)
                }
            })
            .collect()
    }

    /// Assign the next resourceVersion to `value`, store it (or remove it for `Deleted`), record
    /// the event and wake watchers. Caller holds the lock and has done every check.
    fn commit_locked(
        &self,
        state: &mut State,
        rkey: &ResourceKey,
        mut value: Value,
        prev: Option<Arc<Obj>>,
        kind: EventKind,
    ) -> Arc<Obj> {
        if crate::dry_run::active() {
            // What would be stored, at the version it has now (none for a create); nothing
            // is stored and no one is told.
            let rv = prev.as_ref().map_or(0, |p| p.rv);
            match &prev {
                Some(p) => value["metadata"]["resourceVersion"] = Value::from(p.rv.to_string()),
                None => {
                    if let Some(meta) = value["metadata"].as_object_mut() {
                        meta.remove("resourceVersion");
                    }
                }
            }
            return Obj::build(&value, rv);
        }
        state.rv += 1;
        let rv = state.rv;
        value["metadata"]["resourceVersion"] = Value::from(rv.to_string());
        let obj = Obj::build(&value, rv);
        let table = table_mut(state, rkey);
        let resource = Arc::clone(&table.key);
        if kind == EventKind::Deleted {
            table.items.remove(&obj.key());
        } else {
            table.items.insert(obj.key(), Arc::clone(&obj));
        }
        state.history.push(Arc::new(Event {
            rv,
            resource,
            kind,
            object: Arc::clone(&obj),
            prev,
        }));
        self.notify.send_replace(rv);
        obj
    }
}

fn table_mut<'a>(state: &'a mut State, key: &ResourceKey) -> &'a mut Table {
    state.tables.entry(key.clone()).or_insert_with(|| Table {
        key: Arc::new(key.clone()),
        items: BTreeMap::new(),
    })
}
