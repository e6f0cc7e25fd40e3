//! The cache and the server compared as `namespace/name -> resourceVersion` maps.

use std::collections::BTreeMap;
use std::fmt::Debug;

use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

/// `namespace/name -> resourceVersion` of `objects`.
pub fn versions<'a, K: Resource + 'a>(
    objects: impl IntoIterator<Item = &'a K>,
) -> BTreeMap<String, String> {
    objects
        .into_iter()
        .map(|o| {
            let key = format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any());
            (key, o.resource_version().unwrap_or_default())
        })
        .collect()
}

/// The same map of every object of `K` the server holds, listed through `client`.
pub async fn served_versions<K>(client: kube::Client) -> BTreeMap<String, String>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let list = Api::<K>::all(client)
        .list(&ListParams::default())
        .await
        .expect("list what the server holds");
    versions(&list.items)
}
