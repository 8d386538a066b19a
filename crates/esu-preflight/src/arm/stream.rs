//! A list page decoded while its body streams in: each item of `value` is decoded as soon as
//! its last byte arrives, so a page is never held whole (a fleet's machine pages are megabytes
//! each, 20 subscriptions read at once).
//!
//! [`PageSplitter`] cuts the items of the page's `value` array out of the byte stream and
//! decodes each on its own; what is left (the "envelope": `{"value":[],"nextLink":…}` and any
//! other key) is kept and decoded as the page once the body ends. The result is the one a
//! decode of the whole body gives: the same items (an item is decoded by the same `Deserialize`;
//! [`crate::models::Item`] keeps a bad one as `Item::Invalid`), the same next link, and an error
//! for a body that is not one JSON object with one `value` list (a stray or missing `,`, a
//! truncated body, a second `value` key) — only the error's wording and position differ.
//!
//! [`StreamPolicy`] feeds a page's body to its splitter chunk by chunk inside the pipeline, as a
//! per-try policy: a body that breaks off is a transport error the retry policy sees (and
//! retries, the splitter starting over), as when the transport buffered the body, and the
//! request keeps its pacing permit until its page is decoded.

use azure_core::http::{
    AsyncRawResponse, Context, Request,
    policies::{Policy, PolicyResult},
};
use futures::StreamExt;
use serde::{Deserialize, de::DeserializeOwned};
use std::sync::{Arc, Mutex, MutexGuard};

/// One page of an ARM list (`nextLink`), or of a Policy Insights list (`@odata.nextLink`).
#[derive(Deserialize)]
pub(crate) struct Page<T> {
    pub(crate) value: Vec<T>,
    #[serde(rename = "nextLink", default)]
    pub(crate) next_link: Option<String>,
    #[serde(rename = "@odata.nextLink", default)]
    pub(crate) odata_next_link: Option<String>,
}

/// What a [`StreamPolicy`] feeds a successful answer's body to.
pub(crate) trait Feed: Send {
    /// An attempt at the page begins: what an earlier attempt fed is forgotten.
    fn start(&mut self);
    /// The next bytes of the body.
    fn feed(&mut self, bytes: &[u8]);
}

/// The [`Feed`] of one request, travelling in its `Context`.
#[derive(Clone)]
pub(crate) struct BodySink(pub(crate) Arc<Mutex<dyn Feed>>);

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Feeds a 2xx answer's body to the request's [`BodySink`] as it arrives (the answer then
/// carries an empty body); an error answer's body is read whole, as the transport would. A
/// request without a sink passes through untouched. The last per-try policy of the client.
#[derive(Debug)]
pub(crate) struct StreamPolicy;

#[async_trait::async_trait]
impl Policy for StreamPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let Some(sink) = ctx.value::<BodySink>().cloned() else {
            return next[0].send(ctx, request, &next[1..]).await;
        };
        lock(&sink.0).start();
        let response = next[0].send(ctx, request, &next[1..]).await?;
        let (status, headers, mut body) = response.deconstruct();
        if !(200..300).contains(&u16::from(status)) {
            let bytes = body.collect().await?;
            return Ok(AsyncRawResponse::from_bytes(status, headers, bytes));
        }
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            lock(&sink.0).feed(&chunk);
        }
        Ok(AsyncRawResponse::from_bytes(
            status,
            headers,
            azure_core::Bytes::new(),
        ))
    }
}

/// Where the splitter is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside the `value` list: bytes go to the envelope.
    Envelope,
    /// Inside the `value` list, between items.
    Between {
        /// An item was just read (a `,` or `]` must follow).
        after_item: bool,
        /// A `,` was just read (an item must follow).
        need_item: bool,
    },
    /// Inside an item.
    Item {
        /// Brackets open inside the item (0 in a bare number, `true`, …).
        depth: usize,
        in_string: bool,
        escape: bool,
    },
    /// The page is already known to be bad: the rest is not looked at.
    Failed,
}

/// What the envelope scanner expects, to recognise `"value": [` at the top level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Nothing,
    /// A top-level string just ended; it was `value`: a `:` makes it the key.
    ColonAfterValue,
    /// `"value":` was read: a `[` opens the list whose items are cut out.
    List,
}

/// Cuts a list page's items out of its body as it streams in and decodes each (see the
/// [module docs](self)). Collects the items of every page of one list: `items[page_start..]`
/// are the current page's.
pub(crate) struct PageSplitter<T> {
    /// The items of the pages decoded so far (and of the current page, once finished).
    pub(crate) items: Vec<T>,
    page_start: usize,
    envelope: Vec<u8>,
    /// The bytes of an item that spans chunks.
    item: Vec<u8>,
    state: State,
    depth: usize,
    top_is_object: bool,
    in_string: bool,
    escape: bool,
    string_start: usize,
    expect: Expect,
    error: Option<String>,
    offset: usize,
}

impl<T> Default for PageSplitter<T> {
    fn default() -> Self {
        PageSplitter {
            items: Vec::new(),
            page_start: 0,
            envelope: Vec::new(),
            item: Vec::new(),
            state: State::Envelope,
            depth: 0,
            top_is_object: false,
            in_string: false,
            escape: false,
            string_start: 0,
            expect: Expect::Nothing,
            error: None,
            offset: 0,
        }
    }
}

/// The next `"` or `\` in `bytes`.
fn string_stop(bytes: &[u8]) -> Option<usize> {
    memchr::memchr2(b'"', b'\\', bytes)
}

/// Moves through a JSON string from `chunk[i..]`, its opening `"` already read (`escape`: the
/// byte before `i` was a backslash). Returns where its closing `"` is, or `None` when the chunk
/// ends inside it; `escape` then says whether it ended on a backslash, for the next chunk.
fn string_end(chunk: &[u8], mut i: usize, escape: &mut bool) -> Option<usize> {
    while i < chunk.len() {
        if *escape {
            *escape = false;
            i += 1;
            continue;
        }
        i += string_stop(&chunk[i..])?;
        if chunk[i] == b'\\' {
            *escape = true;
            i += 1;
        } else {
            return Some(i);
        }
    }
    None
}

/// The longest prefix of `bytes` that is valid UTF-8.
fn utf8_prefix(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        // Up to `valid_up_to` the bytes are valid UTF-8: the second check cannot fail.
        Err(error) => std::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or_default(),
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<T: DeserializeOwned> PageSplitter<T> {
    /// Ends the current page: decodes what is left of it (an item whose bytes the body never
    /// finished, the envelope) and returns its next link (`nextLink`, else `@odata.nextLink`),
    /// or what was wrong with the page. The next page starts after it.
    pub(crate) fn finish_page(&mut self) -> Result<Option<String>, String> {
        if let Some(error) = self.error.take() {
            self.items.truncate(self.page_start);
            return Err(error);
        }
        // A body that ends inside the list leaves the envelope unterminated: its decode fails.
        let page: Page<T> = serde_json::from_slice(&self.envelope).map_err(|e| {
            self.items.truncate(self.page_start);
            e.to_string()
        })?;
        self.items.extend(page.value);
        self.page_start = self.items.len();
        self.envelope = Vec::new();
        self.item = Vec::new();
        Ok(page.next_link.or(page.odata_next_link))
    }

    /// The current page's items (after [`PageSplitter::finish_page`]: those of the page just
    /// finished are `items[start..]` with the `start` read before).
    pub(crate) fn page_start(&self) -> usize {
        self.page_start
    }

    /// The page is bad: `what` went wrong at byte `at` of the current chunk.
    fn fail(&mut self, what: &str, at: usize) {
        self.error = Some(format!("{what} at byte {}", self.offset + at));
        self.state = State::Failed;
    }

    /// Decodes one whole item.
    fn decode_item(&mut self, bytes: &[u8]) {
        match serde_json::from_slice::<T>(bytes) {
            Ok(item) => {
                self.items.push(item);
                self.state = State::Between {
                    after_item: true,
                    need_item: false,
                };
            }
            Err(e) => {
                self.error = Some(format!("an item of the list: {e}"));
                self.state = State::Failed;
            }
        }
    }

    /// An item that opens with `{`, `[` or `"` at `chunk[i]`: decoded in place when it ends
    /// in this chunk (most do: the decoder finds its end, no scan), else scanned to its end
    /// (it goes on in the next chunk). Returns where it stopped.
    ///
    /// `text` is the chunk's longest valid UTF-8 prefix, checked once for the chunk: the item
    /// is decoded from it as text (no string is checked again); one that runs past it (a byte
    /// that is not UTF-8, a character cut by the chunk's end) ends there as if cut off, and is
    /// scanned, then decoded as bytes, which names what is wrong.
    fn whole_item(&mut self, chunk: &[u8], text: &str, i: usize) -> usize {
        let Some(rest) = text.get(i..) else {
            return self.scan_new_item(chunk, i);
        };
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<T>();
        match stream.next() {
            Some(Ok(item)) => {
                self.items.push(item);
                self.state = State::Between {
                    after_item: true,
                    need_item: false,
                };
                i + stream.byte_offset()
            }
            Some(Err(e)) if !e.is_eof() => {
                self.error = Some(format!("an item of the list: {e}"));
                self.state = State::Failed;
                chunk.len()
            }
            // Cut off by the end of the chunk: scanned to its end, then decoded.
            _ => self.scan_new_item(chunk, i),
        }
    }

    /// Ends the item whose last byte is `chunk[..end]` (its start at `start`, or in `self.item`
    /// when it began in an earlier chunk).
    fn end_item(&mut self, chunk: &[u8], start: usize, end: usize) {
        if self.item.is_empty() {
            self.decode_item(&chunk[start..end]);
        } else {
            let mut item = std::mem::take(&mut self.item);
            item.extend_from_slice(&chunk[start..end]);
            self.decode_item(&item);
            item.clear();
            self.item = item;
        }
    }

    /// Scans `chunk` from `i` in the envelope; returns where it stopped (the `value` list
    /// opening, or the end of the chunk).
    fn scan_envelope(&mut self, chunk: &[u8], mut i: usize) -> usize {
        let mut from = i;
        while i < chunk.len() {
            if self.in_string {
                match string_end(chunk, i, &mut self.escape) {
                    None => i = chunk.len(),
                    Some(end) => {
                        i = end;
                        self.in_string = false;
                        self.envelope.extend_from_slice(&chunk[from..i]);
                        from = i;
                        let text = &self.envelope[self.string_start..];
                        self.expect = if self.depth == 1 && self.top_is_object && text == b"value" {
                            Expect::ColonAfterValue
                        } else {
                            Expect::Nothing
                        };
                        i += 1;
                    }
                }
                continue;
            }
            let b = chunk[i];
            i += 1;
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                b'"' => {
                    self.in_string = true;
                    self.envelope.extend_from_slice(&chunk[from..i]);
                    from = i;
                    self.string_start = self.envelope.len();
                }
                b':' => {
                    self.expect = match self.expect {
                        Expect::ColonAfterValue => Expect::List,
                        _ => Expect::Nothing,
                    };
                }
                b'[' if self.expect == Expect::List && self.depth == 1 => {
                    self.expect = Expect::Nothing;
                    self.envelope.extend_from_slice(&chunk[from..i]);
                    self.state = State::Between {
                        after_item: false,
                        need_item: false,
                    };
                    return i;
                }
                b'{' | b'[' => {
                    if self.depth == 0 {
                        self.top_is_object = b == b'{';
                    }
                    self.depth += 1;
                    self.expect = Expect::Nothing;
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    self.expect = Expect::Nothing;
                }
                _ => self.expect = Expect::Nothing,
            }
        }
        self.envelope.extend_from_slice(&chunk[from..]);
        chunk.len()
    }

    /// Scans the item that begins at `chunk[i]` to its end (the decoder did not, or was not
    /// asked to, find it); returns where it stopped.
    fn scan_new_item(&mut self, chunk: &[u8], i: usize) -> usize {
        self.state = State::Item {
            depth: 0,
            in_string: false,
            escape: false,
        };
        self.scan_item(chunk, i, i)
    }

    /// Scans an item from `chunk[i..]` (`start`: where it began in this chunk); returns where
    /// it stopped.
    fn scan_item(&mut self, chunk: &[u8], mut i: usize, start: usize) -> usize {
        let State::Item {
            mut depth,
            mut in_string,
            mut escape,
        } = self.state
        else {
            return i;
        };
        while i < chunk.len() {
            if in_string {
                match string_end(chunk, i, &mut escape) {
                    None => i = chunk.len(),
                    Some(end) => {
                        in_string = false;
                        if depth == 0 {
                            self.end_item(chunk, start, end + 1);
                            return end + 1;
                        }
                        i = end + 1;
                    }
                }
                continue;
            }
            let b = chunk[i];
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    if depth == 0 {
                        self.end_item(chunk, start, i + 1);
                        return i + 1;
                    }
                }
                // A bare value (a number, `true`, …) ends before `,` `]` `}` or a space.
                b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => {
                    self.end_item(chunk, start, i);
                    return i;
                }
                _ => {}
            }
            i += 1;
        }
        self.item.extend_from_slice(&chunk[start..]);
        self.state = State::Item {
            depth,
            in_string,
            escape,
        };
        chunk.len()
    }
}

impl<T: DeserializeOwned + Send> Feed for PageSplitter<T> {
    fn start(&mut self) {
        self.items.truncate(self.page_start);
        self.envelope.clear();
        self.item.clear();
        self.state = State::Envelope;
        self.depth = 0;
        self.top_is_object = false;
        self.in_string = false;
        self.escape = false;
        self.string_start = 0;
        self.expect = Expect::Nothing;
        self.error = None;
        self.offset = 0;
    }

    fn feed(&mut self, chunk: &[u8]) {
        let text = utf8_prefix(chunk);
        let mut i = 0;
        while i < chunk.len() {
            let before = i;
            i = match self.state {
                State::Failed => chunk.len(),
                State::Envelope => self.scan_envelope(chunk, i),
                State::Item { .. } => self.scan_item(chunk, i, i),
                State::Between {
                    after_item,
                    need_item,
                } => {
                    let b = chunk[i];
                    if is_space(b) {
                        i + 1
                    } else if b == b']' {
                        if need_item {
                            self.fail("a list item expected after ','", before);
                            chunk.len()
                        } else {
                            self.envelope.push(b']');
                            self.state = State::Envelope;
                            i + 1
                        }
                    } else if b == b',' {
                        if after_item {
                            self.state = State::Between {
                                after_item: false,
                                need_item: true,
                            };
                            i + 1
                        } else {
                            self.fail("a list item expected before ','", before);
                            chunk.len()
                        }
                    } else if after_item {
                        self.fail("',' or ']' expected after a list item", before);
                        chunk.len()
                    } else if matches!(b, b'{' | b'[' | b'"') {
                        self.whole_item(chunk, text, i)
                    } else {
                        self.scan_new_item(chunk, i)
                    }
                }
            };
            if self.state == State::Failed {
                break;
            }
        }
        self.offset += chunk.len();
    }
}

#[cfg(test)]
mod tests;
