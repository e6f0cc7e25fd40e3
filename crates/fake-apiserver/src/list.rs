//! LIST: query options, resourceVersion semantics, pagination with continue tokens, and the
//! encoding of `<Kind>List` bodies.
//!
//! resourceVersion rules (as the real server applies them to a list):
//!
//! | `resourceVersion` | `resourceVersionMatch` | served from |
//! |---|---|---|
//! | unset / `""` | — | newest state |
//! | `"0"` | unset / `NotOlderThan` | newest state; `limit` ignored, as from a watch cache |
//! | `N` | `NotOlderThan`, or unset without `limit` | newest state if it is at least `N`, else 504 "too large" |
//! | `N` | `Exact`, or unset with `limit` | the state at `N`; 410 when `N` left the history |
//!
//! A continue token pins the resourceVersion of the first page; once that version leaves the
//! history the token expires (410).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;

use crate::resources::ResourceDef;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{Obj, ObjKey, ReadAt, Store};

/// Query options shared by list, watch and delete-collection.
#[derive(Debug, Default, Clone)]
pub(crate) struct ListOptions {
    pub(crate) labels: LabelSelector,
    pub(crate) fields: FieldSelector,
    pub(crate) resource_version: Option<String>,
    pub(crate) resource_version_match: Option<String>,
    pub(crate) limit: usize,
    pub(crate) continue_token: Option<String>,
    pub(crate) watch: bool,
    pub(crate) allow_bookmarks: bool,
    pub(crate) timeout_seconds: Option<u64>,
    pub(crate) send_initial_events: Option<bool>,
}

impl ListOptions {
    /// Parse the query parameters; unknown parameters are ignored, as the real server does.
    pub(crate) fn parse(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let get = |k: &str| query.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let boolean = |k: &str| -> Result<Option<bool>, ApiError> {
            match get(k) {
                None => Ok(None),
                Some("true" | "1") => Ok(Some(true)),
                Some("false" | "0") => Ok(Some(false)),
                Some(other) => Err(ApiError::bad_request(format!(
                    "invalid value for {k}: {other:?} (want true or false)"
                ))),
            }
        };
        let number = |k: &str| -> Result<Option<i64>, ApiError> {
            get(k)
                .map(|v| {
                    v.parse::<i64>().map_err(|_| {
                        ApiError::bad_request(format!(
                            "invalid value for {k}: {v:?} is not an integer"
                        ))
                    })
                })
                .transpose()
        };
        Ok(Self {
            labels: get("labelSelector")
                .map(LabelSelector::parse)
                .transpose()
                .map_err(|e| ApiError::bad_request(format!("invalid labelSelector: {e}")))?
                .unwrap_or_default(),
            fields: get("fieldSelector")
                .map(FieldSelector::parse)
                .transpose()
                .map_err(|e| ApiError::bad_request(format!("invalid fieldSelector: {e}")))?
                .unwrap_or_default(),
            resource_version: get("resourceVersion").map(str::to_owned),
            resource_version_match: get("resourceVersionMatch").map(str::to_owned),
            limit: number("limit")?
                .filter(|l| *l > 0)
                .map_or(0, |l| usize::try_from(l).unwrap_or(usize::MAX)),
            continue_token: get("continue").map(str::to_owned),
            watch: boolean("watch")?.unwrap_or(false),
            allow_bookmarks: boolean("allowWatchBookmarks")?.unwrap_or(false),
            timeout_seconds: number("timeoutSeconds")?
                .map(|t| u64::try_from(t.max(0)).unwrap_or(0)),
            send_initial_events: boolean("sendInitialEvents")?,
        })
    }

    /// Whether an object passes the selectors.
    pub(crate) fn matches(&self, obj: &Obj) -> bool {
        (self.labels.is_empty() || self.labels.matches(&obj.labels))
            && (self.fields.is_empty() || {
                // A kind's own fields are read from the object only when a selector names one:
                // stored objects keep nothing extra for them.
                let own = if self.fields.names_own_fields() {
                    crate::field_labels::values(&obj.value())
                } else {
                    Vec::new()
                };
                self.fields.matches(&obj.namespace, &obj.name, &own)
            })
    }
}

/// Parse a resourceVersion parameter.
pub(crate) fn parse_rv(rv: &str) -> Result<u64, ApiError> {
    rv.parse::<u64>().map_err(|_| {
        ApiError::bad_request(format!(
            "invalid resourceVersion {rv:?}: must be a non-negative integer"
        ))
    })
}

/// Serve a list request and return the encoded `<Kind>List`.
pub(crate) fn list(
    store: &Store,
    def: &ResourceDef,
    ns: Option<&str>,
    opts: &ListOptions,
) -> Result<Bytes, ApiError> {
    let rv = opts.resource_version.as_deref();
    let rv_match = opts.resource_version_match.as_deref();
    if let Some(m) = rv_match
        && m != "NotOlderThan"
        && m != "Exact"
    {
        return Err(ApiError::invalid_options(
            "resourceVersionMatch",
            format!(
                "Unsupported value: {m:?}: supported values: \"Exact\", \"NotOlderThan\", \"\""
            ),
        ));
    }
    if opts.send_initial_events.is_some() {
        return Err(ApiError::invalid_options(
            "sendInitialEvents",
            "Forbidden: sendInitialEvents is forbidden for list",
        ));
    }
    let mut limit = opts.limit;
    let (at, after) = if let Some(token) = &opts.continue_token {
        if rv.is_some() {
            return Err(ApiError::bad_request(
                "specifying a resourceVersion is not allowed when using continue",
            ));
        }
        let (token_rv, key) = decode_continue(token)?;
        (ReadAt::Exact(token_rv), Some(key))
    } else {
        let at = match (rv, rv_match) {
            (None, Some(_)) => {
                return Err(ApiError::invalid_options(
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            (None, None) => ReadAt::Latest,
            (Some("0"), Some("Exact")) => {
                return Err(ApiError::bad_request(
                    "resourceVersionMatch Exact is forbidden for resourceVersion \"0\"",
                ));
            }
            (Some("0"), _) => {
                limit = 0;
                ReadAt::Latest
            }
            (Some(n), Some("Exact")) => ReadAt::Exact(parse_rv(n)?),
            (Some(n), None) if limit > 0 => ReadAt::Exact(parse_rv(n)?),
            (Some(n), _) => ReadAt::NotOlderThan(parse_rv(n)?),
        };
        (at, None)
    };
    let page = store.list(def, ns, at, after.as_ref(), limit, &|o| opts.matches(o)).map_err(|e| {
        if opts.continue_token.is_some() && e.code == 410 {
            ApiError::expired(format!(
                "the continue token is too old: the list it continues (resourceVersion {}) is no longer kept; start a new list without continue",
                match at {
                    ReadAt::Exact(n) => n,
                    _ => 0,
                }
            ))
        } else {
            e
        }
    })?;
    let next = page.next.as_ref().map(|k| encode_continue(page.rv, k));
    // As the real server: how many items follow, when that can be known without a selector.
    let remaining = (next.is_some() && opts.labels.is_empty() && opts.fields.is_empty())
        .then_some(page.remaining);
    Ok(encode_list(
        def,
        page.rv,
        next.as_deref(),
        remaining,
        &page.items,
    ))
}

/// `{"kind":"<Kind>List","apiVersion":..,"metadata":{..},"items":[..]}` from stored bytes.
pub(crate) fn encode_list(
    def: &ResourceDef,
    rv: u64,
    next: Option<&str>,
    remaining: Option<usize>,
    items: &[Arc<Obj>],
) -> Bytes {
    let size: usize = items.iter().map(|o| o.json.len() + 1).sum();
    let mut out = Vec::with_capacity(size + 256);
    let head = serde_json::json!({ "resourceVersion": rv.to_string() });
    let mut meta = head;
    if let Some(next) = next {
        meta["continue"] = serde_json::Value::from(next);
    }
    if let Some(remaining) = remaining {
        meta["remainingItemCount"] = serde_json::Value::from(remaining);
    }
    out.extend_from_slice(b"{\"kind\":");
    out.extend_from_slice(
        serde_json::to_string(&format!("{}List", def.kind))
            .unwrap_or_default()
            .as_bytes(),
    );
    out.extend_from_slice(b",\"apiVersion\":");
    out.extend_from_slice(
        serde_json::to_string(&def.api_version())
            .unwrap_or_default()
            .as_bytes(),
    );
    out.extend_from_slice(b",\"metadata\":");
    out.extend_from_slice(meta.to_string().as_bytes());
    out.extend_from_slice(b",\"items\":[");
    // The real server lists the built-in kinds without each item's `apiVersion` and `kind`
    // (typed lists), and custom resources with them.
    let built_in = crate::schema::facts()
        .kind_name(&def.group, &def.version, &def.kind)
        .is_some();
    for (i, obj) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if built_in {
            push_without_type_meta(&mut out, &obj.json);
        } else {
            out.extend_from_slice(&obj.json);
        }
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

/// Appends the object `json` (compact, as serde_json writes it) without its top-level
/// `apiVersion` and `kind` members.
fn push_without_type_meta(out: &mut Vec<u8>, json: &[u8]) {
    let Some(body) = json.strip_prefix(b"{").and_then(|b| b.strip_suffix(b"}")) else {
        out.extend_from_slice(json);
        return;
    };
    out.push(b'{');
    let (mut first, mut removed, mut at) = (true, 0, 0);
    while at < body.len() {
        if removed == 2 {
            // Both gone: the rest is copied as it is.
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(&body[at..]);
            break;
        }
        let end = member_end(body, at);
        let member = &body[at..end];
        if member.starts_with(b"\"apiVersion\":") || member.starts_with(b"\"kind\":") {
            removed += 1;
        } else {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(member);
            first = false;
        }
        at = end + 1;
    }
    out.push(b'}');
}

/// Where the top-level member starting at `from` ends: the index of the comma after it, or the
/// end of `body`.
fn member_end(body: &[u8], from: usize) -> usize {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in body.iter().enumerate().skip(from) {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => return i,
            _ => {}
        }
    }
    body.len()
}

/// Continue tokens are opaque to clients: hex of `v1/<rv>/<namespace>/<name>` (names and
/// namespaces never contain `/`).
fn encode_continue(rv: u64, key: &ObjKey) -> String {
    let plain = format!("v1/{rv}/{}/{}", key.0, key.1);
    plain.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_continue(token: &str) -> Result<(u64, ObjKey), ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "continue key is not valid: {token:?} was not issued by this server"
        ))
    };
    if !token.len().is_multiple_of(2) || token.len() > 2048 {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    let plain = String::from_utf8(bytes.ok_or_else(bad)?).map_err(|_| bad())?;
    let mut parts = plain.splitn(4, '/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(rv), Some(ns), Some(name)) if !name.is_empty() && !name.contains('/') => {
            Ok((
                rv.parse().map_err(|_| bad())?,
                (ns.to_owned(), name.to_owned()),
            ))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_round_trip_and_garbage() {
        let key = ("ns".to_owned(), "a.b".to_owned());
        let token = encode_continue(42, &key);
        assert_eq!(decode_continue(&token).unwrap(), (42, key));
        for bad in ["", "zz", "abc", "7631", &"41".repeat(3000)] {
            assert_eq!(decode_continue(bad).unwrap_err().code, 400, "{bad}");
        }
    }

    #[test]
    fn type_meta_is_cut_from_the_top_level_only() {
        let cut = |v: serde_json::Value| {
            let mut out = Vec::new();
            push_without_type_meta(&mut out, &serde_json::to_vec(&v).unwrap());
            serde_json::from_slice::<serde_json::Value>(&out).unwrap()
        };
        let event = serde_json::json!({"apiVersion": "v1", "count": 1,
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "a,\"b\"}"},
            "kind": "Event", "message": "x", "metadata": {"name": "e"}});
        assert_eq!(
            cut(event),
            serde_json::json!({"count": 1, "involvedObject": {"apiVersion": "v1", "kind": "Pod",
                "name": "a,\"b\"}"}, "message": "x", "metadata": {"name": "e"}})
        );
        assert_eq!(cut(serde_json::json!({})), serde_json::json!({}));
        assert_eq!(
            cut(serde_json::json!({"apiVersion": "v1", "kind": "Pod"})),
            serde_json::json!({})
        );
        assert_eq!(
            cut(serde_json::json!({"data": {"k": "[{"}, "kind": "ConfigMap"})),
            serde_json::json!({"data": {"k": "[{"}})
        );
    }
}
