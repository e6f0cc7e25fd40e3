//! Graceful deletion of pods, as kube-apiserver does it.
//!
//! A pod is never removed in one step. A pod that no node runs (no `spec.nodeName`, or one that
//! has finished) is marked (`deletionTimestamp` now, `deletionGracePeriodSeconds: 0`, a
//! `MODIFIED` event) and then removed (a `DELETED` event with the same marks), unless finalizers
//! hold it. A pod bound to a node gets its grace period (the delete's `gracePeriodSeconds`, else
//! its `terminationGracePeriodSeconds`, else 30): it is marked with `deletionTimestamp` that far
//! ahead and stays `Terminating`, because only its kubelet would remove it; a later delete may
//! shorten the grace, and one with `gracePeriodSeconds: 0` removes it at once (a force
//! delete). The delete answers with the pod as marked, in every case. Measured on
//! kube-apiserver v1.32.13.

use std::sync::Arc;

use serde_json::Value;

use super::checks::blocked;
use super::{Obj, State, Store};
use crate::history::EventKind;
use crate::meta;
use crate::resources::ResourceKey;

/// The grace period a delete gives a pod.
fn grace(pod: &Value, requested: Option<i64>) -> i64 {
    let bound = pod["spec"]["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty());
    let finished = matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    );
    if !bound || finished {
        return 0;
    }
    requested
        .or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(30)
        .max(0)
}

impl Store {
    /// Delete the pod `old` (whose value is `value`) with the grace `requested`, if any.
    pub(super) fn delete_pod_locked(
        &self,
        state: &mut State,
        rkey: &ResourceKey,
        old: Arc<Obj>,
        mut value: Value,
        requested: Option<i64>,
    ) -> Arc<Obj> {
        let grace = grace(&value, requested);
        let now = meta::unix_now();
        let current = value["metadata"]["deletionGracePeriodSeconds"].as_i64();
        if grace > 0 {
            // A grace already as short stands; a shorter one replaces it.
            if old.terminating && current.is_some_and(|c| c <= grace) {
                return old;
            }
            let at = now.saturating_add(grace.unsigned_abs());
            value["metadata"]["deletionTimestamp"] = Value::from(meta::rfc3339(at));
            value["metadata"]["deletionGracePeriodSeconds"] = Value::from(grace);
            return self.commit_locked(state, rkey, value, Some(old), EventKind::Modified);
        }
        let marked = if old.terminating && current == Some(0) {
            old
        } else {
            value["metadata"]["deletionTimestamp"] = Value::from(meta::rfc3339(now));
            value["metadata"]["deletionGracePeriodSeconds"] = Value::from(0);
            self.commit_locked(state, rkey, value.clone(), Some(old), EventKind::Modified)
        };
        if blocked(rkey, &value) {
            return marked;
        }
        let value = marked.value();
        self.commit_locked(state, rkey, value, Some(marked), EventKind::Deleted)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::grace;

    #[test]
    fn only_a_running_bound_pod_gets_a_grace_period() {
        assert_eq!(grace(&json!({"spec": {}}), Some(60)), 0);
        assert_eq!(grace(&json!({"spec": {"nodeName": "n1"}}), None), 30);
        let pod = json!({"spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 5}});
        assert_eq!(grace(&pod, None), 5);
        assert_eq!(grace(&pod, Some(0)), 0);
        assert_eq!(grace(&pod, Some(-3)), 0);
        let done = json!({"spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}});
        assert_eq!(grace(&done, None), 0);
    }
}
