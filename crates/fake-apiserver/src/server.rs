//! The HTTP face: routing of Kubernetes REST paths to the store, list, watch and discovery.
//!
//! Every path is parsed here by hand (not with a fixed route table) because resources can be
//! registered at runtime under any group and version:
//!
//! ```text
//! /api/v1[/namespaces/<ns>]/<plural>[/<name>[/status]]
//! /apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/status]]
//! ```
//!
//! plus the legacy `/api/v1/watch/...` prefix and the discovery paths.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parking_lot::RwLock;
use serde_json::Value;

use crate::faults::{FaultState, Verb};
use crate::list::{self, ListOptions};
use crate::patch::{Patcher, patcher};
use crate::resources::{Registry, ResourceDef};
use crate::schema::fields::{self, FieldValidation};
use crate::schema::strategic;
use crate::schema::{self, openapi, openapi_proto, protobuf};
use crate::status::ApiError;
use crate::store::{Preconditions, Store};
use crate::{defaults, discovery, dry_run, kind_validation, partial, scale, table, watch};

/// State shared by every request.
///
/// # Ground rules
///
/// `registry` is read on every request and written only by registration; requests clone the
/// `Arc<ResourceDef>` they need and release the read lock before doing any work. The store and
/// the fault state have their own rules (see their modules).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Arc<Store>,
    pub(crate) registry: RwLock<Registry>,
    pub(crate) faults: Arc<FaultState>,
    pub(crate) bookmark_interval: Duration,
    /// A watcher whose client has not read for this long is closed.
    pub(crate) slow_watcher_timeout: Duration,
    pub(crate) max_body_bytes: usize,
    /// `host:port` the server listens on, for `/api`.
    pub(crate) address: String,
}

/// A request for a resource (not discovery).
#[derive(Debug)]
struct Target {
    def: Arc<ResourceDef>,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
    /// The namespaces' `finalize` subresource.
    finalize: bool,
    /// The `scale` subresource.
    scale: bool,
    legacy_watch: bool,
}

#[derive(Debug)]
enum Route {
    Version,
    Api,
    Apis,
    Group(String),
    Resources(String, String),
    Resource(Target),
}

/// The single handler behind the router.
pub(crate) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let result = serve(&shared, request).await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn serve(shared: &Arc<Shared>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    if let Some(response) = health(&path, parts.uri.query()) {
        return Ok(response);
    }
    if let Some(response) = openapi(shared, &path, &parts.headers) {
        return response;
    }
    if let Some(review) = crate::reviews::answer(&parts.method, &path) {
        let (body, _) = read_object(shared, body, &parts.headers).await?;
        return review(body).map(|answer| json_response(StatusCode::CREATED, &answer));
    }
    let route = route(shared, &path)?;
    let target = match route {
        Route::Version => return Ok(json_response(StatusCode::OK, &discovery::version())),
        Route::Api | Route::Apis if discovery::wants_aggregated(accept_of(&parts.headers)) => {
            let core = matches!(route, Route::Api);
            let doc = discovery::aggregated(&shared.registry.read(), core);
            let mut response = json_response(StatusCode::OK, &doc);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(discovery::AGGREGATED),
            );
            return Ok(response);
        }
        Route::Api => {
            return Ok(json_response(
                StatusCode::OK,
                &discovery::core_versions(&shared.address),
            ));
        }
        Route::Apis => {
            return Ok(json_response(
                StatusCode::OK,
                &discovery::groups(&shared.registry.read()),
            ));
        }
        Route::Group(g) => {
            let doc = discovery::group(&shared.registry.read(), &g)
                .ok_or_else(|| ApiError::no_route(&path))?;
            return Ok(json_response(StatusCode::OK, &doc));
        }
        Route::Resources(g, v) => {
            let doc = discovery::resources(&shared.registry.read(), &g, &v)
                .ok_or_else(|| ApiError::no_route(&path))?;
            return Ok(json_response(StatusCode::OK, &doc));
        }
        Route::Resource(t) => t,
    };
    let query: HashMap<String, String> = Query::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
    let opts = ListOptions::parse(&query)?;
    opts.fields
        .check(&target.def)
        .map_err(ApiError::bad_request)?;
    let watching = target.legacy_watch || opts.watch;
    let verb = match (&parts.method, target.name.is_some()) {
        (&Method::GET, false) if watching => Verb::Watch,
        (&Method::GET, false) => Verb::List,
        (&Method::GET, true) if !watching => Verb::Get,
        (&Method::POST, false) => Verb::Create,
        (&Method::PUT, true) => Verb::Update,
        (&Method::PATCH, true) => Verb::Patch,
        (&Method::DELETE, true) => Verb::Delete,
        (&Method::DELETE, false) => Verb::DeleteCollection,
        (m, _) => return Err(ApiError::method_not_allowed(&format!("{m} {path}"))),
    };
    let options_kind = match verb {
        Verb::Create => Some("CreateOptions"),
        Verb::Update => Some("UpdateOptions"),
        Verb::Patch => Some("PatchOptions"),
        Verb::Delete | Verb::DeleteCollection => Some("DeleteOptions"),
        _ => None,
    };
    let dry = match options_kind {
        Some(kind) => dry_run::from_query(query.get("dryRun").map(String::as_str), kind)?,
        None => false,
    };
    let latency = shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let client = parts
        .headers
        .get(crate::faults::CLIENT_HEADER)
        .and_then(|v| v.to_str().ok());
    if let Some(error) = shared.faults.check(verb, &target.def.plural, client) {
        return Err(error);
    }
    let def = Arc::clone(&target.def);
    let ns_path = target.namespace.as_deref();
    if def.namespaced()
        && ns_path.is_none()
        && !matches!(verb, Verb::List | Verb::Watch | Verb::DeleteCollection)
    {
        return Err(ApiError::no_route(&path));
    }
    let ns = ns_path.unwrap_or_default();
    let name = target.name.as_deref().unwrap_or_default();
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or_default();
    let wants_table = accept.contains("as=Table");
    let wants_metadata = partial::wanted(accept);
    let store = &shared.store;
    match verb {
        Verb::Get if target.scale => Ok(json_response(
            StatusCode::OK,
            &scale::get(store, &def, ns, name)?,
        )),
        Verb::Update if target.scale => {
            let body = read_json(shared, body).await?;
            let replace: Patcher = Box::new(move |_| Ok(body));
            Ok(json_response(
                StatusCode::OK,
                &dry_run::during(dry, || scale::update(store, &def, ns, name, replace))?,
            ))
        }
        Verb::Patch if target.scale => {
            let kind = content_type(&parts.headers);
            let body = read_json(shared, body).await?;
            let scale_schema = schema::facts().kind("autoscaling", "v1", "Scale");
            let apply = patcher(&kind, body, shared.max_body_bytes, scale_schema)?;
            Ok(json_response(
                StatusCode::OK,
                &dry_run::during(dry, || scale::update(store, &def, ns, name, apply))?,
            ))
        }
        _ if target.scale => Err(ApiError::method_not_allowed(
            "only GET, PUT and PATCH on a scale subresource",
        )),
        Verb::Watch => watch::watch(shared, def, target.namespace, opts, wants_metadata),
        Verb::List if wants_table => {
            let page = list::list(store, &def, ns_path, &opts)?;
            Ok(json_response(StatusCode::OK, &table::table(&def, &page)))
        }
        Verb::List if wants_metadata => {
            let page = list::list(store, &def, ns_path, &opts)?;
            Ok(json_response(StatusCode::OK, &partial::list(&page)))
        }
        Verb::List => Ok(bytes_response(
            StatusCode::OK,
            list::list(store, &def, ns_path, &opts)?,
        )),
        Verb::Get => {
            let obj = store.get(&def, ns, name)?;
            if wants_table {
                let one = list::encode_list(&def, obj.rv, None, None, &[obj]);
                return Ok(json_response(StatusCode::OK, &table::table(&def, &one)));
            }
            if wants_metadata {
                return Ok(bytes_response(
                    StatusCode::OK,
                    Bytes::from(partial::object(&obj.json)),
                ));
            }
            Ok(bytes_response(StatusCode::OK, obj.json.clone()))
        }
        Verb::Create | Verb::Update
            if !matches!(
                content_type(&parts.headers).as_str(),
                "" | "application/json" | protobuf::MEDIA_TYPE
            ) =>
        {
            Err(ApiError::unsupported_media_type(&content_type(
                &parts.headers,
            )))
        }
        Verb::DeleteCollection if def.group.is_empty() && def.plural == "namespaces" => Err(
            ApiError::method_not_allowed("deletecollection of namespaces"),
        ),
        Verb::Create => {
            if target.status {
                return Err(ApiError::method_not_allowed(
                    "create on a status subresource",
                ));
            }
            let (mut body, repeated) = read_object(shared, body, &parts.headers).await?;
            let mode = FieldValidation::parse(field_validation(&query), "CreateOptions")?;
            let warnings = fields::check_body(&mut body, &def, mode, &repeated)?;
            defaults::complete(&def, &mut body, true);
            let created = dry_run::during(dry, || {
                store.create_checked(&def, ns, body, &|o| {
                    defaults::with_uid(&def, o);
                    kind_validation::validate(&def, o)
                })
            })?
            .json
            .clone();
            Ok(fields::with_warnings(
                bytes_response(StatusCode::CREATED, created),
                &warnings,
            ))
        }
        Verb::Update if target.finalize => {
            let body = read_json(shared, body).await?;
            Ok(bytes_response(
                StatusCode::OK,
                dry_run::during(dry, || store.finalize_namespace(name, &body))?
                    .json
                    .clone(),
            ))
        }
        _ if target.finalize => Err(ApiError::method_not_allowed(
            "only PUT on a namespace's finalize subresource",
        )),
        Verb::Update => {
            let (mut body, repeated) = read_object(shared, body, &parts.headers).await?;
            let mode = FieldValidation::parse(field_validation(&query), "UpdateOptions")?;
            let warnings = fields::check_body(&mut body, &def, mode, &repeated)?;
            defaults::complete(&def, &mut body, false);
            kind_validation::validate(&def, &body)?;
            let updated =
                dry_run::during(dry, || store.update(&def, ns, name, body, target.status))?;
            Ok(fields::with_warnings(
                bytes_response(StatusCode::OK, updated.json.clone()),
                &warnings,
            ))
        }
        Verb::Patch => {
            let kind = content_type(&parts.headers);
            let body = read_json(shared, body).await?;
            let mode = FieldValidation::parse(field_validation(&query), "PatchOptions")?;
            let kind_schema = schema::facts().kind(&def.group, &def.version, &def.kind);
            // The real server quotes the patch itself (as Go prints it) for a strategic merge
            // patch, and the patched object for the others.
            let shown: Box<dyn FnOnce(&Value) -> String + Send> =
                if kind == "application/strategic-merge-patch+json" {
                    let printed = strategic::go_fmt(&body);
                    Box::new(move |_| printed)
                } else {
                    Box::new(|patched| patched.to_string())
                };
            let warnings = Arc::new(parking_lot::Mutex::new(Vec::new()));
            let checked = fields::checked_patcher(
                patcher(&kind, body, shared.max_body_bytes, kind_schema)?,
                kind_schema,
                mode,
                shown,
                Arc::clone(&warnings),
            );
            let defaulted = Arc::clone(&def);
            let apply: Patcher = Box::new(move |old| {
                let mut new = checked(old)?;
                defaults::complete(&defaulted, &mut new, false);
                kind_validation::validate(&defaulted, &new)?;
                Ok(new)
            });
            let patched =
                dry_run::during(dry, || store.modify(&def, ns, name, apply, target.status))?;
            let response = bytes_response(StatusCode::OK, patched.json.clone());
            Ok(fields::with_warnings(response, &warnings.lock()))
        }
        Verb::Delete => {
            let bytes = read_body(shared, body).await?;
            let mut pre = delete_preconditions(&bytes)?;
            if pre.grace_period.is_none() {
                pre.grace_period = query.get("gracePeriodSeconds").and_then(|g| g.parse().ok());
            }
            if let Some(policy) = query.get("propagationPolicy") {
                pre.propagation_finalizer = propagation(Some(policy))?;
            }
            let obj = dry_run::during(dry || pre.dry_run, || store.delete(&def, ns, name, &pre))?;
            if obj.terminating {
                // Kept until its finalizers are gone: the object, marked for deletion.
                return Ok(bytes_response(StatusCode::OK, obj.json.clone()));
            }
            // Gone at once: the real server answers with a `Status` of success.
            let mut details = serde_json::json!({ "name": name, "kind": def.plural });
            if !def.group.is_empty() {
                details["group"] = Value::from(def.group.clone());
            }
            if let Some(uid) = obj.value()["metadata"]["uid"].as_str() {
                details["uid"] = Value::from(uid);
            }
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                }),
            ))
        }
        Verb::DeleteCollection => {
            let bytes = read_body(shared, body).await?;
            let pre = delete_preconditions(&bytes)?;
            let removed = dry_run::during(dry || pre.dry_run, || {
                store.delete_collection(&def, ns_path, &|o| opts.matches(o))
            });
            let rv = store.current_rv();
            Ok(bytes_response(
                StatusCode::OK,
                list::encode_list(&def, rv, None, None, &removed),
            ))
        }
    }
}

/// `/healthz`, `/livez` and `/readyz` (and their `/ping` check) answer as kube-apiserver's do:
/// plain text `ok`, the checks listed with `?verbose`, `404 page not found` for an unknown check.
fn health(path: &str, query: Option<&str>) -> Option<Response> {
    let mut segments = path.trim_start_matches('/').split('/');
    let endpoint = segments.next()?;
    if !matches!(endpoint, "healthz" | "livez" | "readyz") {
        return None;
    }
    let (code, text) = match (segments.next(), segments.next()) {
        (None | Some(""), None) if query.is_some_and(|q| q.split('&').any(|p| p == "verbose")) => (
            StatusCode::OK,
            format!("[+]ping ok\n{endpoint} check passed\n"),
        ),
        (None | Some(""), None) | (Some("ping"), None) => (StatusCode::OK, "ok".to_owned()),
        _ => (StatusCode::NOT_FOUND, "404 page not found\n".to_owned()),
    };
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Some(response)
}

/// The `Accept` header, or `""`.
fn accept_of(headers: &HeaderMap) -> &str {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The `fieldValidation` query parameter, if given.
fn field_validation(query: &HashMap<String, String>) -> Option<&str> {
    query.get("fieldValidation").map(String::as_str)
}

/// `/openapi/v2`, `/openapi/v3` and `/openapi/v3/<group-version>`, or `None` for other paths.
fn openapi(shared: &Shared, path: &str, headers: &HeaderMap) -> Option<Result<Response, ApiError>> {
    let rest = path.strip_prefix("/openapi/")?;
    let registry = shared.registry.read();
    let doc = match rest.trim_end_matches('/') {
        "v2" => {
            let accept = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("*/*");
            if openapi_proto::wanted(accept) {
                let bytes = openapi_proto::encode(&openapi::v2(&registry));
                let mut response = bytes_response(StatusCode::OK, Bytes::from(bytes));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(openapi_proto::MEDIA_TYPE),
                );
                return Some(Ok(response));
            }
            if !(accept.contains("json") || accept.contains("*/*")) {
                return Some(Err(ApiError::new(
                    406,
                    "NotAcceptable",
                    "only the following media types are accepted: application/json, application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                )));
            }
            openapi::v2(&registry)
        }
        "v3" => openapi::v3_root(&registry),
        other => match other
            .strip_prefix("v3/")
            .and_then(|gv| openapi::v3_group_version(&registry, gv))
        {
            Some(doc) => doc,
            None => return Some(Err(ApiError::no_route(path))),
        },
    };
    Some(Ok(json_response(StatusCode::OK, &doc)))
}

fn route(shared: &Shared, path: &str) -> Result<Route, ApiError> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["api"] => return Ok(Route::Api),
        ["apis"] => return Ok(Route::Apis),
        ["api", v] => return Ok(Route::Resources(String::new(), (*v).to_owned())),
        ["apis", g] => return Ok(Route::Group((*g).to_owned())),
        ["apis", g, v] => return Ok(Route::Resources((*g).to_owned(), (*v).to_owned())),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::no_route(path)),
    };
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let registry = shared.registry.read();
    let lookup = |plural: &str| registry.find(group, version, plural).cloned();
    let (def, namespace, tail) = match rest {
        ["namespaces", ns, plural, tail @ ..] if lookup(plural).is_some_and(|d| d.namespaced()) => {
            (lookup(plural), Some((*ns).to_owned()), tail)
        }
        [plural, tail @ ..] => (lookup(plural), None, tail),
        [] => (None, None, &[][..]),
    };
    let def = def.ok_or_else(|| ApiError::no_route(path))?;
    let is_namespaces = def.group.is_empty() && def.plural == "namespaces";
    let (name, subresource) = match tail {
        [] => (None, ""),
        [name] => (Some((*name).to_owned()), ""),
        [name, "status"] if def.status => (Some((*name).to_owned()), "status"),
        [name, "finalize"] if is_namespaces => (Some((*name).to_owned()), "finalize"),
        [name, "scale"] if scale::has_scale(&def) => (Some((*name).to_owned()), "scale"),
        _ => return Err(ApiError::no_route(path)),
    };
    let (status, finalize, scale) = (
        subresource == "status",
        subresource == "finalize",
        subresource == "scale",
    );
    Ok(Route::Resource(Target {
        def,
        namespace,
        name,
        status,
        finalize,
        scale,
        legacy_watch,
    }))
}

async fn read_body(shared: &Shared, body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, shared.max_body_bytes)
        .await
        .map_err(|_| ApiError::too_large_body(shared.max_body_bytes))
}

async fn read_json(shared: &Shared, body: Body) -> Result<Value, ApiError> {
    let bytes = read_body(shared, body).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

/// A create or update body: JSON (read as Go reads it: repeated keys merged, and what the
/// reading noticed returned), or Kubernetes' protobuf encoding of a built-in kind.
async fn read_object(
    shared: &Shared,
    body: Body,
    headers: &HeaderMap,
) -> Result<(Value, crate::decode::Reading), ApiError> {
    let bytes = read_body(shared, body).await?;
    if content_type(headers) == protobuf::MEDIA_TYPE {
        return protobuf::decode(&bytes)
            .map(|v| (v, crate::decode::Reading::default()))
            .map_err(ApiError::bad_request);
    }
    crate::decode::parse(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// The finalizer a delete's `propagationPolicy` adds, or the real server's 422 for an unknown
/// policy.
fn propagation(policy: Option<&str>) -> Result<Option<&'static str>, ApiError> {
    match policy {
        None | Some("" | "Background") => Ok(None),
        Some("Foreground") => Ok(Some("foregroundDeletion")),
        Some("Orphan") => Ok(Some("orphan")),
        Some(other) => Err(ApiError::invalid_in(
            "meta.k8s.io",
            "DeleteOptions",
            "",
            vec![(
                "propagationPolicy".to_owned(),
                format!(
                    "Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                ),
            )],
        )),
    }
}

fn delete_preconditions(bytes: &[u8]) -> Result<Preconditions, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Preconditions::default());
    }
    let options: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!("the DeleteOptions body is not valid JSON: {e}"))
    })?;
    let dry_run = dry_run::from_options(&options)?;
    let pre = &options["preconditions"];
    let text = |k: &str| {
        pre.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Ok(Preconditions {
        uid: text("uid"),
        resource_version: text("resourceVersion"),
        grace_period: options.get("gracePeriodSeconds").and_then(Value::as_i64),
        dry_run,
        propagation_finalizer: propagation(
            options.get("propagationPolicy").and_then(Value::as_str),
        )?,
    })
}

fn json_response(code: StatusCode, value: &Value) -> Response {
    bytes_response(
        code,
        Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
    )
}

fn bytes_response(code: StatusCode, bytes: Bytes) -> Response {
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
