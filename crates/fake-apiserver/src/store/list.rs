//! Lists at a resourceVersion: the newest state, or an older one rebuilt from the history.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{Obj, ObjKey, Page, ReadAt, Store};
use crate::resources::{ResourceDef, ResourceKey};
use crate::status::ApiError;

impl Store {
    /// List `def` objects in namespace `ns` (all namespaces for `None`) that pass `filter`, in key
    /// order, starting after `after`, at most `limit` (0: no limit).
    pub(crate) fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        at: ReadAt,
        after: Option<&ObjKey>,
        limit: usize,
        filter: &dyn Fn(&Obj) -> bool,
    ) -> Result<Page, ApiError> {
        let state = self.state.lock();
        let current = state.rv;
        let rv = match at {
            ReadAt::Latest => current,
            ReadAt::NotOlderThan(n) | ReadAt::Exact(n) if n > current => {
                return Err(ApiError::too_large_rv(n, current));
            }
            ReadAt::NotOlderThan(_) => current,
            ReadAt::Exact(n) if n < state.history.floor() => {
                return Err(ApiError::expired(format!(
                    "too old resource version: {n} ({}): the state at that version is no longer kept",
                    state.history.floor()
                )));
            }
            ReadAt::Exact(n) => n,
        };
        let key = ResourceKey::of(def);
        let empty = BTreeMap::new();
        let table = state.tables.get(&key).map_or(&empty, |t| &t.items);
        // Keys whose state at `rv` differs from now: the `prev` of the first later event.
        let mut overlay: HashMap<ObjKey, Option<Arc<Obj>>> = HashMap::new();
        if rv < current {
            let mut events = Vec::new();
            let _ = state.history.after(rv, usize::MAX, &mut events);
            for e in events.iter().filter(|e| *e.resource == key) {
                if ns.is_none_or(|ns| e.object.namespace == ns) {
                    overlay
                        .entry(e.object.key())
                        .or_insert_with(|| e.prev.clone());
                }
            }
        }
        let start = match (after, ns) {
            (Some(k), _) => std::ops::Bound::Excluded(k.clone()),
            (None, Some(ns)) => std::ops::Bound::Included((ns.to_owned(), String::new())),
            (None, None) => std::ops::Bound::Unbounded,
        };
        let in_ns = |k: &ObjKey| ns.is_none_or(|ns| k.0 == ns);
        let mut items = Vec::new();
        let mut next = None;
        let wanted = if limit == 0 { usize::MAX } else { limit };
        let push = |obj: &Arc<Obj>, items: &mut Vec<Arc<Obj>>| -> bool {
            if items.len() == wanted {
                return false;
            }
            if filter(obj) {
                items.push(Arc::clone(obj));
            }
            true
        };
        let mut remaining = 0;
        if overlay.is_empty() {
            let mut objects = table
                .range((start, std::ops::Bound::Unbounded))
                .take_while(|(k, _)| in_ns(k))
                .map(|(_, obj)| obj);
            for obj in objects.by_ref() {
                if !push(obj, &mut items) {
                    next = items.last().map(|o| o.key());
                    remaining = usize::from(filter(obj)) + objects.filter(|o| filter(o)).count();
                    break;
                }
            }
        } else {
            let mut view: BTreeMap<&ObjKey, &Arc<Obj>> = table
                .range((start.clone(), std::ops::Bound::Unbounded))
                .take_while(|(k, _)| in_ns(k))
                .collect();
            for (k, prev) in &overlay {
                let after_start = match &start {
                    std::ops::Bound::Excluded(s) => k > s,
                    std::ops::Bound::Included(s) => k >= s,
                    std::ops::Bound::Unbounded => true,
                };
                if !after_start {
                    continue;
                }
                match prev {
                    Some(obj) => view.insert(k, obj),
                    None => view.remove(k),
                };
            }
            let mut objects = view.values();
            for obj in objects.by_ref() {
                if !push(obj, &mut items) {
                    next = items.last().map(|o| o.key());
                    remaining = usize::from(filter(obj)) + objects.filter(|o| filter(o)).count();
                    break;
                }
            }
        }
        Ok(Page {
            rv,
            items,
            next,
            remaining,
        })
    }
}
