//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`) of the built-in kinds,
//! decoded to the JSON form the rest of the server works on.
//!
//! kubectl's typed commands (`create configmap`, `create deployment`, `create namespace`, ...)
//! send their objects this way. The envelope is Kubernetes' own: the four bytes `k8s\0`, then a
//! `runtime.Unknown` message holding the `apiVersion` and `kind` and the object's bytes. The
//! object is decoded with the field numbers of the schema facts (taken from Kubernetes'
//! `generated.proto` files), and turned into JSON as the real server's Go types would be: a zero
//! value of a field that is neither a pointer nor without `omitempty` is left out, byte fields
//! become base64, times RFC 3339 strings, quantities and int-or-strings their JSON forms.
//!
//! Every malformed input is an error (the caller answers 400), never a panic: lengths are checked
//! against what is left, varints stop at ten bytes, and nesting stops at [`MAX_DEPTH`].

use serde_json::{Map, Value};

use super::facts;
use crate::limits::MAX_DEPTH;

/// The media type of Kubernetes' protobuf encoding.
pub(crate) const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The bytes every Kubernetes protobuf body starts with.
const MAGIC: &[u8] = b"k8s\0";

/// Decode a protobuf body to the object's JSON form, `apiVersion` and `kind` included.
pub(crate) fn decode(body: &[u8]) -> Result<Value, String> {
    let Some(envelope) = body.strip_prefix(MAGIC) else {
        return Err(format!(
            "provided data does not appear to be a protobuf message, expected prefix {:?}",
            MAGIC
        ));
    };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for field in Fields::new(envelope) {
        match field? {
            (1, Payload::Bytes(type_meta)) => {
                for f in Fields::new(type_meta) {
                    match f? {
                        (1, Payload::Bytes(b)) => api_version = utf8(b)?,
                        (2, Payload::Bytes(b)) => kind = utf8(b)?,
                        _ => {}
                    }
                }
            }
            (2, Payload::Bytes(bytes)) => raw = bytes,
            _ => {}
        }
    }
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version.as_str()),
    };
    let Some(name) = facts().kind_name(group, version, &kind) else {
        return Err(format!(
            "no kind \"{kind}\" is registered for version \"{api_version}\""
        ));
    };
    let mut object = match message(name, raw, 0)? {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    object.insert("apiVersion".to_owned(), Value::String(api_version));
    object.insert("kind".to_owned(), Value::String(kind));
    Ok(Value::Object(object))
}

/// A field's payload by wire type.
enum Payload<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// The fields of one message, in order.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&byte, rest) = self.rest.split_first().ok_or("truncated varint")?;
            self.rest = rest;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than ten bytes".to_owned())
    }

    fn take_bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.rest.len() {
            return Err("a field is longer than the message".to_owned());
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    fn next_field(&mut self) -> Result<(u64, Payload<'a>), String> {
        let tag = self.varint()?;
        let number = tag >> 3;
        let payload = match tag & 7 {
            0 => Payload::Varint(self.varint()?),
            1 => Payload::Fixed64(u64::from_le_bytes(
                self.take_bytes(8)?
                    .try_into()
                    .map_err(|_| "truncated fixed64")?,
            )),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
                Payload::Bytes(self.take_bytes(len)?)
            }
            5 => Payload::Fixed32(u32::from_le_bytes(
                self.take_bytes(4)?
                    .try_into()
                    .map_err(|_| "truncated fixed32")?,
            )),
            other => return Err(format!("unsupported wire type {other}")),
        };
        Ok((number, payload))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Payload<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let item = self.next_field();
        if item.is_err() {
            // One error ends the message.
            self.rest = &[];
        }
        Some(item)
    }
}

fn utf8(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "a string field is not UTF-8".to_owned())
}

/// The JSON form of message `name` (an OpenAPI definition name) encoded in `bytes`.
fn message(name: &str, bytes: &[u8], depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("the object nests deeper than {MAX_DEPTH} levels"));
    }
    if let Some(value) = special(name, bytes)? {
        return Ok(value);
    }
    let fields = facts()
        .protobuf(name)
        .ok_or_else(|| format!("no protobuf schema for {name}"))?;
    let mut out = Map::new();
    for item in Fields::new(bytes) {
        let (number, payload) = item?;
        let Some(field) = fields.iter().find(|f| f["n"].as_u64() == Some(number)) else {
            continue;
        };
        let key = field["name"].as_str().unwrap_or_default();
        let ty = field["type"].as_str().unwrap_or_default();
        match field["label"].as_str().unwrap_or_default() {
            "map" => {
                let Payload::Bytes(entry) = payload else {
                    return Err(format!("{name}.{key}: a map entry must be a message"));
                };
                let (k, v) = map_entry(field, entry, depth)?;
                let map = out
                    .entry(key.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = map {
                    map.insert(k, v);
                }
            }
            "repeated" => {
                let list = out
                    .entry(key.to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(list) = list else { continue };
                match payload {
                    Payload::Bytes(packed) if is_numeric(ty) => {
                        let mut inner = Fields::new(packed);
                        while !inner.rest.is_empty() {
                            let v = match ty {
                                "double" => Payload::Fixed64(u64::from_le_bytes(
                                    inner.take_bytes(8)?.try_into().map_err(|_| "truncated")?,
                                )),
                                "float" | "fixed32" => Payload::Fixed32(u32::from_le_bytes(
                                    inner.take_bytes(4)?.try_into().map_err(|_| "truncated")?,
                                )),
                                _ => Payload::Varint(inner.varint()?),
                            };
                            list.push(value(ty, v, depth)?);
                        }
                    }
                    other => list.push(value(ty, other, depth)?),
                }
            }
            _ => {
                let v = value(ty, payload, depth)?;
                if field["inline"].as_bool() == Some(true) {
                    if let Value::Object(inner) = v {
                        out.extend(inner);
                    }
                    continue;
                }
                let kept = matches!(field["go"].as_str(), Some("pointer" | "always"));
                if is_zero(&v) && !kept {
                    continue;
                }
                out.insert(key.to_owned(), v);
            }
        }
    }
    Ok(Value::Object(out))
}

/// One `key`/`value` entry of a map field.
fn map_entry(field: &Value, entry: &[u8], depth: usize) -> Result<(String, Value), String> {
    let key_type = field["key"].as_str().unwrap_or("string");
    let value_type = field["type"].as_str().unwrap_or_default();
    let mut key = Value::String(String::new());
    let mut val: Option<Value> = None;
    for item in Fields::new(entry) {
        match item? {
            (1, p) => key = value(key_type, p, depth)?,
            (2, p) => val = Some(value(value_type, p, depth)?),
            _ => {}
        }
    }
    let key = match key {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let val = match val {
        Some(v) => v,
        None if value_type.starts_with("io.k8s.") => message(value_type, &[], depth + 1)?,
        None => zero_of(value_type),
    };
    Ok((key, val))
}

/// A scalar's JSON form, or a nested message's.
fn value(ty: &str, payload: Payload<'_>, depth: usize) -> Result<Value, String> {
    Ok(match (ty, payload) {
        ("string", Payload::Bytes(b)) => Value::String(utf8(b)?),
        ("bytes", Payload::Bytes(b)) => Value::String(base64(b)),
        ("bool", Payload::Varint(v)) => Value::Bool(v != 0),
        // Go's int32 and int64 arrive sign-extended to 64 bits.
        ("int32", Payload::Varint(v)) => Value::from(i64::from(v as i32)),
        ("int64", Payload::Varint(v)) => Value::from(v as i64),
        ("uint32" | "uint64", Payload::Varint(v)) => Value::from(v),
        ("double", Payload::Fixed64(v)) => Value::from(f64::from_bits(v)),
        ("float", Payload::Fixed32(v)) => Value::from(f64::from(f32::from_bits(v))),
        (ty, Payload::Bytes(b)) if ty.starts_with("io.k8s.") => message(ty, b, depth + 1)?,
        (ty, _) => return Err(format!("a field of type {ty} has the wrong wire type")),
    })
}

fn is_numeric(ty: &str) -> bool {
    matches!(
        ty,
        "int32" | "int64" | "uint32" | "uint64" | "bool" | "double" | "float" | "fixed32"
    )
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

fn zero_of(ty: &str) -> Value {
    match ty {
        "bool" => Value::Bool(false),
        "string" | "bytes" => Value::String(String::new()),
        _ => Value::from(0),
    }
}

/// The messages whose JSON form is not an object of their fields.
fn special(name: &str, bytes: &[u8]) -> Result<Option<Value>, String> {
    let short = match name.strip_prefix("io.k8s.apimachinery.pkg.") {
        Some(rest) => rest,
        None => return Ok(None),
    };
    let fields: Vec<(u64, Payload<'_>)> = Fields::new(bytes).collect::<Result<_, _>>()?;
    let first_bytes = |n: u64| {
        fields.iter().find_map(|(k, p)| match p {
            Payload::Bytes(b) if *k == n => Some(*b),
            _ => None,
        })
    };
    let first_varint = |n: u64| {
        fields.iter().find_map(|(k, p)| match p {
            Payload::Varint(v) if *k == n => Some(*v),
            _ => None,
        })
    };
    Ok(Some(match short {
        "apis.meta.v1.Time" | "apis.meta.v1.MicroTime" => {
            // A zero time is an empty message, and `null` in JSON.
            if bytes.is_empty() {
                Value::Null
            } else {
                let seconds = first_varint(1).unwrap_or(0) as i64;
                match u64::try_from(seconds) {
                    Ok(s) if short.ends_with("MicroTime") => {
                        let micros = first_varint(2).unwrap_or(0) / 1000;
                        let base = crate::meta::rfc3339(s);
                        Value::String(format!("{}.{micros:06}Z", base.trim_end_matches('Z')))
                    }
                    Ok(s) => Value::String(crate::meta::rfc3339(s)),
                    Err(_) => return Err("a time before 1970 is not supported".to_owned()),
                }
            }
        }
        "api.resource.Quantity" => Value::String(utf8(first_bytes(1).unwrap_or_default())?),
        "util.intstr.IntOrString" => {
            if first_varint(1).unwrap_or(0) == 1 {
                Value::String(utf8(first_bytes(3).unwrap_or_default())?)
            } else {
                Value::from(i64::from(first_varint(2).unwrap_or(0) as i32))
            }
        }
        "runtime.RawExtension" | "apis.meta.v1.FieldsV1" => match first_bytes(1) {
            Some(raw) if !raw.is_empty() => serde_json::from_slice(raw)
                .map_err(|e| format!("an embedded object is not JSON: {e}"))?,
            _ => Value::Null,
        },
        "apis.meta.v1.Duration" => {
            let nanos = first_varint(1).unwrap_or(0) as i64;
            Value::String(go_duration(nanos))
        }
        _ => return Ok(None),
    }))
}

/// A duration as Go prints it (`1h2m3s`, `1.5s`, `0s`), to the nanosecond.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let (h, m) = (n / 3_600_000_000_000, (n / 60_000_000_000) % 60);
    let (s, frac) = ((n / 1_000_000_000) % 60, n % 1_000_000_000);
    let mut out = sign.to_owned();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    let frac = format!("{frac:09}");
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        out.push_str(&format!("{s}s"));
    } else {
        out.push_str(&format!("{s}.{frac}s"));
    }
    out
}

/// Standard base64 with padding, as Go's JSON encodes `[]byte`.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "protobuf_tests.rs"]
mod tests;
