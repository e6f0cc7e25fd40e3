//! [`Splitter`]: cuts a JSON list answer, as its bytes arrive, into its items and the rest,
//! without decoding anything; [`kube_list`](crate::kube_list) decodes what it hands over.

use serde::de;

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
pub(crate) type OnItem<'a> =
    dyn FnMut(&[u8], Option<(usize, usize)>) -> Result<(), serde_json::Error> + 'a;

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
pub(crate) struct Splitter {
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
    pub(crate) fn new(strip: bool) -> Self {
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
    pub(crate) fn feed(
        &mut self,
        bytes: &[u8],
        on_item: &mut OnItem<'_>,
    ) -> Result<(), serde_json::Error> {
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
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, serde_json::Error> {
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
