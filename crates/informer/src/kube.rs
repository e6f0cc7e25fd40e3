//! The kube adapter (feature `kube`): [`KubeObject`], which makes any kube resource a
//! [`Resource`] (typed, `DynamicObject`, or `PartialObjectMeta` for metadata only), and
//! [`KubeListerWatcher`] and [`KubeMetadataListerWatcher`], the [`ListerWatcher`]s over a
//! `kube::Api`.
//!
//! # Why a newtype
//!
//! The informer needs [`delta_fifo::Object`] (a trait of another crate) on the cached type.
//! A blanket `impl<K: kube::Resource> delta_fifo::Object for K` is refused by the orphan
//! rules here, and the informer cannot rely on `delta-fifo` knowing kube. So objects are
//! wrapped: `KubeObject<Pod>` derefs to the `Pod`, costs nothing at run time, and is what an
//! informer over kube caches (`SharedIndexInformer<KubeObject<Pod>, KubeListerWatcher<Pod>>`).

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use delta_fifo::Object;
use futures::StreamExt;
use kube::api::{ListParams, VersionMatch, WatchParams};
use kube::core::{PartialObjectMeta, WatchEvent as KubeWatchEvent};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::lister_watcher::{
    CachedLookup, INITIAL_EVENTS_END_ANNOTATION, ListOptions, ListPage, ListerWatcher, Status,
    WatchEvent, WatchOptions, WatchStream,
};
use crate::object::Resource;

/// A typed kube object (any `kube::Resource` with static type information, e.g. a
/// `k8s_openapi` `Pod` or a `CustomResource`) as an informer [`Resource`]: its key is
/// `namespace/name` from `metadata`, its version `metadata.resourceVersion`, and
/// [`without_managed_fields`](Resource::without_managed_fields) clears
/// `metadata.managedFields`. Derefs to the object.
///
/// # Examples
///
/// ```
/// use delta_fifo::Object;
/// use informer::{KubeObject, Resource};
/// use k8s_openapi::api::core::v1::Pod;
/// use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
///
/// let mut pod = Pod::default();
/// pod.metadata.name = Some("web".into());
/// pod.metadata.namespace = Some("default".into());
/// pod.metadata.resource_version = Some("7".into());
/// pod.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
/// let pod = KubeObject(pod);
/// assert_eq!((pod.namespace(), pod.name()), (Some("default"), Some("web")));
/// assert_eq!(pod.resource_version(), Some("7"));
/// let stripped = pod.without_managed_fields().unwrap();
/// assert!(stripped.metadata.managed_fields.is_none());
/// assert!(stripped.without_managed_fields().is_none(), "nothing left to strip");
/// ```
#[derive(Clone, Debug, PartialEq, Default)]
pub struct KubeObject<K>(pub K);

impl<K> KubeObject<K> {
    /// The wrapped object.
    pub fn into_inner(self) -> K {
        self.0
    }
}

impl<K> Deref for KubeObject<K> {
    type Target = K;
    fn deref(&self) -> &K {
        &self.0
    }
}

impl<K> DerefMut for KubeObject<K> {
    fn deref_mut(&mut self) -> &mut K {
        &mut self.0
    }
}

impl<K> From<K> for KubeObject<K> {
    fn from(obj: K) -> Self {
        Self(obj)
    }
}

impl<K: kube::Resource> Object for KubeObject<K> {
    fn name(&self) -> Option<&str> {
        self.0.meta().name.as_deref()
    }
    fn namespace(&self) -> Option<&str> {
        self.0.meta().namespace.as_deref()
    }
}

impl<K: kube::Resource + Clone + Send + Sync + 'static> Resource for KubeObject<K> {
    fn resource_version(&self) -> Option<&str> {
        self.0.meta().resource_version.as_deref()
    }

    fn uid(&self) -> Option<&str> {
        self.0.meta().uid.as_deref()
    }

    fn without_managed_fields(&self) -> Option<Self> {
        self.0.meta().managed_fields.as_ref()?;
        let mut copy = self.0.clone();
        copy.meta_mut().managed_fields = None;
        Some(Self(copy))
    }
}

/// The [`ListerWatcher`] of one resource type over a `kube::Api<K>` (all namespaces or one,
/// as the `Api` was made), optionally narrowed by label and field selectors.
///
/// * list: `limit`, `continue`, `resourceVersion` with `resourceVersionMatch=NotOlderThan`
///   for a non-empty version (`""` is a quorum read). kube leaves `resourceVersion=0` out of a
///   request that also has a `limit`, which would turn the reflector's cheap "any version"
///   read into a quorum read; so a list at `"0"` is sent without a limit (a server with a
///   watch cache ignores the limit there anyway).
/// * watch: `resourceVersion`, `allowWatchBookmarks`, `timeoutSeconds`, and for a streaming
///   list ([`WatchOptions::send_initial_events`]) `sendInitialEvents=true` with
///   `resourceVersionMatch=NotOlderThan` (an empty version is sent as `resourceVersion=`,
///   which the server reads as "the latest"). A bookmark annotated
///   `k8s.io/initial-events-end: "true"` becomes a [`WatchEvent::Bookmark`] with
///   `initial_events_end` set. An `ERROR` event becomes [`WatchEvent::Error`]; an event the
///   client cannot decode becomes one with reason [`UNDECODABLE_EVENT`] (then the reflector
///   relists after a backoff); a transport failure mid-stream ends the stream (the reflector
///   re-watches from its last version).
/// * another kind: a `DynamicObject` that declares another `apiVersion`/`kind` than the
///   resource's (a misbehaving server, or an `ApiResource` naming the wrong kind) never enters
///   the cache. In a watch event it is skipped and logged, as client-go's reflector does with
///   its expected GVK; in a list, it fails the list with reason [`UNEXPECTED_KIND`] naming
///   both kinds, and the reflector retries with backoff. Typed objects are checked by their
///   own decoding (`k8s-openapi` refuses another kind), which makes them garbage (below).
/// * garbage: an object that does not decode as `K` fails the list with
///   [`ApiError::Transport`] naming the call (`"list pods: ..."`), and the reflector retries
///   with backoff until the server's answer is sound again.
/// * errors: an API `Status` keeps its code, reason and causes, so 410, 429, 500 classify as
///   the reflector expects; its message is prefixed with the verb and resource
///   (`"list pods: ..."`). A refused connection is [`ApiError::ConnectionRefused`]; anything
///   else [`ApiError::Transport`].
///
/// Use a client with kube's own retries off (the reflector has its own backoff), as
/// `fake-apiserver`'s client does.
pub struct KubeListerWatcher<K> {
    api: kube::Api<K>,
    resource: String,
    /// The `apiVersion` and `kind` the objects must declare, when they declare one.
    expected: ExpectedType,
    label_selector: Option<String>,
    field_selector: Option<String>,
    strip_on_list: bool,
    share: Option<CachedLookup<KubeObject<K>>>,
}

impl<K> KubeListerWatcher<K>
where
    K: kube::Resource<DynamicType = ()>,
{
    /// Lists and watches through `api`.
    pub fn new(api: kube::Api<K>) -> Self {
        Self::new_with(api, &())
    }
}

impl<K: kube::Resource> KubeListerWatcher<K> {
    /// Lists and watches through `api`, for a type whose information comes at run time, such
    /// as `DynamicObject` with its `ApiResource`: `dyntype` names the resource in errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn demo(client: kube::Client) {
    /// use informer::{KubeListerWatcher, KubeObject, SharedIndexInformer};
    /// use k8s_openapi::api::core::v1::ConfigMap;
    /// use kube::api::{Api, ApiResource, DynamicObject};
    /// use timer_wheel::Driver;
    ///
    /// let resource = ApiResource::erase::<ConfigMap>(&());
    /// let api = Api::<DynamicObject>::all_with(client, &resource);
    /// let lister_watcher = KubeListerWatcher::new_with(api, &resource);
    /// let informer: SharedIndexInformer<KubeObject<DynamicObject>, _> =
    ///     SharedIndexInformer::new(lister_watcher, Driver::global().clone());
    /// # }
    /// ```
    pub fn new_with(api: kube::Api<K>, dyntype: &K::DynamicType) -> Self {
        let group = K::group(dyntype);
        let plural = K::plural(dyntype);
        let resource = if group.is_empty() {
            plural.into_owned()
        } else {
            format!("{plural}.{group}")
        };
        Self {
            api,
            resource,
            expected: ExpectedType {
                api_version: K::api_version(dyntype).into_owned(),
                kind: K::kind(dyntype).into_owned(),
            },
            label_selector: None,
            field_selector: None,
            strip_on_list: false,
            share: None,
        }
    }

    /// Only objects whose labels match `selector` (e.g. `app=web`).
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    /// Only objects whose fields match `selector` (e.g. `spec.nodeName=n1`).
    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }

    /// The resource as named in error messages (`pods`, `deployments.apps`).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    fn list_params(&self, options: &ListOptions) -> ListParams {
        let mut params = ListParams {
            label_selector: self.label_selector.clone(),
            field_selector: self.field_selector.clone(),
            ..ListParams::default()
        };
        let limit = (options.limit > 0).then_some(options.limit);
        if let Some(token) = &options.continue_token {
            params.continue_token = Some(token.clone());
            params.limit = limit;
        } else if options.resource_version == "0" {
            params.resource_version = Some("0".to_owned());
        } else if !options.resource_version.is_empty() {
            params.resource_version = Some(options.resource_version.clone());
            params.version_match = Some(VersionMatch::NotOlderThan);
            params.limit = limit;
        } else {
            params.limit = limit;
        }
        params
    }

    fn watch_params(&self, options: &WatchOptions) -> WatchParams {
        let mut params = WatchParams {
            label_selector: self.label_selector.clone(),
            field_selector: self.field_selector.clone(),
            timeout: (options.timeout_seconds > 0).then_some(options.timeout_seconds),
            bookmarks: options.allow_watch_bookmarks,
            ..WatchParams::default()
        };
        // sendInitialEvents=true with resourceVersionMatch=NotOlderThan (RF-19).
        params.send_initial_events = options.send_initial_events;
        params
    }

    fn error(&self, verb: &str, error: kube::Error) -> ApiError {
        map_error(verb, &self.resource, error)
    }
}

impl<K> ListerWatcher<KubeObject<K>> for KubeListerWatcher<K>
where
    K: kube::Resource + Clone + DeserializeOwned + fmt::Debug + Send + Sync + 'static,
{
    /// Reads the answer as it arrives, item by item (not as one `ObjectList`): see
    /// [`strip_managed_fields_early`](ListerWatcher::strip_managed_fields_early) and
    /// [`share_cached`](ListerWatcher::share_cached).
    async fn list(&self, options: &ListOptions) -> Result<ListPage<KubeObject<K>>, ApiError> {
        let params = self.list_params(options);
        let client = self.api.clone().into_client();
        let read = crate::kube_list::ReadOptions {
            strip: self.strip_on_list,
            share: self.share.clone(),
            item_types: Some(kube::core::TypeMeta {
                api_version: self.expected.api_version.clone(),
                kind: self.expected.kind.clone(),
            }),
        };
        let list =
            crate::kube_list::list_streamed::<K>(client, self.api.resource_url(), &params, read)
                .await
                .map_err(|e| self.error("list", e))?;
        self.expected
            .check_list(&self.resource, list.items.iter().map(|o| &o.0))?;
        self.expected
            .check_list_kind::<K>(&self.resource, list.types.as_ref())?;
        Ok(ListPage {
            items: list.items,
            resource_version: list.metadata.resource_version.unwrap_or_default(),
            continue_token: list.metadata.continue_.filter(|t| !t.is_empty()),
        })
    }

    /// Leaves each listed object's managedFields undecoded (see the trait); watches are read
    /// one event at a time and left to the informer.
    fn strip_managed_fields_early(&mut self, strip: bool) {
        self.strip_on_list = strip;
    }

    /// Answers each listed object that `lookup` finds with the cached `Arc`, dropping the
    /// decoded copy before the next item is read.
    fn share_cached(&mut self, lookup: CachedLookup<KubeObject<K>>) {
        self.share = Some(lookup);
    }

    async fn watch(&self, options: &WatchOptions) -> Result<WatchStream<KubeObject<K>>, ApiError> {
        let stream = self
            .api
            .watch(&self.watch_params(options), &options.resource_version)
            .await
            .map_err(|e| self.error("watch", e))?;
        Ok(events(stream, self.resource.clone(), self.expected.clone()))
    }
}

/// A [`ListerWatcher`] of the metadata of one resource type only (client-go's metadata
/// informers): objects are `PartialObjectMeta<K>`, which hold `metadata` alone, so the cache
/// costs a fraction of full objects. Made by [`KubeListerWatcher::metadata_only`]; the
/// requests are those of `Api::list_metadata` and `Api::watch_metadata` (`Accept:
/// ...;as=PartialObjectMetadataList`), with the same options and error mapping as
/// [`KubeListerWatcher`]. A server that answers full objects anyway still yields metadata only.
///
/// # Examples
///
/// ```no_run
/// # fn demo(client: kube::Client) {
/// use informer::{KubeListerWatcher, KubeObject, SharedIndexInformer};
/// use k8s_openapi::api::core::v1::Pod;
/// use kube::Api;
/// use kube::core::PartialObjectMeta;
/// use timer_wheel::Driver;
///
/// let lister_watcher = KubeListerWatcher::new(Api::<Pod>::all(client)).metadata_only();
/// let informer: SharedIndexInformer<KubeObject<PartialObjectMeta<Pod>>, _> =
///     SharedIndexInformer::new(lister_watcher, Driver::global().clone());
/// # }
/// ```
#[doc(alias = "PartialObjectMetadata")]
pub struct KubeMetadataListerWatcher<K>(KubeListerWatcher<K>);

impl<K> KubeListerWatcher<K> {
    /// The same lists and watches, for metadata only.
    pub fn metadata_only(self) -> KubeMetadataListerWatcher<K> {
        KubeMetadataListerWatcher(self)
    }
}

impl<K> KubeMetadataListerWatcher<K> {
    /// The resource as named in error messages.
    pub fn resource(&self) -> &str {
        &self.0.resource
    }
}

impl<K> ListerWatcher<KubeObject<PartialObjectMeta<K>>> for KubeMetadataListerWatcher<K>
where
    K: kube::Resource + Clone + DeserializeOwned + fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Clone + Send + Sync,
{
    async fn list(
        &self,
        options: &ListOptions,
    ) -> Result<ListPage<KubeObject<PartialObjectMeta<K>>>, ApiError> {
        let lw = &self.0;
        let list = lw
            .api
            .list_metadata(&lw.list_params(options))
            .await
            .map_err(|e| lw.error("list", e))?;
        Ok(ListPage {
            items: list
                .items
                .into_iter()
                .map(|obj| Arc::new(KubeObject(obj)))
                .collect(),
            resource_version: list.metadata.resource_version.unwrap_or_default(),
            continue_token: list.metadata.continue_.filter(|t| !t.is_empty()),
        })
    }

    async fn watch(
        &self,
        options: &WatchOptions,
    ) -> Result<WatchStream<KubeObject<PartialObjectMeta<K>>>, ApiError> {
        let lw = &self.0;
        let stream = lw
            .api
            .watch_metadata(&lw.watch_params(options), &options.resource_version)
            .await
            .map_err(|e| lw.error("watch", e))?;
        Ok(events(stream, lw.resource.clone(), lw.expected.clone()))
    }
}

impl<K> fmt::Debug for KubeMetadataListerWatcher<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KubeMetadataListerWatcher")
            .field(&self.0)
            .finish()
    }
}

/// The reason of the [`WatchEvent::Error`] a kube watch stream ends with when the server sent
/// an event the client cannot decode as the resource type (say, a field of the wrong type):
/// its code is 0, and the reflector relists after a backoff, where the list fails with the
/// decode error itself, until the object is fixed.
pub const UNDECODABLE_EVENT: &str = "UndecodableEvent";

/// The reason of the list error when the server answers a `DynamicObject` of another
/// `apiVersion`/`kind` than the resource's (code 0; the reflector relists after a backoff).
pub const UNEXPECTED_KIND: &str = "UnexpectedKind";

/// The `apiVersion` and `kind` of the resource a [`KubeListerWatcher`] was made for.
#[derive(Clone, Debug)]
struct ExpectedType {
    api_version: String,
    kind: String,
}

impl ExpectedType {
    /// What `object` declares, when it differs from what is expected: only `DynamicObject`s
    /// can (typed objects are checked by their decoding, metadata-only ones are
    /// `PartialObjectMetadata` by design).
    fn mismatch<T: 'static>(&self, object: &T) -> Option<(String, String)> {
        let object: &dyn std::any::Any = object;
        let types = object
            .downcast_ref::<kube::core::DynamicObject>()?
            .types
            .as_ref()?;
        (types.api_version != self.api_version || types.kind != self.kind)
            .then(|| (types.api_version.clone(), types.kind.clone()))
    }

    fn describe(&self, verb: &str, resource: &str, found: &(String, String)) -> String {
        format!(
            "{verb} {resource}: the server sent an object of {}/{} where {}/{} was expected",
            found.0, found.1, self.api_version, self.kind
        )
    }

    /// Refuses a `DynamicObject` list that says it holds another kind (`ConfigMapList` where
    /// `GadgetList` was expected): the real server lists built-in kinds without each item's
    /// `kind`, so the list's own is what tells.
    fn check_list_kind<T: 'static>(
        &self,
        resource: &str,
        list: Option<&(String, String)>,
    ) -> Result<(), ApiError> {
        if std::any::TypeId::of::<T>() != std::any::TypeId::of::<kube::core::DynamicObject>() {
            return Ok(());
        }
        let Some((api_version, kind)) = list else {
            return Ok(());
        };
        let item_kind = kind.strip_suffix("List").unwrap_or(kind);
        if *api_version == self.api_version && item_kind == self.kind {
            return Ok(());
        }
        let found = (api_version.clone(), item_kind.to_owned());
        Err(ApiError::Status(Status::new(
            0,
            UNEXPECTED_KIND,
            self.describe("list", resource, &found),
        )))
    }

    /// Refuses a list holding an object of another kind.
    fn check_list<'a, T: 'static>(
        &self,
        resource: &str,
        items: impl IntoIterator<Item = &'a T>,
    ) -> Result<(), ApiError> {
        match items.into_iter().find_map(|item| self.mismatch(item)) {
            None => Ok(()),
            Some(found) => Err(ApiError::Status(Status::new(
                0,
                UNEXPECTED_KIND,
                self.describe("list", resource, &found),
            ))),
        }
    }
}

/// kube's watch events as the reflector's, ending the stream at a transport failure (the
/// reflector re-watches from its last version).
fn events<T, S>(stream: S, resource: String, expected: ExpectedType) -> WatchStream<KubeObject<T>>
where
    T: kube::Resource + Send + 'static,
    S: futures::Stream<Item = kube::Result<KubeWatchEvent<T>>> + Send + 'static,
{
    // Each item becomes `Some(Some(event))`, `Some(None)` for an object of another kind
    // (skipped), or `None`, which ends the stream.
    let resource_name = resource.clone();
    let object = move |obj: T, event: fn(KubeObject<T>) -> WatchEvent<KubeObject<T>>| match expected
        .mismatch(&obj)
    {
        None => Some(Some(event(KubeObject(obj)))),
        Some(found) => {
            let message = expected.describe("watch", &resource_name, &found);
            tracing::error!(resource = %resource_name, "{message}; event skipped");
            Some(None)
        }
    };
    stream
        .map(move |item| match item {
            Ok(KubeWatchEvent::Added(obj)) => object(obj, WatchEvent::Added),
            Ok(KubeWatchEvent::Modified(obj)) => object(obj, WatchEvent::Modified),
            Ok(KubeWatchEvent::Deleted(obj)) => object(obj, WatchEvent::Deleted),
            Ok(KubeWatchEvent::Bookmark(bookmark)) => Some(Some(WatchEvent::Bookmark {
                initial_events_end: bookmark
                    .metadata
                    .annotations
                    .get(INITIAL_EVENTS_END_ANNOTATION)
                    .is_some_and(|v| v == "true"),
                resource_version: bookmark.metadata.resource_version,
            })),
            Ok(KubeWatchEvent::Error(status)) => Some(Some(WatchEvent::Error(status_of(
                "watch", &resource, &status,
            )))),
            // kube reads a line that is not a decodable event as a `Status` when it can, and
            // every field of one is optional: a code of 0 is such a line, not the server's
            // answer (which comes as an `ERROR` event). Say so, instead of an empty status.
            Err(kube::Error::Api(status)) if status.code == 0 => {
                Some(Some(WatchEvent::Error(Status::new(
                    0,
                    UNDECODABLE_EVENT,
                    format!("watch {resource}: an event the client could not decode"),
                ))))
            }
            Err(kube::Error::Api(status)) => Some(Some(WatchEvent::Error(status_of(
                "watch", &resource, &status,
            )))),
            Err(error) => {
                tracing::debug!(%resource, %error, "watch stream failed; ending it");
                None
            }
        })
        .take_while(|event| futures::future::ready(event.is_some()))
        .filter_map(|event| futures::future::ready(event.flatten()))
        .boxed()
}

impl<K> fmt::Debug for KubeListerWatcher<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeListerWatcher")
            .field("resource", &self.resource)
            .field("label_selector", &self.label_selector)
            .field("field_selector", &self.field_selector)
            .finish_non_exhaustive()
    }
}

/// A kube `Status` as the reflector's, its message naming the call.
fn status_of(verb: &str, resource: &str, status: &kube::core::Status) -> Status {
    Status {
        code: status.code,
        reason: status.reason.clone(),
        message: format!("{verb} {resource}: {}", status.message),
        causes: status
            .details
            .as_ref()
            .map(|d| d.causes.iter().map(|c| c.reason.clone()).collect())
            .unwrap_or_default(),
    }
}

/// Maps a kube error of a `verb` call on `resource` into the reflector's classification.
fn map_error(verb: &str, resource: &str, error: kube::Error) -> ApiError {
    if let kube::Error::Api(status) = &error {
        return ApiError::Status(status_of(verb, resource, status));
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    let mut text = error.to_string();
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return ApiError::ConnectionRefused(format!("{verb} {resource}: {io}"));
        }
        cause = current.source();
        if let Some(next) = cause {
            text.push_str(": ");
            text.push_str(&next.to_string());
        }
    }
    ApiError::Transport(format!("{verb} {resource}: {text}"))
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use kube::core::{ApiResource, DynamicObject, WatchEvent as KubeWatchEvent};

    use super::{ExpectedType, KubeObject, events};
    use crate::lister_watcher::WatchEvent;

    fn object<K: kube::Resource<DynamicType = ()>>(name: &str) -> DynamicObject {
        DynamicObject::new(name, &ApiResource::erase::<K>(&()))
    }

    #[tokio::test]
    async fn watch_events_of_another_kind_are_skipped_and_the_watch_goes_on() {
        // issue 7 (objects of the wrong kind in a watch); client-go's reflector skips an
        // event whose object is not of the expected GVK
        let expected = ExpectedType {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
        };
        let untyped = {
            let mut o = object::<ConfigMap>("untyped");
            o.types = None;
            o
        };
        let stream = futures::stream::iter([
            Ok(KubeWatchEvent::Added(object::<ConfigMap>("a"))),
            Ok(KubeWatchEvent::Added(object::<Secret>("s"))),
            Ok(KubeWatchEvent::Deleted(object::<Secret>("s"))),
            Ok(KubeWatchEvent::Modified(object::<ConfigMap>("a"))),
            Ok(KubeWatchEvent::Added(untyped)),
        ]);
        let seen: Vec<String> = events(stream, "configmaps".into(), expected)
            .map(|event| match event {
                WatchEvent::Added(KubeObject(o)) => format!("added {}", o.metadata.name.unwrap()),
                WatchEvent::Modified(KubeObject(o)) => {
                    format!("modified {}", o.metadata.name.unwrap())
                }
                other => format!("{other:?}"),
            })
            .collect()
            .await;
        // An object that declares no type is taken (list items often do not).
        assert_eq!(seen, ["added a", "modified a", "added untyped"]);
    }

    #[test]
    fn a_list_with_an_object_of_another_kind_is_refused_naming_both() {
        let expected = ExpectedType {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
        };
        let fine = [object::<ConfigMap>("a")];
        assert!(expected.check_list("configmaps", &fine).is_ok());
        let mixed = [object::<ConfigMap>("a"), object::<Secret>("s")];
        let error = expected.check_list("configmaps", &mixed).unwrap_err();
        let status = error.status().expect("a status");
        assert_eq!(status.reason, super::UNEXPECTED_KIND);
        assert_eq!(
            status.message,
            "list configmaps: the server sent an object of v1/Secret where v1/ConfigMap was expected"
        );
        // Typed objects are not looked at: their decoding checked the kind already.
        assert!(
            expected
                .check_list("configmaps", &[Secret::default()])
                .is_ok()
        );
    }

    #[test]
    fn a_dynamic_list_whose_own_kind_is_another_is_refused() {
        let expected = ExpectedType {
            api_version: "v1".into(),
            kind: "Gadget".into(),
        };
        let list = ("v1".to_owned(), "ConfigMapList".to_owned());
        let error = expected
            .check_list_kind::<DynamicObject>("configmaps", Some(&list))
            .unwrap_err();
        assert_eq!(
            error.status().expect("a status").message,
            "list configmaps: the server sent an object of v1/ConfigMap where v1/Gadget was expected"
        );
        let gadgets = ("v1".to_owned(), "GadgetList".to_owned());
        assert!(
            expected
                .check_list_kind::<DynamicObject>("gadgets", Some(&gadgets))
                .is_ok()
        );
        assert!(
            expected
                .check_list_kind::<DynamicObject>("gadgets", None)
                .is_ok()
        );
        // Typed lists are checked by their decoding.
        assert!(
            expected
                .check_list_kind::<ConfigMap>("configmaps", Some(&list))
                .is_ok()
        );
    }
}
