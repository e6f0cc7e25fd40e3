//! A list answer read as it arrives, item by item: each item is decoded as soon as its last
//! byte is in, its `managedFields` left undecoded when the informer strips them, and an item
//! the cache already holds unchanged is answered with the cached `Arc`.
//!
//! `Api::list` reads the whole answer (for 100k pods, hundreds of MB of JSON) before it
//! decodes a typed `ObjectList<K>` from it, so the body, the list and, on a relist, the cache
//! are all held at once. Here the body is never held whole: [`Splitter`] cuts the bytes into
//! the items of the top-level `items` array and the rest (kind, apiVersion, metadata, read
//! at the end), decoding overlaps with the transfer, and only one unfinished item is kept
//! between two chunks. On a relist, an item whose uid and resourceVersion match the cached
//! object is dropped the moment it is decoded (GOALS I5).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use futures::{AsyncBufRead, AsyncBufReadExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use kube::api::ListParams;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::kube::KubeObject;
use crate::lister_watcher::CachedLookup;

/// How items are read.
pub(crate) struct ReadOptions<K> {
    /// Leave `metadata.managedFields` out of every item.
    pub(crate) strip: bool,
    /// Answers an unchanged item with the cached `Arc`.
    pub(crate) share: Option<CachedLookup<KubeObject<K>>>,
}

impl<K> Clone for ReadOptions<K> {
    fn clone(&self) -> Self {
        Self {
            strip: self.strip,
            share: self.share.clone(),
        }
    }
}

/// The parts of a list answer the reflector needs.
pub(crate) struct ReadList<K> {
    pub(crate) items: Vec<Arc<KubeObject<K>>>,
    pub(crate) metadata: ListMeta,
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
        K: kube::Resource + Clone + DeserializeOwned,
    {
        let mut items = Vec::with_capacity(self.ends.len());
        let mut start = 0;
        for end in self.ends {
            let obj = serde_json::from_slice::<K>(&self.json[start..end])?;
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
        })
    }
}

/// What is kept of a decoded item: the cached `Arc` if the cache holds it unchanged (the
/// decoded copy is dropped here), else a compact copy without managedFields (if stripping).
fn keep<K>(options: &ReadOptions<K>, obj: K) -> Arc<KubeObject<K>>
where
    K: kube::Resource + Clone,
{
    let mut obj = KubeObject(obj);
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

/// Where the splitter is in the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// Outside the top-level `items` array: the bytes go to the skeleton.
    Outside,
    /// In the `items` array, between items.
    Items,
    /// In one item.
    Item,
}

/// What the value after the last `:` is, if it matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Awaits {
    Nothing,
    /// The top-level `items` value.
    Items,
    /// An item's `metadata` value.
    Metadata,
    /// The `managedFields` value in an item's metadata.
    ManagedFields,
}

/// What [`Splitter::feed`] calls with each item and the range of its managedFields value.
type OnItem<'a> = dyn FnMut(&[u8], Option<(usize, usize)>) -> Result<(), serde_json::Error> + 'a;

/// The longest key the splitter compares (`managedFields`).
const WORD: usize = 16;

/// Cuts a JSON list answer, fed in chunks of any size, into the items of its top-level
/// `items` array (each handed over whole, as soon as its closing brace is in) and the
/// skeleton: every other byte, with the `items` array left empty.
///
/// It tracks only what it needs: nesting depth, strings (with escapes), the keys `items`
/// (top level), `metadata` (in an item) and `managedFields` (in an item's metadata). It does
/// not validate JSON: what is not well formed fails when an item or the skeleton is
/// decoded. An item must be an object; anything else in the array is an error.
struct Splitter {
    /// Received bytes not handed over yet: the start of an unfinished item, or skeleton bytes
    /// not copied yet.
    buf: Vec<u8>,
    /// The next byte of `buf` to look at.
    at: usize,
    /// In `buf`, the start of the skeleton bytes not copied yet (outside items).
    seg: usize,
    /// In `buf`, the start of the current item.
    item: usize,
    skeleton: Vec<u8>,
    place: Place,
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// Whether the current string is a candidate key, and its first bytes.
    capturing: bool,
    word: [u8; WORD],
    word_len: usize,
    /// The last captured string: its bytes, or `None` if longer than [`WORD`].
    last_word: Option<([u8; WORD], usize)>,
    awaits: Awaits,
    /// In the current item: inside its metadata object.
    in_metadata: bool,
    /// Leave out managedFields.
    strip: bool,
    /// In the current item, relative to its start: where the managedFields value starts, and
    /// the range to replace with `null` once it ended.
    cut_start: Option<usize>,
    cut: Option<(usize, usize)>,
    /// Items handed over, for error messages.
    count: usize,
}

impl Splitter {
    fn new(strip: bool) -> Self {
        Self {
            buf: Vec::new(),
            at: 0,
            seg: 0,
            item: 0,
            skeleton: Vec::new(),
            place: Place::Outside,
            depth: 0,
            in_string: false,
            escaped: false,
            capturing: false,
            word: [0; WORD],
            word_len: 0,
            last_word: None,
            awaits: Awaits::Nothing,
            in_metadata: false,
            strip,
            cut_start: None,
            cut: None,
            count: 0,
        }
    }

    /// Reads `bytes`; calls `on_item` with every item completed by them and, if its
    /// managedFields are to be left out, the range of their value in it (to be read as
    /// `null`).
    fn feed(&mut self, bytes: &[u8], on_item: &mut OnItem<'_>) -> Result<(), serde_json::Error> {
        self.buf.extend_from_slice(bytes);
        while self.at < self.buf.len() {
            if self.place == Place::Item && self.depth > self.floor() {
                self.skim();
                continue;
            }
            if self.in_string {
                if !self.capturing && !self.escaped {
                    // Most bytes are inside strings nobody compares: skip to the next quote
                    // or backslash.
                    match self.buf[self.at..]
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\')
                    {
                        Some(offset) => self.at += offset,
                        None => {
                            self.at = self.buf.len();
                            break;
                        }
                    }
                }
                let b = self.buf[self.at];
                self.string_byte(b);
                self.at += 1;
                continue;
            }
            let b = self.buf[self.at];
            match b {
                b' ' | b'\n' | b'\r' | b'\t' => {}
                b'"' => {
                    self.value_begins();
                    if self.place == Place::Items {
                        return Err(not_an_object(self.count));
                    }
                    self.string_starts();
                }
                b'{' | b'[' => self.opens(b)?,
                b'}' | b']' => {
                    if self.closes(b)? {
                        let end = self.at + 1;
                        let cut = self.cut.take();
                        on_item(&self.buf[self.item..end], cut)?;
                        self.count += 1;
                    }
                }
                b':' => self.awaits = self.key_of_interest(),
                b',' => {
                    if self.place == Place::Item && self.in_metadata && self.depth == 4 {
                        self.end_cut();
                    }
                }
                _ => {
                    self.value_begins();
                    if self.place == Place::Items {
                        return Err(not_an_object(self.count));
                    }
                }
            }
            self.at += 1;
        }
        self.compact();
        Ok(())
    }

    /// In an item, the depth at or below which keys matter: 4 in its metadata (managedFields),
    /// else 3 (the item's own keys).
    fn floor(&self) -> u32 {
        if self.in_metadata { 4 } else { 3 }
    }

    /// Deeper in an item than any key that matters: only strings and nesting are tracked,
    /// up to the byte that closes the container back to [`floor`](Self::floor) (consumed
    /// here) or the end of the bytes received so far. Most of an item is read here.
    fn skim(&mut self) {
        let floor = self.floor();
        let buf = &self.buf[..];
        let mut at = self.at;
        while at < buf.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    at += 1;
                    continue;
                }
                match buf[at..].iter().position(|&c| c == b'"' || c == b'\\') {
                    Some(offset) => {
                        at += offset;
                        if buf[at] == b'"' {
                            self.in_string = false;
                        } else {
                            self.escaped = true;
                        }
                        at += 1;
                    }
                    None => at = buf.len(),
                }
                continue;
            }
            match buf[at] {
                b'"' => {
                    self.in_string = true;
                    self.capturing = false;
                }
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == floor {
                        at += 1;
                        break;
                    }
                }
                _ => {}
            }
            at += 1;
        }
        self.at = at;
    }

    /// The skeleton, once every byte was fed.
    fn finish(mut self) -> Result<Vec<u8>, serde_json::Error> {
        self.compact();
        if self.place != Place::Outside {
            return Err(de::Error::custom(format_args!(
                "the list ended inside its items, after {} of them",
                self.count
            )));
        }
        Ok(self.skeleton)
    }

    /// Copies the pending skeleton bytes out and drops every byte no longer needed.
    fn compact(&mut self) {
        let keep_from = match self.place {
            Place::Outside => {
                self.skeleton
                    .extend_from_slice(&self.buf[self.seg..self.at]);
                self.at
            }
            Place::Items => self.at,
            Place::Item => self.item,
        };
        if keep_from > 0 {
            self.buf.drain(..keep_from);
            self.at -= keep_from;
            self.item = self.item.saturating_sub(keep_from);
            self.seg = self.at;
        }
    }

    /// A byte inside a string.
    fn string_byte(&mut self, b: u8) {
        if self.escaped {
            self.escaped = false;
        } else if b == b'\\' {
            self.escaped = true;
        } else if b == b'"' {
            self.in_string = false;
            if self.capturing {
                self.capturing = false;
                self.last_word = (self.word_len <= WORD).then_some((self.word, self.word_len));
            }
            return;
        }
        if self.capturing {
            if let Some(slot) = self.word.get_mut(self.word_len) {
                *slot = b;
            }
            self.word_len += 1;
        }
    }

    fn string_starts(&mut self) {
        self.in_string = true;
        self.capturing = match self.place {
            Place::Outside => self.depth == 1,
            Place::Item => self.depth == 3 || (self.in_metadata && self.depth == 4),
            Place::Items => false,
        };
        self.word_len = 0;
        self.last_word = None;
    }

    /// After a `:`: what the value is, if it is one the splitter cares about.
    fn key_of_interest(&mut self) -> Awaits {
        let Some((word, len)) = self.last_word.take() else {
            return Awaits::Nothing;
        };
        let word = &word[..len];
        match (self.place, self.depth) {
            (Place::Outside, 1) if word == b"items" => Awaits::Items,
            (Place::Item, 3) if word == b"metadata" => Awaits::Metadata,
            (Place::Item, 4) if self.strip && self.in_metadata && word == b"managedFields" => {
                Awaits::ManagedFields
            }
            _ => Awaits::Nothing,
        }
    }

    /// The first byte of a value (outside `{`/`[`): starts the managedFields cut if that is
    /// the value.
    fn value_begins(&mut self) -> Awaits {
        let awaited = std::mem::replace(&mut self.awaits, Awaits::Nothing);
        if awaited == Awaits::ManagedFields {
            self.cut_start = Some(self.at - self.item);
        }
        awaited
    }

    /// The managedFields value ended just before this byte.
    fn end_cut(&mut self) {
        if let Some(start) = self.cut_start.take() {
            self.cut = Some((start, self.at - self.item));
        }
    }

    /// `{` or `[` outside strings.
    fn opens(&mut self, b: u8) -> Result<(), serde_json::Error> {
        let awaited = self.value_begins();
        match self.place {
            Place::Outside if awaited == Awaits::Items && b == b'[' => {
                // The items array: the skeleton keeps its `[`, not its items.
                self.skeleton
                    .extend_from_slice(&self.buf[self.seg..=self.at]);
                self.place = Place::Items;
            }
            Place::Items if b == b'{' => {
                self.place = Place::Item;
                self.item = self.at;
                self.in_metadata = false;
                self.cut_start = None;
                self.cut = None;
            }
            Place::Items => return Err(not_an_object(self.count)),
            Place::Item if awaited == Awaits::Metadata && b == b'{' => self.in_metadata = true,
            _ => {}
        }
        self.depth += 1;
        Ok(())
    }

    /// `}` or `]` outside strings; returns whether it completed an item.
    fn closes(&mut self, b: u8) -> Result<bool, serde_json::Error> {
        self.value_begins();
        match self.place {
            Place::Items if b == b']' => {
                // The end of the items array: the skeleton goes on from this `]`.
                self.place = Place::Outside;
                self.seg = self.at;
                self.depth -= 1;
                Ok(false)
            }
            Place::Items => Err(not_an_object(self.count)),
            Place::Item => {
                if self.in_metadata && self.depth == 4 {
                    self.end_cut();
                    self.in_metadata = false;
                }
                self.depth -= 1;
                if self.depth == 2 {
                    self.place = Place::Items;
                    return Ok(true);
                }
                Ok(false)
            }
            Place::Outside => {
                self.depth = self.depth.saturating_sub(1);
                Ok(false)
            }
        }
    }
}

fn not_an_object(index: usize) -> serde_json::Error {
    de::Error::custom(format_args!("item {index} of the list is not an object"))
}

/// The list object around its items: `metadata` is kept, `items` (normally left empty by the
/// splitter) read as they are, anything else skipped.
struct ListVisitor<K>(PhantomData<K>);

/// What [`ListVisitor`] reads.
struct Rest<K> {
    items: Vec<K>,
    metadata: ListMeta,
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
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "items" => list.items.extend(map.next_value::<Items<K>>()?.0),
                "metadata" => list.metadata = map.next_value()?,
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
                };
                assert!(
                    read_with(bad, chunk, options).is_err(),
                    "{bad:?} in chunks of {chunk}"
                );
            }
        }
    }
}
