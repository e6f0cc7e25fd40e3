//! Label selectors (equality- and set-based) and field selectors (`metadata.name`,
//! `metadata.namespace`), parsed from query strings and matched against stored objects.

use std::collections::BTreeMap;

use crate::resources::ResourceDef;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    /// `key=value`, `key==value`, `key in (a,b)`.
    In(String, Vec<String>),
    /// `key!=value`, `key notin (a,b)`: also true when the key is absent.
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parse the `labelSelector` query parameter.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            let (req, tail) = parse_requirement(rest)?;
            requirements.push(req);
            rest = tail.trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after.trim_start();
                if rest.is_empty() {
                    return Err(format!(
                        "unable to parse requirement: trailing ',' in {text:?}"
                    ));
                }
            } else if !rest.is_empty() {
                return Err(format!(
                    "unable to parse requirement: expected ',' before {rest:?}"
                ));
            }
        }
        Ok(Self { requirements })
    }

    /// Whether the selector matches everything.
    pub(crate) fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|req| match req {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

fn parse_requirement(s: &str) -> Result<(Requirement, &str), String> {
    if let Some(after) = s.strip_prefix('!') {
        let (key, tail) = take_token(after.trim_start());
        check_key(key)?;
        return Ok((Requirement::DoesNotExist(key.to_owned()), tail));
    }
    let (key, tail) = take_token(s);
    check_key(key)?;
    let tail = tail.trim_start();
    let op_value = |tail: &str, op_len: usize| -> Result<(String, usize), String> {
        let after = tail[op_len..].trim_start();
        let (value, rest) = take_token(after);
        check_value(value)?;
        Ok((value.to_owned(), tail.len() - rest.len()))
    };
    if tail.starts_with("==") || tail.starts_with('=') {
        let op = if tail.starts_with("==") { 2 } else { 1 };
        let (value, used) = op_value(tail, op)?;
        return Ok((Requirement::In(key.to_owned(), vec![value]), &tail[used..]));
    }
    if tail.starts_with("!=") {
        let (value, used) = op_value(tail, 2)?;
        return Ok((
            Requirement::NotIn(key.to_owned(), vec![value]),
            &tail[used..],
        ));
    }
    for (word, negate) in [("notin", true), ("in", false)] {
        if let Some(after) = tail.strip_prefix(word)
            && after.trim_start().starts_with('(')
        {
            let after = after.trim_start();
            let close = after
                .find(')')
                .ok_or_else(|| format!("unable to parse requirement: missing ')' in {s:?}"))?;
            let values: Vec<String> = after[1..close]
                .split(',')
                .map(|v| v.trim().to_owned())
                .collect();
            if values.len() == 1 && values[0].is_empty() {
                return Err(format!(
                    "unable to parse requirement: empty set for {key:?}"
                ));
            }
            for v in &values {
                check_value(v)?;
            }
            let req = if negate {
                Requirement::NotIn(key.to_owned(), values)
            } else {
                Requirement::In(key.to_owned(), values)
            };
            return Ok((req, &after[close + 1..]));
        }
    }
    if tail.is_empty() || tail.starts_with(',') {
        return Ok((Requirement::Exists(key.to_owned()), tail));
    }
    Err(format!(
        "unable to parse requirement: unexpected {tail:?} after key {key:?}"
    ))
}

/// The longest prefix made of characters allowed in keys and values.
fn take_token(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
        .unwrap_or(s.len());
    s.split_at(end)
}

/// Label keys: optional DNS subdomain prefix and `/`, then a name of at most 63 characters.
fn check_key(key: &str) -> Result<(), String> {
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            crate::meta::validate_subdomain(prefix)
                .map_err(|e| format!("invalid label key {key:?}: prefix {e}"))?;
            name
        }
        None => key,
    };
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains('/');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "unable to parse requirement: invalid label key {key:?}"
        ))
    }
}

/// Label values: empty, or at most 63 alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
fn check_value(value: &str) -> Result<(), String> {
    let ok = value.is_empty()
        || (value.len() <= 63
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric())
            && !value.contains('/'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "unable to parse requirement: invalid label value {value:?}"
        ))
    }
}

/// A parsed field selector: `metadata.name`, `metadata.namespace`, and the fields of the kind
/// (checked against the kind with [`FieldSelector::check`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector {
    /// (field label, wanted value, equal (else not equal)).
    terms: Vec<(String, String, bool)>,
}

impl FieldSelector {
    /// Parse the `fieldSelector` query parameter.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, value, equal) = if let Some((f, v)) = term.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, v, true)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, v, true)
            } else {
                return Err(format!(
                    "invalid field selector: {term:?} has no operator ('=', '==' or '!=')"
                ));
            };
            terms.push((field.trim().to_owned(), value.trim().to_owned(), equal));
        }
        Ok(Self { terms })
    }

    /// Every field must select objects of `def`'s kind; the real server's message if not.
    pub(crate) fn check(&self, def: &ResourceDef) -> Result<(), String> {
        self.terms
            .iter()
            .try_for_each(|(field, _, _)| crate::field_labels::check(def, field))
    }

    /// Whether an object with this namespace, name and selectable fields matches.
    pub(crate) fn matches(&self, namespace: &str, name: &str, fields: &[(&str, String)]) -> bool {
        self.terms.iter().all(|(field, value, equal)| {
            let actual = match field.as_str() {
                "metadata.name" => name,
                "metadata.namespace" => namespace,
                other => fields
                    .iter()
                    .find(|(label, _)| *label == other)
                    .map_or(crate::field_labels::zero(other), |(_, v)| v.as_str()),
            };
            (actual == value) == *equal
        })
    }

    /// Whether a term names a field other than `metadata.name` and `metadata.namespace`.
    pub(crate) fn names_own_fields(&self) -> bool {
        self.terms
            .iter()
            .any(|(field, _, _)| !matches!(field.as_str(), "metadata.name" | "metadata.namespace"))
    }

    /// Whether the selector matches everything.
    pub(crate) fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn equality_and_sets() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (db, web)", true),
            ("app notin (web)", false),
            ("missing notin (x)", true),
            ("app,tier=front", true),
            ("!app", false),
            ("!missing", true),
            ("missing", false),
            ("app=web,tier!=front", false),
            ("example.com/team!=x", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&l),
                want,
                "{sel}"
            );
        }
    }

    #[test]
    fn bad_label_selectors() {
        for sel in [
            "app=",
            "=x",
            "app in (",
            "app in ()",
            "app=a,",
            "app==-x",
            "a b",
            "app=web)",
            "UPPER.com/x=y",
        ] {
            let parsed = LabelSelector::parse(sel);
            if sel == "app=" {
                // An empty value is legal: matches labels set to "".
                assert!(parsed.is_ok());
                continue;
            }
            assert!(parsed.is_err(), "{sel} should fail: {parsed:?}");
        }
    }

    #[test]
    fn fields() {
        let f = FieldSelector::parse("metadata.name=a,metadata.namespace!=kube-system").unwrap();
        assert!(f.matches("default", "a", &[]));
        assert!(!f.matches("kube-system", "a", &[]));
        assert!(!f.matches("default", "b", &[]));
        let f = FieldSelector::parse("spec.nodeName=n1,status.phase!=Failed").unwrap();
        let fields = [
            ("spec.nodeName", "n1".to_owned()),
            ("status.phase", "Running".to_owned()),
        ];
        assert!(f.matches("default", "a", &fields));
        assert!(
            !f.matches("default", "a", &[]),
            "a missing field selects as empty"
        );
        let pods = ResourceDef::new("", "v1", "Pod", "pods");
        assert!(f.check(&pods).is_ok());
        let configmaps = ResourceDef::new("", "v1", "ConfigMap", "configmaps");
        assert!(f.check(&configmaps).is_err());
        assert!(FieldSelector::parse("metadata.name").is_err());
    }
}
