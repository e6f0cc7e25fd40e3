//! A list answer read as it arrives, item by item: items are decoded in batches while the
//! rest is still coming, their `managedFields` left undecoded when the informer strips them,
//! and an item the cache already holds unchanged is answered with the cached `Arc`.
//!
//! `Api::list` reads the whole answer (for 100k pods, hundreds of MB of JSON) before it
//! decodes a typed `ObjectList<K>` from it, so the body, the list and, on a relist, the cache
//! are all held at once, and decoding waits for the last byte. Here the body is never held
//! whole: [`Splitter`] cuts the bytes into the items of the top-level `items` array and the
//! rest (kind, apiVersion, metadata, read at the end); items are decoded in batches of
//! [`BATCH_BYTES`] on tokio's blocking threads, [`BATCHES_IN_FLIGHT`] at a time, while the
//! next bytes arrive, and kept in list order. On a relist, an item whose uid and
//! resourceVersion match the cached object is dropped right after it is decoded (GOALS I5).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use futures::{AsyncBufRead, AsyncBufReadExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use kube::api::ListParams;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::kube::KubeObject;
use crate::list_splitter::Splitter;
use crate::lister_watcher::CachedLookup;

/// How items are read.
pub(crate) struct ReadOptions<K> {
    /// Leave `metadata.managedFields` out of every item.
    pub(crate) strip: bool,
    /// Answers an unchanged item with the cached `Arc`.
    pub(crate) share: Option<CachedLookup<KubeObject<K>>>,
    /// The `apiVersion` and `kind` a `DynamicObject` item without them takes: the real server
    /// lists built-in kinds without them, and client-go's unstructured lists fill them in from
    /// the list the same way.
    pub(crate) item_types: Option<kube::core::TypeMeta>,
}

impl<K> Clone for ReadOptions<K> {
    fn clone(&self) -> Self {
        Self {
            strip: self.strip,
            share: self.share.clone(),
            item_types: self.item_types.clone(),
        }
    }
}

/// The parts of a list answer the reflector needs.
pub(crate) struct ReadList<K> {
    pub(crate) items: Vec<Arc<KubeObject<K>>>,
    pub(crate) metadata: ListMeta,
    /// The list's own `apiVersion` and `kind` (`v1`, `ConfigMapList`), if it says.
    pub(crate) types: Option<(String, String)>,
}

/// Items are decoded in batches of about this many bytes of JSON.
const BATCH_BYTES: usize = 256 * 1024;
/// At most this many batches are decoded at once, on tokio's blocking threads, while the
/// answer goes on arriving; the reader waits for the oldest beyond that.
const BATCHES_IN_FLIGHT: usize = 2;

/// Lists `url` (an `Api`'s resource URL) with `params` through `client`, reading the answer
/// as it arrives (see the module).
pub(crate) async fn list_streamed<K>(
    client: kube::Client,
    url: &str,
    params: &ListParams,
    options: ReadOptions<K>,
) -> Result<ReadList<K>, kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + Send + Sync + 'static,
{
    let request = kube::core::Request::new(url)
        .list(params)
        .map_err(kube::Error::BuildRequest)?;
    let body = client.request_stream(request).await?;
    let mut body = std::pin::pin!(body);
    let mut reader = ListReader::new(options, tokio::runtime::Handle::try_current().ok());
    loop {
        let n = {
            let chunk = body.fill_buf().await.map_err(kube::Error::ReadEvents)?;
            reader.feed(chunk).map_err(kube::Error::SerdeError)?;
            chunk.len()
        };
        if n == 0 {
            break;
        }
        AsyncBufRead::consume(body.as_mut(), n);
        reader
            .collect(BATCHES_IN_FLIGHT)
            .await
            .map_err(kube::Error::SerdeError)?;
    }
    reader.finish().await.map_err(kube::Error::SerdeError)
}

/// Items waiting to be decoded: their JSON back to back (managedFields already replaced by
/// `null`), and where each ends.
struct Batch {
    json: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    /// Room for a full batch and the item that overflows it, so that filling it does not
    /// reallocate (and copy) as it grows.
    fn new() -> Self {
        Self {
            json: Vec::with_capacity(BATCH_BYTES + BATCH_BYTES / 4),
            ends: Vec::new(),
        }
    }

    fn decode<K>(self, options: &ReadOptions<K>) -> Result<Decoded<K>, serde_json::Error>
    where
        K: kube::Resource + Clone + DeserializeOwned + 'static,
    {
        // UTF-8 is checked once for the whole batch (fast on ASCII), not string by string
        // while decoding. Items start with `{` and end with `}`, so they cut the text on
        // character boundaries.
        let text = std::str::from_utf8(&self.json)
            .map_err(|error| de::Error::custom(format_args!("the list is not UTF-8: {error}")))?;
        let mut items = Vec::with_capacity(self.ends.len());
        let mut start = 0;
        for end in self.ends {
            let json = text.get(start..end).ok_or_else(|| {
                de::Error::custom("an item of the list does not end on a character boundary")
            })?;
            let obj = serde_json::from_str::<K>(json)?;
            items.push(keep(options, obj));
            start = end;
        }
        Ok(items)
    }
}

type Decoded<K> = Vec<Arc<KubeObject<K>>>;

/// A batch being decoded, or decoded already.
enum InFlight<K> {
    Blocking(tokio::task::JoinHandle<Result<Decoded<K>, serde_json::Error>>),
    Done(Result<Decoded<K>, serde_json::Error>),
}

/// Cuts the answer into items with [`Splitter`], decodes them in batches (on tokio's blocking
/// threads when there is a runtime, so decoding overlaps with reading, two batches at a
/// time), and keeps them in list order.
struct ListReader<K> {
    splitter: Splitter,
    options: ReadOptions<K>,
    runtime: Option<tokio::runtime::Handle>,
    batch: Batch,
    in_flight: std::collections::VecDeque<InFlight<K>>,
    items: Vec<Arc<KubeObject<K>>>,
}

impl<K> ListReader<K>
where
    K: kube::Resource + Clone + DeserializeOwned + Send + Sync + 'static,
{
    fn new(options: ReadOptions<K>, runtime: Option<tokio::runtime::Handle>) -> Self {
        Self {
            splitter: Splitter::new(options.strip),
            options,
            runtime,
            batch: Batch::new(),
            in_flight: std::collections::VecDeque::new(),
            items: Vec::new(),
        }
    }

    /// Reads the next bytes of the answer.
    fn feed(&mut self, bytes: &[u8]) -> Result<(), serde_json::Error> {
        let Self {
            splitter, batch, ..
        } = self;
        let mut full = false;
        splitter.feed(bytes, &mut |item, cut| {
            match cut {
                None => batch.json.extend_from_slice(item),
                Some((start, end)) => {
                    batch.json.extend_from_slice(&item[..start]);
                    batch.json.extend_from_slice(b"null");
                    batch.json.extend_from_slice(&item[end..]);
                }
            }
            batch.ends.push(batch.json.len());
            full |= batch.json.len() >= BATCH_BYTES;
            Ok(())
        })?;
        if full {
            self.dispatch();
        }
        Ok(())
    }

    /// Starts decoding the current batch.
    fn dispatch(&mut self) {
        if self.batch.ends.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Batch::new());
        let options = self.options.clone();
        self.in_flight.push_back(match &self.runtime {
            Some(runtime) => {
                InFlight::Blocking(runtime.spawn_blocking(move || batch.decode(&options)))
            }
            None => InFlight::Done(batch.decode(&options)),
        });
    }

    /// Takes in decoded batches, oldest first, until at most `keep` are left in flight.
    async fn collect(&mut self, keep: usize) -> Result<(), serde_json::Error> {
        while self.in_flight.len() > keep {
            let Some(next) = self.in_flight.pop_front() else {
                break;
            };
            let decoded = match next {
                InFlight::Done(decoded) => decoded,
                InFlight::Blocking(task) => match task.await {
                    Ok(decoded) => decoded,
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    Err(_) => Err(de::Error::custom(
                        "the runtime shut down while decoding the list",
                    )),
                },
            };
            self.items.extend(decoded?);
        }
        Ok(())
    }

    /// Decodes what is left and reads what is not an item (kind, apiVersion, metadata) once
    /// the answer is complete.
    async fn finish(mut self) -> Result<ReadList<K>, serde_json::Error> {
        self.dispatch();
        self.collect(0).await?;
        let Self {
            splitter,
            options,
            mut items,
            ..
        } = self;
        let skeleton = splitter.finish()?;
        let mut de = serde_json::Deserializer::from_slice(&skeleton);
        let rest = de.deserialize_map(ListVisitor::<K>(PhantomData))?;
        de.end()?;
        // Items the splitter did not recognise as such (an escaped `items` key): rare, and
        // read the ordinary way.
        items.extend(rest.items.into_iter().map(|obj| keep(&options, obj)));
        Ok(ReadList {
            items,
            metadata: rest.metadata,
            types: rest.api_version.zip(rest.kind),
        })
    }
}

/// What is kept of a decoded item: the cached `Arc` if the cache holds it unchanged (the
/// decoded copy is dropped here), else a compact copy without managedFields (if stripping).
fn keep<K>(options: &ReadOptions<K>, obj: K) -> Arc<KubeObject<K>>
where
    K: kube::Resource + Clone + 'static,
{
    let mut obj = KubeObject(obj);
    if let Some(types) = &options.item_types {
        let any: &mut dyn std::any::Any = &mut obj.0;
        if let Some(dynamic) = any.downcast_mut::<kube::core::DynamicObject>()
            && dynamic.types.is_none()
        {
            dynamic.types = Some(types.clone());
        }
    }
    if let Some(cached) = options.share.as_ref().and_then(|find| find(&obj)) {
        return cached;
    }
    if options.strip {
        obj.meta_mut().managed_fields = None;
    }
    // A fresh copy: a deserialized object's lists keep the spare capacity they grew into
    // while being read (2 containers sit in room for 4); a clone holds exactly what it has.
    Arc::new(KubeObject(obj.0.clone()))
}

/// The list object around its items: `metadata` is kept, `items` (normally left empty by the
/// splitter) read as they are, anything else skipped.
struct ListVisitor<K>(PhantomData<K>);

/// What [`ListVisitor`] reads.
struct Rest<K> {
    items: Vec<K>,
    metadata: ListMeta,
    api_version: Option<String>,
    kind: Option<String>,
}

impl<'de, K: DeserializeOwned> Visitor<'de> for ListVisitor<K> {
    type Value = Rest<K>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes list object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut list = Rest {
            items: Vec::new(),
            metadata: ListMeta::default(),
            api_version: None,
            kind: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "items" => list.items.extend(map.next_value::<Items<K>>()?.0),
                "metadata" => list.metadata = map.next_value()?,
                "apiVersion" => list.api_version = map.next_value()?,
                "kind" => list.kind = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(list)
    }
}

/// `items`: an array (or `null`) of objects.
struct Items<K>(Vec<K>);

impl<'de, K: DeserializeOwned> de::Deserialize<'de> for Items<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_option(ItemsVisitor(PhantomData))
    }
}

struct ItemsVisitor<K>(PhantomData<K>);

impl<'de, K: DeserializeOwned> Visitor<'de> for ItemsVisitor<K> {
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
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<K>()? {
            items.push(item);
        }
        Ok(Items(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    /// Reads `json` fed in chunks of `chunk` bytes (0: at once).
    fn read_with(
        json: &str,
        chunk: usize,
        options: ReadOptions<Pod>,
    ) -> Result<ReadList<Pod>, serde_json::Error> {
        read_on(None, json, chunk, options)
    }

    /// As [`read_with`], decoding on `runtime`'s blocking threads if there is one.
    fn read_on(
        runtime: Option<tokio::runtime::Handle>,
        json: &str,
        chunk: usize,
        options: ReadOptions<Pod>,
    ) -> Result<ReadList<Pod>, serde_json::Error> {
        let mut reader = ListReader::new(options, runtime.clone());
        let bytes = json.as_bytes();
        let parts: Vec<&[u8]> = if chunk == 0 {
            vec![bytes]
        } else {
            bytes.chunks(chunk).collect()
        };
        let read = async move {
            for part in parts {
                reader.feed(part)?;
                reader.collect(BATCHES_IN_FLIGHT).await?;
            }
            reader.feed(&[])?;
            reader.finish().await
        };
        match runtime {
            Some(runtime) => runtime.block_on(read),
            None => futures::executor::block_on(read),
        }
    }

    fn read(json: &str) -> Result<ReadList<Pod>, serde_json::Error> {
        read_with(
            json,
            0,
            ReadOptions {
                strip: true,
                share: None,
                item_types: None,
            },
        )
    }

    fn names(list: &ReadList<Pod>) -> Vec<String> {
        list.items
            .iter()
            .map(|p| p.metadata.name.clone().unwrap_or_default())
            .collect()
    }

    const LIST: &str = r#"{"kind":"PodList","apiVersion":"v1",
        "metadata":{"resourceVersion":"42","continue":"abc"},
        "items":[{"metadata":{"name":"a","resourceVersion":"7","managedFields":[{"manager":"m","fieldsV1":{"f:x":{}}}]}},
                 {"metadata":{"managedFields":null,"name":"b \"}{][\\","annotations":{"managedFields":"kept"}},
                  "spec":{"containers":[{"name":"c","args":["\"items\":[1]","}"]}]}},
                 {"metadata":{"managedFields":[],"name":"c"}} ] , "extra": {"items": 5}}"#;

    #[test]
    fn items_lose_managed_fields_and_metadata_is_kept() {
        let list = read(LIST).unwrap();
        assert_eq!(list.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(list.metadata.continue_.as_deref(), Some("abc"));
        assert_eq!(names(&list), ["a", "b \"}{][\\", "c"]);
        assert_eq!(
            list.items[0].metadata.resource_version.as_deref(),
            Some("7")
        );
        assert!(
            list.items
                .iter()
                .all(|p| p.metadata.managed_fields.is_none())
        );
        // Only metadata.managedFields is left out: an annotation of that name stays.
        let annotations = list.items[1].metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations["managedFields"], "kept");
        let args = list.items[1].spec.as_ref().unwrap().containers[0]
            .args
            .clone();
        assert_eq!(args.unwrap(), ["\"items\":[1]", "}"]);
    }

    #[test]
    fn managed_fields_are_kept_when_not_stripping() {
        let options = ReadOptions {
            strip: false,
            share: None,
            item_types: None,
        };
        let list = read_with(LIST, 0, options).unwrap();
        let fields = list.items[0].metadata.managed_fields.as_ref().unwrap();
        assert_eq!(fields[0].manager.as_deref(), Some("m"));
        assert_eq!(
            list.items[2].metadata.managed_fields.as_deref(),
            Some(&[][..])
        );
    }

    #[test]
    fn any_chunking_reads_the_same_list() {
        let whole = read(LIST).unwrap();
        for chunk in 1..=LIST.len() {
            let options = ReadOptions {
                strip: true,
                share: None,
                item_types: None,
            };
            let list = read_with(LIST, chunk, options).unwrap();
            assert_eq!(names(&list), names(&whole), "chunks of {chunk}");
            assert_eq!(list.metadata, whole.metadata, "chunks of {chunk}");
            assert!(
                list.items.iter().zip(&whole.items).all(|(a, b)| a == b),
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn unchanged_items_are_the_cached_arcs() {
        let mut cached = Pod::default();
        cached.metadata.name = Some("a".to_owned());
        cached.metadata.resource_version = Some("7".to_owned());
        let cached = Arc::new(KubeObject(cached));
        let find: CachedLookup<KubeObject<Pod>> = {
            let cached = Arc::clone(&cached);
            Arc::new(move |obj: &KubeObject<Pod>| {
                (obj.metadata.name == cached.metadata.name
                    && obj.metadata.resource_version == cached.metadata.resource_version)
                    .then(|| Arc::clone(&cached))
            })
        };
        let options = ReadOptions {
            strip: true,
            share: Some(find),
            item_types: None,
        };
        let list = read_with(LIST, 5, options).unwrap();
        assert!(Arc::ptr_eq(&list.items[0], &cached));
        assert!(!Arc::ptr_eq(&list.items[1], &cached));
        assert_eq!(names(&list), ["a", "b \"}{][\\", "c"]);
    }

    #[test]
    fn a_large_list_decoded_in_parallel_batches_keeps_its_order() {
        let n = 3000;
        let items: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"metadata":{{"name":"p{i}","resourceVersion":"{i}","managedFields":[{{"manager":"{}"}}]}},"spec":{{"containers":[{{"name":"c","image":"{}"}}]}}}}"#,
                    "m".repeat(100),
                    "i".repeat(i % 300)
                )
            })
            .collect();
        let json = format!(
            r#"{{"metadata":{{"resourceVersion":"9"}},"items":[{}]}}"#,
            items.join(",")
        );
        assert!(json.len() > 3 * BATCH_BYTES, "several batches");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let options = ReadOptions {
            strip: true,
            share: None,
            item_types: None,
        };
        let parallel = read_on(Some(runtime.handle().clone()), &json, 16 * 1024, options).unwrap();
        let inline = read(&json).unwrap();
        let expected: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        assert_eq!(names(&parallel), expected);
        assert!(
            parallel
                .items
                .iter()
                .zip(&inline.items)
                .all(|(a, b)| a == b)
        );
        assert!(
            parallel
                .items
                .iter()
                .all(|p| p.metadata.managed_fields.is_none())
        );
        assert_eq!(parallel.metadata.resource_version.as_deref(), Some("9"));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_in_any_chunks_are_read_or_refused_never_a_panic(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"{}[]\":,\\ nulitems0a".to_vec()),
                0..200,
            ),
            chunk in 0..8_usize,
        ) {
            let json = String::from_utf8(bytes).unwrap();
            let options = ReadOptions { strip: true, share: None, item_types: None };
            let _ = read_with(&json, chunk, options);
        }

        #[test]
        fn lists_of_awkward_names_read_the_same_in_any_chunks(
            given in proptest::collection::vec("[a-z\"\\\\{}\\[\\]:, ]{0,12}", 0..12),
            chunk in 1..64_usize,
        ) {
            let items: Vec<serde_json::Value> = given
                .iter()
                .map(|name| serde_json::json!({
                    "metadata": {
                        "name": name,
                        "labels": { name.as_str(): name },
                        "managedFields": [{ "manager": name, "fieldsV1": { name.as_str(): {} } }],
                    },
                    "spec": { "containers": [{ "name": name, "args": [name] }] },
                }))
                .collect();
            let json = serde_json::json!({ "metadata": { "resourceVersion": "5" }, "items": items })
                .to_string();
            let options = ReadOptions { strip: true, share: None, item_types: None };
            let list = read_with(&json, chunk, options).unwrap();
            proptest::prop_assert_eq!(names(&list), given.clone());
            proptest::prop_assert!(list.items.iter().all(|p| p.metadata.managed_fields.is_none()));
            let args: Vec<String> = list
                .items
                .iter()
                .map(|p| p.spec.as_ref().unwrap().containers[0].args.clone().unwrap().remove(0))
                .collect();
            proptest::prop_assert_eq!(args, given);
            proptest::prop_assert_eq!(list.metadata.resource_version.as_deref(), Some("5"));
        }
    }

    #[test]
    fn null_or_missing_items_are_an_empty_list() {
        assert!(
            read(r#"{"items":null,"metadata":{}}"#)
                .unwrap()
                .items
                .is_empty()
        );
        assert!(read(r#"{"items" : [ ] }"#).unwrap().items.is_empty());
        let list = read(r#"{"metadata":{"resourceVersion":"1"}}"#).unwrap();
        assert!(list.items.is_empty());
        assert_eq!(list.metadata.resource_version.as_deref(), Some("1"));
    }

    #[test]
    fn an_escaped_items_key_is_still_read() {
        let list =
            read(r#"{"it\u0065ms":[{"metadata":{"name":"x","managedFields":[{}]}}]}"#).unwrap();
        assert_eq!(names(&list), ["x"]);
        assert!(list.items[0].metadata.managed_fields.is_none());
    }

    #[test]
    fn bytes_that_are_not_utf8_are_an_error() {
        let options = ReadOptions {
            strip: true,
            share: None,
            item_types: None,
        };
        let mut reader = ListReader::<Pod>::new(options, None);
        let read = async move {
            reader.feed(b"{\"items\":[{\"metadata\":{\"name\":\"a\xff\"}}]}")?;
            reader.finish().await
        };
        let error = futures::executor::block_on(read).err().unwrap();
        assert!(error.to_string().contains("not UTF-8"), "{error}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            r#"{"items":[{"metadata":{"name":5}}]}"#,
            r#"{"items":{}}"#,
            r#"[1,2]"#,
            r#"{"items":[]} trailing"#,
            r#"{"items":[1]}"#,
            r#"{"items":["a"]}"#,
            r#"{"items":[[]]}"#,
            r#"{"items":[{"metadata":{}}"#,
            r#"{"items":[{"metadata":{}}]"#,
            r#"{"items":[{"metadata":{"name":"a"}}}]}"#,
            r#"{"items":[{"metadata":{"managedFields":[}}]}"#,
            r#"}}}]]]"#,
            "",
        ] {
            for chunk in [0, 1, 3] {
                let options = ReadOptions {
                    strip: true,
                    share: None,
                    item_types: None,
                };
                assert!(
                    read_with(bad, chunk, options).is_err(),
                    "{bad:?} in chunks of {chunk}"
                );
            }
        }
    }
}
