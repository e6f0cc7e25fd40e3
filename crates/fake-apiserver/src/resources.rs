//! Resource definitions: what the server serves, and the registry that finds them.
//!
//! A [`ResourceDef`] says everything the server needs to know about one resource: its group,
//! version, plural and kind, whether it lives in a namespace, whether it has a `status`
//! subresource, and how its names are checked. The built-ins are the usual core/v1 and apps/v1
//! types; any other resource (CRD-like objects included) can be registered at runtime with
//! [`crate::ServerHandle::register`].

use std::collections::BTreeMap;
use std::sync::Arc;

/// Where objects of a resource live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// Objects belong to a namespace (`/namespaces/<ns>/<plural>/<name>`).
    Namespaced,
    /// Objects are cluster-wide (`/<plural>/<name>`).
    Cluster,
}

/// How `metadata.name` is validated on create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameRule {
    /// DNS-1123 subdomain: lower-case alphanumerics, `-` and `.`, at most 253 characters.
    Subdomain,
    /// DNS-1123 label: lower-case alphanumerics and `-`, at most 63 characters.
    Label,
    /// Any non-empty name without `/` or `%` that is not `.` or `..` (path segment rules).
    PathSegment,
}

/// One resource the server serves.
///
/// # Examples
///
/// ```
/// use fake_apiserver::{ResourceDef, Scope};
///
/// let widgets = ResourceDef::new("example.com", "v1", "Widget", "widgets")
///     .scope(Scope::Namespaced)
///     .with_status(true)
///     .short_names(["wd"]);
/// assert_eq!(widgets.api_version(), "example.com/v1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceDef {
    /// API group; `""` for the core group.
    pub group: String,
    /// API version (`v1`).
    pub version: String,
    /// Kind (`Pod`).
    pub kind: String,
    /// Plural, lower-case resource name used in paths (`pods`).
    pub plural: String,
    /// Singular name (`pod`).
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub scope: Scope,
    /// Whether a `status` subresource exists: then updates of the main resource keep the stored
    /// status and updates of `/status` change only the status.
    pub status: bool,
    /// Short names for discovery (`po`).
    pub short_names: Vec<String>,
    /// Name validation on create.
    pub name_rule: NameRule,
    /// Whether objects carry `metadata.generation` (1 on create, bumped when anything outside
    /// metadata and status changes): true for custom resources and the kinds whose real
    /// strategy sets it (the workload kinds here); ConfigMaps, Pods (in v1.32), Secrets,
    /// Services, ServiceAccounts, Namespaces, Nodes, Events and Leases have none.
    pub generation: bool,
    /// Categories for discovery (`all`: what `kubectl get all` lists).
    pub categories: Vec<String>,
}

impl ResourceDef {
    /// A namespaced resource without a status subresource, names checked as DNS-1123 subdomains.
    pub fn new(group: &str, version: &str, kind: &str, plural: &str) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            singular: kind.to_ascii_lowercase(),
            scope: Scope::Namespaced,
            status: false,
            short_names: Vec::new(),
            name_rule: NameRule::Subdomain,
            generation: true,
            categories: Vec::new(),
        }
    }

    /// Set the scope.
    #[must_use]
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// Enable or disable the `status` subresource.
    #[must_use]
    pub fn with_status(mut self, status: bool) -> Self {
        self.status = status;
        self
    }

    /// Set the short names shown by discovery.
    #[must_use]
    pub fn short_names<const N: usize>(mut self, names: [&str; N]) -> Self {
        self.short_names = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    /// Set the categories discovery lists (`["all"]` puts the resource in `kubectl get all`).
    #[must_use]
    pub fn categories<const N: usize>(mut self, names: [&str; N]) -> Self {
        self.categories = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    /// Whether objects carry `metadata.generation` (default: yes, as custom resources do).
    #[must_use]
    pub fn with_generation(mut self, generation: bool) -> Self {
        self.generation = generation;
        self
    }

    /// Set the name validation rule.
    #[must_use]
    pub fn name_rule(mut self, rule: NameRule) -> Self {
        self.name_rule = rule;
        self
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether objects live in a namespace.
    pub fn namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    /// The resources every server starts with: core/v1 pods, configmaps, secrets, services,
    /// serviceaccounts, namespaces, nodes and events, apps/v1 deployments, replicasets,
    /// statefulsets and daemonsets, batch/v1 jobs and cronjobs, and coordination.k8s.io/v1 leases
    /// (what leader election writes). Categories, short names, status subresources and which
    /// kinds keep a `metadata.generation` are the real server's (measured on kube-apiserver
    /// v1.32.13).
    pub fn builtins() -> Vec<ResourceDef> {
        let mut defs = vec![
            ResourceDef::new("", "v1", "Pod", "pods")
                .with_status(true)
                .short_names(["po"])
                .categories(["all"]),
            ResourceDef::new("", "v1", "ConfigMap", "configmaps").short_names(["cm"]),
            ResourceDef::new("", "v1", "Secret", "secrets"),
            ResourceDef::new("", "v1", "Service", "services")
                .with_status(true)
                .short_names(["svc"])
                .categories(["all"])
                .name_rule(NameRule::Label),
            ResourceDef::new("", "v1", "ServiceAccount", "serviceaccounts").short_names(["sa"]),
            ResourceDef::new("", "v1", "Namespace", "namespaces")
                .scope(Scope::Cluster)
                .with_status(true)
                .short_names(["ns"])
                .name_rule(NameRule::Label),
            ResourceDef::new("", "v1", "Node", "nodes")
                .scope(Scope::Cluster)
                .with_status(true)
                .short_names(["no"]),
            ResourceDef::new("", "v1", "Event", "events").short_names(["ev"]),
            ResourceDef::new("coordination.k8s.io", "v1", "Lease", "leases"),
        ];
        // Of the core kinds, none has a generation (measured on kube-apiserver v1.32).
        for def in &mut defs {
            def.generation = false;
        }
        let workload = |kind: &str, plural: &str, short: &str| {
            ResourceDef::new("apps", "v1", kind, plural)
                .with_status(true)
                .short_names([short])
                .categories(["all"])
        };
        defs.extend([
            workload("Deployment", "deployments", "deploy"),
            workload("ReplicaSet", "replicasets", "rs"),
            workload("StatefulSet", "statefulsets", "sts"),
            workload("DaemonSet", "daemonsets", "ds"),
            ResourceDef::new("batch", "v1", "Job", "jobs")
                .with_status(true)
                .categories(["all"]),
            ResourceDef::new("batch", "v1", "CronJob", "cronjobs")
                .with_status(true)
                .short_names(["cj"])
                .categories(["all"]),
        ]);
        defs
    }
}

/// The identity of a resource in the store: group, version and plural.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ResourceKey {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) plural: String,
}

impl ResourceKey {
    pub(crate) fn of(def: &ResourceDef) -> Self {
        Self {
            group: def.group.clone(),
            version: def.version.clone(),
            plural: def.plural.clone(),
        }
    }
}

/// The registered resources. Cheap to clone: readers take a snapshot (`Arc`) and never hold a
/// lock while serving a request.
#[derive(Debug, Default, Clone)]
pub(crate) struct Registry {
    by_key: BTreeMap<ResourceKey, Arc<ResourceDef>>,
}

impl Registry {
    pub(crate) fn with(defs: impl IntoIterator<Item = ResourceDef>) -> Self {
        let mut registry = Self::default();
        for def in defs {
            registry.insert(def);
        }
        registry
    }

    /// Insert or replace a definition; returns the previous one.
    pub(crate) fn insert(&mut self, def: ResourceDef) -> Option<Arc<ResourceDef>> {
        self.by_key.insert(ResourceKey::of(&def), Arc::new(def))
    }

    pub(crate) fn remove(&mut self, key: &ResourceKey) -> Option<Arc<ResourceDef>> {
        self.by_key.remove(key)
    }

    pub(crate) fn find(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<&Arc<ResourceDef>> {
        self.by_key.get(&ResourceKey {
            group: group.to_owned(),
            version: version.to_owned(),
            plural: plural.to_owned(),
        })
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<ResourceDef>> {
        self.by_key.values()
    }

    /// Groups other than core, each with its versions, sorted.
    pub(crate) fn groups(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for def in self.by_key.values().filter(|d| !d.group.is_empty()) {
            let versions = groups.entry(def.group.as_str()).or_default();
            if !versions.contains(&def.version.as_str()) {
                versions.push(def.version.as_str());
            }
        }
        groups
    }
}
