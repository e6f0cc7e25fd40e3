//! `cargo xtask api-facts KUBERNETES_DIR [--check]`: the schema facts fake-apiserver serves,
//! derived from Kubernetes' published API definitions.
//!
//! Reads, from a Kubernetes source tree (a checkout of `kubernetes/kubernetes` at a release tag):
//! - `api/openapi-spec/swagger.json`, the OpenAPI v2 document the API server publishes: types,
//!   formats, required fields, `$ref`s and the `x-kubernetes-*` extensions (patch strategies and
//!   merge keys, list and map types, group-version-kinds);
//! - every `staging/src/k8s.io/**/generated.proto`: the protobuf field numbers and types;
//! - every `staging/src/k8s.io/**/types.go`: which fields are Go pointers and which lack
//!   `omitempty`, which decides whether a zero value (`replicas: 0`, `name: ""`) is in the JSON
//!   form the real server writes; and the values of each `+enum` string type, added as the
//!   `enum` of the properties of that type (what a live server puts in its OpenAPI v3).
//!
//! Keeps only what the kinds in [`ROOTS`] reach, drops every `description` (the facts carry over,
//! Kubernetes' sentences do not), and writes `crates/fake-apiserver/facts/api.json` with sorted
//! keys, so the same tree always gives the same bytes. `--check` compares instead of writing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

/// The kinds the facts start from (each with its `List`): fake-apiserver's built-ins and the
/// workload kinds. Everything they reference comes along.
const ROOTS: &[(&str, &str, &str)] = &[
    ("", "v1", "Pod"),
    ("", "v1", "ConfigMap"),
    ("", "v1", "Secret"),
    ("", "v1", "Service"),
    ("", "v1", "Namespace"),
    ("", "v1", "Node"),
    ("", "v1", "Event"),
    ("", "v1", "ServiceAccount"),
    ("apps", "v1", "Deployment"),
    ("apps", "v1", "ReplicaSet"),
    ("apps", "v1", "StatefulSet"),
    ("apps", "v1", "DaemonSet"),
    ("batch", "v1", "Job"),
    ("batch", "v1", "CronJob"),
    ("coordination.k8s.io", "v1", "Lease"),
    ("autoscaling", "v1", "Scale"),
    ("authentication.k8s.io", "v1", "SelfSubjectReview"),
    ("authorization.k8s.io", "v1", "SelfSubjectAccessReview"),
];

/// Definitions the server answers with or reads besides the kinds.
const NAMED: &[&str] = &[
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
];

/// Where the facts are written, relative to the workspace root.
const OUTPUT: &str = "crates/fake-apiserver/facts/api.json";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut dir: Option<PathBuf> = None;
    let mut check = false;
    for arg in args {
        match arg.as_str() {
            "--check" => check = true,
            other if dir.is_none() && !other.starts_with('-') => dir = Some(PathBuf::from(other)),
            other => return Err(format!("api-facts: unexpected argument `{other}`")),
        }
    }
    let dir = dir.ok_or("usage: cargo xtask api-facts KUBERNETES_DIR [--check]")?;
    let facts = build(&dir)?;
    let mut text = serde_json::to_string_pretty(&facts).map_err(|e| e.to_string())?;
    text.push('\n');
    let out = crate::project_root().join(OUTPUT);
    if check {
        let current = std::fs::read_to_string(&out).map_err(|e| format!("{OUTPUT}: {e}"))?;
        if current != text {
            return Err(format!("{OUTPUT} is not what `{}` gives", dir.display()));
        }
        eprintln!("{OUTPUT} is up to date");
        return Ok(());
    }
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    std::fs::write(&out, &text).map_err(|e| format!("{OUTPUT}: {e}"))?;
    eprintln!("wrote {OUTPUT} ({} bytes)", text.len());
    Ok(())
}

fn build(dir: &Path) -> Result<Value, String> {
    let swagger_path = dir.join("api/openapi-spec/swagger.json");
    let swagger: Value = serde_json::from_str(
        &std::fs::read_to_string(&swagger_path)
            .map_err(|e| format!("{}: {e}", swagger_path.display()))?,
    )
    .map_err(|e| format!("{}: {e}", swagger_path.display()))?;
    let all = swagger
        .get("definitions")
        .and_then(Value::as_object)
        .ok_or("swagger.json has no definitions")?;

    let mut roots = Vec::new();
    for (group, version, kind) in ROOTS {
        for kind in [kind.to_string(), format!("{kind}List")] {
            match find_gvk(all, group, version, &kind) {
                Some(name) => roots.push(name),
                None if kind.ends_with("List") => {}
                None => return Err(format!("no definition for {group}/{version} {kind}")),
            }
        }
    }
    roots.extend(NAMED.iter().map(|n| (*n).to_owned()));
    let mut definitions = BTreeMap::new();
    let mut todo = roots.clone();
    while let Some(name) = todo.pop() {
        if definitions.contains_key(&name) {
            continue;
        }
        let def = all
            .get(&name)
            .ok_or_else(|| format!("{name} is referenced but not defined"))?;
        let mut refs = Vec::new();
        let clean = without_descriptions(def, &mut refs);
        definitions.insert(name, clean);
        todo.extend(refs);
    }

    let messages = read_protos(&dir.join("staging/src/k8s.io"))?;
    let (go_fields, enums) = read_go(&dir.join("staging/src/k8s.io"))?;
    add_enums(&mut definitions, &go_fields, &enums);
    let mut protobuf = BTreeMap::new();
    let mut todo: Vec<String> = roots;
    while let Some(name) = todo.pop() {
        if protobuf.contains_key(&name) {
            continue;
        }
        let Some(fields) = messages.get(&name) else {
            return Err(format!("no protobuf message for {name}"));
        };
        for field in fields {
            if let Some(ty) = field.get("type").and_then(Value::as_str)
                && ty.starts_with("io.k8s.")
            {
                todo.push(ty.to_owned());
            }
        }
        let mut fields = fields.clone();
        if let Some(def) = definitions.get(&name) {
            mark_inline(&name, def, &mut fields)?;
        }
        if let Some(go) = go_fields.get(&name) {
            mark_go_encoding(go, &mut fields);
        }
        protobuf.insert(name, Value::Array(fields));
    }

    Ok(json!({
        "source": "Kubernetes api/openapi-spec/swagger.json (descriptions dropped) and \
                   staging/src/k8s.io/**/generated.proto, by `cargo xtask api-facts`",
        "kubernetes": "v1.32.13",
        "definitions": definitions,
        "protobuf": protobuf,
    }))
}

/// The definition whose `x-kubernetes-group-version-kind` is exactly this one.
fn find_gvk(all: &Map<String, Value>, group: &str, version: &str, kind: &str) -> Option<String> {
    all.iter()
        .find(|(_, def)| {
            def.get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .is_some_and(|gvks| {
                    gvks.iter().any(|gvk| {
                        gvk.get("group").and_then(Value::as_str) == Some(group)
                            && gvk.get("version").and_then(Value::as_str) == Some(version)
                            && gvk.get("kind").and_then(Value::as_str) == Some(kind)
                    })
                })
        })
        .map(|(name, _)| name.clone())
}

/// A copy of `value` without `description` keys (at any depth); the names of the definitions it
/// references are pushed to `refs`.
fn without_descriptions(value: &Value, refs: &mut Vec<String>) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, v) in map {
                if key == "description" {
                    continue;
                }
                if key == "$ref"
                    && let Some(target) = v.as_str().and_then(|r| r.strip_prefix("#/definitions/"))
                {
                    refs.push(target.to_owned());
                }
                out.insert(key.clone(), without_descriptions(v, refs));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| without_descriptions(v, refs))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Every protobuf field name must be a JSON property of the same definition (the decoder relies
/// on it), except a Go struct embedded inline (`EphemeralContainer` embeds
/// `EphemeralContainerCommon`): its message's fields are the properties, and it is marked
/// `"inline": true`.
fn mark_inline(name: &str, def: &Value, fields: &mut [Value]) -> Result<(), String> {
    let Some(props) = def.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    for field in fields {
        let field_name = field.get("name").and_then(Value::as_str).unwrap_or("");
        if props.contains_key(field_name) {
            continue;
        }
        let embeds = field.get("label").and_then(Value::as_str) == Some("optional")
            && field
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with("io.k8s."));
        if !embeds {
            return Err(format!(
                "{name}: protobuf field `{field_name}` is not a JSON property"
            ));
        }
        if let Value::Object(map) = field {
            map.insert("inline".to_owned(), Value::Bool(true));
        }
    }
    Ok(())
}

/// How a Go struct field encodes to JSON: a pointer, and whether its tag says `omitempty`.
#[derive(Debug, Clone)]
struct GoField {
    pointer: bool,
    omitempty: bool,
    /// The Go type without `*` or `[]` (`DeploymentStrategyType`), and whether it is a list.
    ty: String,
    list: bool,
}

/// `"go"` on each protobuf field whose Go struct field is known: `"pointer"` (present means
/// set, zero or not), `"omitempty"` (a zero value is left out of the JSON form) or `"always"`
/// (in the JSON form even when zero).
fn mark_go_encoding(go: &BTreeMap<String, GoField>, fields: &mut [Value]) {
    for field in fields {
        let name = field.get("name").and_then(Value::as_str).unwrap_or("");
        let Some(g) = go.get(name) else { continue };
        let encoding = if g.pointer {
            "pointer"
        } else if g.omitempty {
            "omitempty"
        } else {
            "always"
        };
        if let Value::Object(map) = field {
            map.insert("go".to_owned(), Value::String(encoding.to_owned()));
        }
    }
}

/// The values of each `+enum` string type declared in one `types.go` of `package`, added to
/// `enums` by OpenAPI-style name (`io.k8s.api.apps.v1.DeploymentStrategyType`).
fn parse_go_enums(text: &str, package: &str, enums: &mut BTreeMap<String, Vec<String>>) {
    let mut marked = false;
    let mut types = Vec::new();
    for line in text.lines().map(str::trim) {
        if line == "// +enum" {
            marked = true;
            continue;
        }
        if marked
            && let Some(name) = line
                .strip_prefix("type ")
                .and_then(|rest| rest.strip_suffix(" string"))
        {
            types.push(name.trim().to_owned());
        }
        if !line.starts_with("//") {
            marked = false;
        }
    }
    for line in text.lines() {
        // `Name Type = "value"` in a const block.
        let mut words = line.split_whitespace();
        let (Some(_), Some(ty), Some("="), Some(value)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            continue;
        };
        let Some(value) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
            continue;
        };
        if types.iter().any(|t| t == ty) {
            let values = enums.entry(format!("{package}.{ty}")).or_default();
            values.push(value.to_owned());
            values.sort();
            values.dedup();
        }
    }
}

/// Adds the `enum` of each property whose Go type is an `+enum` type of the same package.
fn add_enums(
    definitions: &mut BTreeMap<String, Value>,
    go: &BTreeMap<String, BTreeMap<String, GoField>>,
    enums: &BTreeMap<String, Vec<String>>,
) {
    for (name, def) in definitions.iter_mut() {
        let Some(fields) = go.get(name) else { continue };
        let package = name.rsplit_once('.').map_or("", |(p, _)| p);
        for (field, info) in fields {
            let Some(values) = enums.get(&format!("{package}.{}", info.ty)) else {
                continue;
            };
            let pointer = if info.list {
                format!("/properties/{field}/items")
            } else {
                format!("/properties/{field}")
            };
            if let Some(Value::Object(prop)) = def.pointer_mut(&pointer)
                && prop.get("type").and_then(Value::as_str) == Some("string")
            {
                prop.insert("enum".to_owned(), json!(values));
            }
        }
    }
}

/// Go struct fields by OpenAPI name, and the values of each `+enum` type.
type GoFacts = (
    BTreeMap<String, BTreeMap<String, GoField>>,
    BTreeMap<String, Vec<String>>,
);

/// The struct fields and enum values of every `types.go` under `root`, each file read once.
fn read_go(root: &Path) -> Result<GoFacts, String> {
    let mut files = Vec::new();
    find_files(root, "types.go", &mut files)?;
    files.sort();
    let (mut structs, mut enums) = (BTreeMap::new(), BTreeMap::new());
    for file in files {
        let Some(package) = file
            .parent()
            .and_then(|d| d.strip_prefix(root).ok())
            .map(|d| format!("io.k8s.{}", d.display().to_string().replace('/', ".")))
        else {
            continue;
        };
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        parse_go_structs(&text, &package, &mut structs);
        parse_go_enums(&text, &package, &mut enums);
    }
    Ok((structs, enums))
}

/// Go struct fields of the form ``Name Type `json:"name,omitempty" ...` `` (one per line, as
/// the API types are written).
fn parse_go_structs(
    text: &str,
    package: &str,
    out: &mut BTreeMap<String, BTreeMap<String, GoField>>,
) {
    let mut current: Option<(String, BTreeMap<String, GoField>)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("type ")
            && let Some(name) = rest.strip_suffix(" struct {")
        {
            current = Some((format!("{package}.{}", name.trim()), BTreeMap::new()));
            continue;
        }
        if line == "}" {
            if let Some((name, fields)) = current.take() {
                out.insert(name, fields);
            }
            continue;
        }
        let Some((_, fields)) = current.as_mut() else {
            continue;
        };
        let Some(field) = line.strip_prefix('\t') else {
            continue;
        };
        let mut parts = field.split_whitespace();
        let (Some(_), Some(ty)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(tag) = field.split_once("json:\"").map(|(_, t)| t) else {
            continue;
        };
        let Some((json, _)) = tag.split_once('"') else {
            continue;
        };
        let mut options = json.split(',');
        let name = options.next().unwrap_or("");
        if name.is_empty() || name == "-" {
            continue;
        }
        let list = ty.starts_with("[]");
        let bare = ty.trim_start_matches("[]").trim_start_matches('*');
        fields.insert(
            name.to_owned(),
            GoField {
                pointer: ty.starts_with('*'),
                omitempty: options.any(|o| o == "omitempty"),
                ty: bare.to_owned(),
                list,
            },
        );
    }
}

/// Every message of every `generated.proto` under `root`, by its OpenAPI name
/// (`k8s.io.api.core.v1.Pod` becomes `io.k8s.api.core.v1.Pod`).
fn read_protos(root: &Path) -> Result<BTreeMap<String, Vec<Value>>, String> {
    let mut files = Vec::new();
    find_files(root, "generated.proto", &mut files)?;
    files.sort();
    let mut messages = BTreeMap::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        parse_proto(&text, &mut messages).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(messages)
}

fn find_files(dir: &Path, name: &str, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            find_files(&path, name, out)?;
        } else if path.file_name().is_some_and(|f| f == name) {
            out.push(path);
        }
    }
    Ok(())
}

/// `k8s.io.api.core.v1.Pod` (or `.k8s.io...`) to `io.k8s.api.core.v1.Pod`; a bare name is
/// qualified with `package`; scalar types stay as they are.
fn openapi_name(ty: &str, package: &str) -> String {
    const SCALARS: &[&str] = &[
        "string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
        "double", "float", "fixed32", "fixed64",
    ];
    let ty = ty.trim_start_matches('.');
    if SCALARS.contains(&ty) {
        return ty.to_owned();
    }
    let full = if ty.contains('.') {
        ty.to_owned()
    } else {
        format!("{package}.{ty}")
    };
    match full.strip_prefix("k8s.io.") {
        Some(rest) => format!("io.k8s.{rest}"),
        None => full,
    }
}

/// The messages of one `generated.proto` (proto2 as go-to-protobuf writes it: top-level
/// messages, one field per line).
fn parse_proto(text: &str, out: &mut BTreeMap<String, Vec<Value>>) -> Result<(), String> {
    let mut package = String::new();
    let mut current: Option<(String, Vec<Value>)> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        if let Some(p) = line.strip_prefix("package ") {
            package = p.trim_end_matches(';').trim().to_owned();
            continue;
        }
        if let Some(m) = line.strip_prefix("message ") {
            if current.is_some() {
                return Err(format!("nested message at `{line}`"));
            }
            let name = m.trim_end_matches('{').trim();
            current = Some((openapi_name(name, &package), Vec::new()));
            continue;
        }
        if line == "}" {
            if let Some((name, fields)) = current.take() {
                out.insert(name, fields);
            }
            continue;
        }
        let Some((_, fields)) = current.as_mut() else {
            continue;
        };
        let Some((decl, number)) = line.trim_end_matches(';').split_once('=') else {
            return Err(format!("unexpected line `{line}`"));
        };
        let number: u64 = number
            .trim()
            .parse()
            .map_err(|_| format!("bad field number in `{line}`"))?;
        let decl = decl.trim();
        let field = if let Some(rest) = decl.strip_prefix("map<") {
            let (types, name) = rest
                .split_once('>')
                .ok_or_else(|| format!("bad map in `{line}`"))?;
            let (key, value) = types
                .split_once(',')
                .ok_or_else(|| format!("bad map in `{line}`"))?;
            json!({
                "n": number,
                "name": name.trim(),
                "label": "map",
                "key": openapi_name(key.trim(), &package),
                "type": openapi_name(value.trim(), &package),
            })
        } else {
            let parts: Vec<&str> = decl.split_whitespace().collect();
            let [label, ty, name] = parts[..] else {
                return Err(format!("unexpected field `{line}`"));
            };
            json!({
                "n": number,
                "name": name,
                "label": label,
                "type": openapi_name(ty, &package),
            })
        };
        fields.push(field);
    }
    Ok(())
}
