//! The namespace lifecycle, as kube-apiserver and kube-controller-manager run it.
//!
//! * A new namespace gets `spec.finalizers: [kubernetes]` and `status.phase: Active`; an update
//!   cannot change `spec.finalizers` (only the `finalize` subresource can).
//! * Deleting a namespace sets its `deletionTimestamp` and `status.phase: Terminating` (one
//!   MODIFIED event) and keeps it: nothing can be created in it any more (403), and it stays
//!   until its `spec.finalizers` and `metadata.finalizers` are empty.
//! * The namespace controller (opt in with `Builder::namespace_controller`, as a real cluster
//!   runs kube-controller-manager) deletes what a terminating namespace holds, waits for those
//!   objects' own finalizers, then removes the `kubernetes` finalizer through `finalize`, and
//!   the namespace is gone. Without it a deleted namespace stays `Terminating`, as on a bare
//!   kube-apiserver (and with envtest).

use std::sync::Arc;

use serde_json::Value;

use super::{EventKind, Obj, ResourceKey, State, Store, blocked, namespaces_key, table_mut};
use crate::status::ApiError;

/// The finalizer the namespace controller owns.
const KUBERNETES: &str = "kubernetes";

/// What a namespace create sets.
pub(super) fn prepare_create(body: &mut Value) {
    body["spec"]["finalizers"] = serde_json::json!([KUBERNETES]);
    body["status"] = serde_json::json!({ "phase": "Active" });
}

/// An update keeps the stored `spec.finalizers`.
pub(super) fn keep_spec_finalizers(old: &Value, new: &mut Value) {
    match old.pointer("/spec/finalizers") {
        Some(finalizers) => new["spec"]["finalizers"] = finalizers.clone(),
        None => {
            if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("finalizers");
            }
        }
    }
}

/// A namespace's `spec.finalizers`.
pub(super) fn spec_finalizers(value: &Value) -> Vec<&str> {
    value
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

impl Store {
    /// `PUT /api/v1/namespaces/<name>/finalize`: sets `spec.finalizers` from `body`, nothing
    /// else; a terminating namespace left with no finalizer is deleted.
    pub(crate) fn finalize_namespace(
        &self,
        name: &str,
        body: &Value,
    ) -> Result<Arc<Obj>, ApiError> {
        let finalizers = match body.pointer("/spec/finalizers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => items.clone(),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the request body cannot be decoded: spec.finalizers must be an array of strings",
                ));
            }
        };
        let rkey = namespaces_key();
        let mut state = self.state.lock();
        let old = table_mut(&mut state, &rkey)
            .items
            .get(&(String::new(), name.to_owned()))
            .cloned()
            .ok_or_else(|| ApiError::not_found("", "namespaces", name))?;
        let mut value = old.value();
        value["spec"]["finalizers"] = Value::Array(finalizers);
        Ok(self.settle_namespace(&mut state, old, value))
    }

    /// Commits a change to a namespace: DELETED when it is terminating and nothing holds it any
    /// more, MODIFIED otherwise (nothing at all when nothing changed).
    fn settle_namespace(&self, state: &mut State, old: Arc<Obj>, value: Value) -> Arc<Obj> {
        let rkey = namespaces_key();
        if old.terminating && !blocked(&rkey, &value) {
            return self.commit_locked(state, &rkey, value, Some(old), EventKind::Deleted);
        }
        if value == old.value() {
            return old;
        }
        self.commit_locked(state, &rkey, value, Some(old), EventKind::Modified)
    }

    /// One pass of the namespace controller over every terminating namespace: delete what it
    /// holds (objects with finalizers are only marked), and once it holds nothing, remove the
    /// `kubernetes` finalizer. Returns whether it changed anything.
    pub(crate) fn namespace_controller_pass(&self) -> bool {
        let mut state = self.state.lock();
        let rkey = namespaces_key();
        let terminating: Vec<Arc<Obj>> = table_mut(&mut state, &rkey)
            .items
            .values()
            .filter(|ns| ns.terminating)
            .cloned()
            .collect();
        let mut changed = false;
        for namespace in terminating {
            let name = namespace.name.clone();
            let contents: Vec<(ResourceKey, Arc<Obj>)> = state
                .tables
                .iter()
                .filter(|(k, _)| **k != rkey)
                .flat_map(|(k, t)| {
                    t.items
                        .range((name.clone(), String::new())..)
                        .take_while(|(key, _)| key.0 == name)
                        .map(move |(_, o)| (k.clone(), Arc::clone(o)))
                })
                .collect();
            if !contents.is_empty() {
                for (k, obj) in contents.into_iter().filter(|(_, o)| !o.terminating) {
                    let value = obj.value();
                    self.delete_locked(&mut state, &k, obj, value);
                    changed = true;
                }
                continue; // objects held by their finalizers: wait for them
            }
            let mut value = namespace.value();
            let kept: Vec<Value> = spec_finalizers(&value)
                .into_iter()
                .filter(|f| *f != KUBERNETES)
                .map(Value::from)
                .collect();
            if kept.len() != spec_finalizers(&value).len() {
                value["spec"]["finalizers"] = Value::Array(kept);
                self.settle_namespace(&mut state, namespace, value);
                changed = true;
            }
        }
        changed
    }
}
