//! The schema facts of the built-in kinds, and a cursor that walks them.
//!
//! `facts/api.json` is derived from Kubernetes v1.32.13's published API definitions (its OpenAPI
//! v2 document without descriptions, and the protobuf field numbers of `generated.proto`) by
//! `cargo xtask api-facts`; it is parsed once, on first use. A [`Schema`] points at one node of it
//! (a definition, a property, a list's items, a map's values), or at nothing when the facts do not
//! know the place (a custom resource, an unknown field): every lookup on an unknown place answers
//! "unknown" rather than failing, and callers treat unknown as "no strategy".

pub(crate) mod fields;
pub(crate) mod openapi;
pub(crate) mod openapi_proto;
pub(crate) mod protobuf;
pub(crate) mod roundtrip;
pub(crate) mod strategic;

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

/// The facts file, as the xtask writes it.
const FACTS: &str = include_str!("../../facts/api.json");

/// The parsed facts and an index of the kinds.
pub(crate) struct Facts {
    definitions: serde_json::Map<String, Value>,
    /// Protobuf fields by message (definition) name.
    protobuf: serde_json::Map<String, Value>,
    /// `(group, version, kind)` to definition name.
    kinds: HashMap<(String, String, String), String>,
}

/// The facts, parsed on first use.
pub(crate) fn facts() -> &'static Facts {
    static PARSED: OnceLock<Facts> = OnceLock::new();
    PARSED.get_or_init(|| {
        // The file is part of the crate and checked by the tests: it always parses.
        let root: Value = serde_json::from_str(FACTS).unwrap_or(Value::Null);
        let definitions = match root.get("definitions") {
            Some(Value::Object(map)) => map.clone(),
            _ => serde_json::Map::new(),
        };
        let protobuf = match root.get("protobuf") {
            Some(Value::Object(map)) => map.clone(),
            _ => serde_json::Map::new(),
        };
        let mut kinds = HashMap::new();
        for (name, def) in &definitions {
            let gvks = def
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array);
            for gvk in gvks.into_iter().flatten() {
                let part = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                kinds
                    .entry((part("group"), part("version"), part("kind")))
                    .or_insert_with(|| name.clone());
            }
        }
        Facts {
            definitions,
            protobuf,
            kinds,
        }
    })
}

impl Facts {
    /// The schema of a kind, if the facts have it.
    pub(crate) fn kind(&self, group: &str, version: &str, kind: &str) -> Option<Schema<'_>> {
        let name = self
            .kinds
            .get(&(group.to_owned(), version.to_owned(), kind.to_owned()))?;
        Some(self.definition(name))
    }

    /// The definition name of a kind (`io.k8s.api.core.v1.Pod`), if the facts have it.
    pub(crate) fn kind_name(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.kinds
            .get(&(group.to_owned(), version.to_owned(), kind.to_owned()))
            .map(String::as_str)
    }

    /// The definition called `name` (`io.k8s.api.core.v1.Pod`).
    pub(crate) fn definition(&self, name: &str) -> Schema<'_> {
        let found = self.definitions.get_key_value(name);
        Schema {
            facts: self,
            node: found.map(|(_, v)| v),
            name: found.map(|(k, _)| k.as_str()),
        }
    }

    /// The protobuf fields of message `name` (`n`, `name`, `label`, `type`, and `key`, `inline`,
    /// `go` where they apply).
    pub(crate) fn protobuf(&self, name: &str) -> Option<&[Value]> {
        self.protobuf.get(name)?.as_array().map(Vec::as_slice)
    }

    /// Every definition, by name.
    pub(crate) fn definitions(&self) -> &serde_json::Map<String, Value> {
        &self.definitions
    }
}

/// How a list or map field is patched: its `x-kubernetes-patch-*` extensions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PatchMeta<'a> {
    /// `merge`: items are merged (by `merge_key` when they are objects).
    pub(crate) merge: bool,
    /// `replace`: the patch's value replaces the field whole.
    pub(crate) replace: bool,
    /// `retainKeys`: a `$retainKeys` directive may clear the keys it does not name.
    pub(crate) retain_keys: bool,
    /// The key that identifies an item of a merged list of objects.
    pub(crate) merge_key: Option<&'a str>,
}

/// A place in the schema facts, or an unknown place.
#[derive(Clone, Copy)]
pub(crate) struct Schema<'a> {
    facts: &'a Facts,
    node: Option<&'a Value>,
    /// The definition's name when the node is a definition itself (not a `$ref` to one).
    name: Option<&'a str>,
}

impl<'a> Schema<'a> {
    /// The node itself with its `$ref` followed.
    fn resolved(self) -> Option<&'a Value> {
        let mut node = self.node?;
        // References chain at most a few times; the bound only guards against a cycle.
        for _ in 0..8 {
            let Some(target) = node
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/definitions/"))
            else {
                return Some(node);
            };
            node = self.facts.definitions.get(target)?;
        }
        None
    }

    fn at(self, node: Option<&'a Value>) -> Schema<'a> {
        Schema {
            facts: self.facts,
            node,
            name: None,
        }
    }

    /// Whether the facts know this place.
    #[cfg(test)]
    pub(crate) fn known(self) -> bool {
        self.resolved().is_some()
    }

    /// The field `key` of an object (a property, or a map's value), with its patch metadata.
    pub(crate) fn field(self, key: &str) -> (Schema<'a>, PatchMeta<'a>) {
        let Some(node) = self.resolved() else {
            return (self.at(None), PatchMeta::default());
        };
        if let Some(prop) = node.get("properties").and_then(|p| p.get(key)) {
            return (self.at(Some(prop)), patch_meta(prop));
        }
        (
            self.at(node.get("additionalProperties")),
            PatchMeta::default(),
        )
    }

    /// The schema of a list's items.
    pub(crate) fn items(self) -> Schema<'a> {
        let node = self.resolved().and_then(|n| n.get("items"));
        self.at(node)
    }

    /// The node's JSON type (`object`, `array`, `string`, ...), if the facts say.
    #[cfg(test)]
    pub(crate) fn type_name(self) -> Option<&'a str> {
        self.resolved()?.get("type").and_then(Value::as_str)
    }

    /// The name of the definition this place is (`io.k8s.api.core.v1.Container`), if it is one.
    fn definition_name(self) -> Option<&'a str> {
        let referenced = self
            .node
            .and_then(|n| n.get("$ref"))
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/definitions/"));
        referenced.or(self.name)
    }

    /// The definition's short name (`Container`), or `""` for a place that is not a definition.
    pub(crate) fn short_name(self) -> &'a str {
        self.definition_name()
            .and_then(|n| n.rsplit('.').next())
            .unwrap_or("")
    }

    /// The definition's Go name with its package (`v1.Container`, `resource.Quantity`), or `""`.
    pub(crate) fn qualified_short_name(self) -> String {
        let Some(name) = self.definition_name() else {
            return String::new();
        };
        let mut parts = name.rsplit('.');
        match (parts.next(), parts.next()) {
            (Some(short), Some(package)) => format!("{package}.{short}"),
            _ => String::new(),
        }
    }

    /// The raw node, for the OpenAPI documents and the field checks.
    pub(crate) fn node(self) -> Option<&'a Value> {
        self.resolved()
    }
}

fn patch_meta(prop: &Value) -> PatchMeta<'_> {
    let strategies = prop
        .get("x-kubernetes-patch-strategy")
        .and_then(Value::as_str)
        .unwrap_or("");
    let has = |s: &str| strategies.split(',').any(|x| x.trim() == s);
    PatchMeta {
        merge: has("merge"),
        replace: has("replace"),
        retain_keys: has("retainKeys"),
        merge_key: prop
            .get("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_facts_parse_and_know_the_built_in_kinds() {
        let facts = facts();
        assert!(facts.definitions().len() > 200);
        for (g, v, k) in [
            ("", "v1", "Pod"),
            ("", "v1", "ConfigMap"),
            ("apps", "v1", "Deployment"),
            ("coordination.k8s.io", "v1", "Lease"),
            ("autoscaling", "v1", "Scale"),
        ] {
            assert!(
                facts.kind(g, v, k).is_some_and(Schema::known),
                "{g}/{v} {k}"
            );
        }
        assert!(facts.kind("example.com", "v1", "Widget").is_none());
    }

    #[test]
    fn containers_merge_by_name_and_unknown_places_stay_unknown() {
        let pod = facts().kind("", "v1", "Pod").unwrap();
        let (spec, _) = pod.field("spec");
        let (containers, meta) = spec.field("containers");
        assert!(meta.merge);
        assert_eq!(meta.merge_key, Some("name"));
        assert_eq!(containers.type_name(), Some("array"));
        let (ports, meta) = containers.items().field("ports");
        assert_eq!(meta.merge_key, Some("containerPort"));
        assert!(ports.items().known());
        let (labels, _) = pod.field("metadata").0.field("labels");
        assert_eq!(labels.type_name(), Some("object"));
        assert_eq!(labels.field("app").0.type_name(), Some("string"));
        let (nothing, meta) = spec.field("noSuchField");
        assert!(!nothing.known());
        assert_eq!(meta, PatchMeta::default());
        assert!(!nothing.field("x").0.known());
        assert!(!nothing.items().known());
    }
}
