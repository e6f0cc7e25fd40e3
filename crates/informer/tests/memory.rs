//! The in-memory lister-watcher: the server semantics the reflector relies on (spec 3.9).

mod common;

use common::{Pod, pod};
use futures::StreamExt;
use futures::executor::block_on;
use informer::{
    ApiError, ListOptions, ListerWatcher, MemoryListerWatcher, Request, Status, WatchEvent,
    WatchOptions,
};

type Server = MemoryListerWatcher<Pod>;

fn list(
    server: &Server,
    rv: &str,
    limit: u32,
    token: Option<&str>,
) -> Result<(Vec<String>, String, Option<String>), ApiError> {
    let page = block_on(server.list(&ListOptions {
        resource_version: rv.into(),
        limit,
        continue_token: token.map(Into::into),
    }))?;
    Ok((
        page.items
            .into_iter()
            .map(|p| format!("{}@{}", p.name, p.rv))
            .collect(),
        page.resource_version,
        page.continue_token,
    ))
}

fn watch(
    server: &Server,
    rv: &str,
    bookmarks: bool,
) -> Result<informer::WatchStream<Pod>, ApiError> {
    block_on(server.watch(&WatchOptions {
        resource_version: rv.into(),
        timeout_seconds: 300,
        allow_watch_bookmarks: bookmarks,
        ..WatchOptions::default()
    }))
}

fn describe(event: &WatchEvent<Pod>) -> String {
    match event {
        WatchEvent::Added(p) => format!("+{}@{}", p.name, p.rv),
        WatchEvent::Modified(p) => format!("~{}@{}", p.name, p.rv),
        WatchEvent::Deleted(p) => format!("-{}@{}", p.name, p.rv),
        WatchEvent::Bookmark {
            resource_version, ..
        } => format!("bookmark@{resource_version}"),
        WatchEvent::Error(s) => format!("error {}", s.code),
    }
}

/// Every event ready on `stream` now, without waiting.
fn ready(stream: &mut informer::WatchStream<Pod>) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(Some(event)) = futures::FutureExt::now_or_never(stream.next()) {
        out.push(describe(&event));
    }
    out
}

#[test]
fn writes_bump_the_version_and_stamp_objects() {
    let server = Server::new();
    assert_eq!(server.create(pod("ns", "a", "")).unwrap().rv, "1");
    assert_eq!(server.update(pod("ns", "a", "")).unwrap().rv, "2");
    assert_eq!(
        server
            .create(pod("ns", "a", ""))
            .unwrap_err()
            .status()
            .unwrap()
            .code,
        409
    );
    assert_eq!(
        server
            .update(pod("ns", "b", ""))
            .unwrap_err()
            .status()
            .unwrap()
            .code,
        404
    );
    assert_eq!(server.delete(&pod("ns", "a", "")).unwrap().rv, "3");
    assert!(server.get("ns/a").is_none());
    assert_eq!(server.resource_version(), "3");
}

#[test]
fn list_versions_too_large_and_compacted() {
    // spec: 3.9 (LIST "", "0", N; too large; expired)
    let server = Server::new();
    for name in ["a", "b", "c"] {
        server.create(pod("ns", name, "")).unwrap();
    }
    for rv in ["", "0", "1", "3"] {
        assert_eq!(list(&server, rv, 0, None).unwrap().1, "3", "rv {rv:?}");
    }
    assert!(
        list(&server, "4", 0, None)
            .unwrap_err()
            .is_too_large_resource_version()
    );
    server.compact();
    assert!(list(&server, "2", 0, None).unwrap_err().is_expired());
    assert_eq!(list(&server, "3", 0, None).unwrap().0.len(), 3);
    assert_eq!(
        list(&server, "x", 0, None)
            .unwrap_err()
            .status()
            .unwrap()
            .code,
        400
    );
}

#[test]
fn pages_are_a_pinned_snapshot_and_expire_with_compaction() {
    // spec: 3.9 (limit/continue; an expired continue is 410)
    let server = Server::new();
    for name in ["a", "b", "c"] {
        server.create(pod("ns", name, "")).unwrap();
    }
    let (items, rv, token) = list(&server, "", 2, None).unwrap();
    assert_eq!(
        (items, rv.as_str()),
        (vec!["a@1".to_owned(), "b@2".to_owned()], "3")
    );
    server.update(pod("ns", "c", "")).unwrap();
    let (items, rv, next) = list(&server, "", 2, token.as_deref()).unwrap();
    assert_eq!(
        (items, rv.as_str(), next),
        (vec!["c@3".to_owned()], "3", None),
        "pinned at 3"
    );

    let (_, _, token) = list(&server, "", 1, None).unwrap();
    server.update(pod("ns", "a", "")).unwrap();
    server.compact();
    assert!(
        list(&server, "", 1, token.as_deref())
            .unwrap_err()
            .is_expired()
    );
}

#[test]
fn zero_lists_ignore_limit_only_with_the_watch_cache() {
    let cached = Server::new();
    let uncached = Server::new().with_watch_cache(false);
    for server in [&cached, &uncached] {
        for name in ["a", "b"] {
            server.create(pod("ns", name, "")).unwrap();
        }
    }
    assert!(list(&cached, "0", 1, None).unwrap().2.is_none());
    assert!(list(&uncached, "0", 1, None).unwrap().2.is_some());
    assert!(list(&cached, "", 1, None).unwrap().2.is_some());
}

#[test]
fn watches_replay_history_then_stream_in_order() {
    // spec: 3.9 (events strictly after N; "0" starts with synthetic Added events)
    let server = Server::new();
    server.create(pod("ns", "a", "")).unwrap();
    server.create(pod("ns", "b", "")).unwrap();
    server.update(pod("ns", "a", "")).unwrap();
    let mut from_one = watch(&server, "1", false).unwrap();
    let mut from_zero = watch(&server, "0", false).unwrap();
    server.delete(&pod("ns", "b", "")).unwrap();
    assert_eq!(ready(&mut from_one), ["+b@2", "~a@3", "-b@4"]);
    assert_eq!(ready(&mut from_zero), ["+a@3", "+b@2", "-b@4"]);
    assert_eq!(server.open_watches(), 2);
    server.close_watches();
    assert!(block_on(from_one.next()).is_none(), "closed normally");
    drop(from_zero);
    assert_eq!(server.open_watches(), 0);
    assert!(
        watch(&server, "9", false)
            .err()
            .unwrap()
            .is_too_large_resource_version()
    );
}

#[test]
fn history_is_bounded_and_compacted_watches_get_gone() {
    // spec: 3.9 (N older than the window => 410 as an ERROR event or a status)
    let server = Server::new().with_history(2);
    for name in ["a", "b", "c", "d"] {
        server.create(pod("ns", name, "")).unwrap();
    }
    assert_eq!(
        ready(&mut watch(&server, "2", false).unwrap()),
        ["+c@3", "+d@4"]
    );
    assert_eq!(
        ready(&mut watch(&server, "1", false).unwrap()),
        ["error 410"]
    );
    server.set_expired_watch_as_open_error(true);
    assert!(watch(&server, "1", false).err().unwrap().is_expired());
    assert!(list(&server, "1", 0, None).unwrap_err().is_expired());
}

#[test]
fn bookmarks_only_when_allowed() {
    let server = Server::new();
    server.create(pod("ns", "a", "")).unwrap();
    let mut with = watch(&server, "1", true).unwrap();
    let mut without = watch(&server, "1", false).unwrap();
    server.advance_resource_version(4);
    server.bookmark();
    assert_eq!(ready(&mut with), ["bookmark@5"]);
    assert!(ready(&mut without).is_empty());
}

#[test]
fn faults_and_the_request_record() {
    let server = Server::new();
    server.create(pod("ns", "a", "")).unwrap();
    server.fail_lists(2, Status::new(429, "TooManyRequests", "").into());
    server.fail_watches(1, ApiError::ConnectionRefused("down".into()));
    server.fail_watch_streams(1, Status::new(500, "InternalError", ""));
    assert!(
        list(&server, "0", 0, None)
            .unwrap_err()
            .is_too_many_requests()
    );
    assert!(
        list(&server, "0", 0, None)
            .unwrap_err()
            .is_too_many_requests()
    );
    assert!(list(&server, "0", 0, None).is_ok());
    assert!(
        watch(&server, "1", true)
            .err()
            .unwrap()
            .is_connection_refused()
    );
    assert_eq!(
        ready(&mut watch(&server, "1", true).unwrap()),
        ["error 500"]
    );
    let mut open = watch(&server, "1", true).unwrap();
    server.break_watches(Status::expired("gone"));
    assert_eq!(ready(&mut open), ["error 410"]);
    assert!(block_on(open.next()).is_none());
    let requests = server.requests();
    assert_eq!(requests.len(), 6);
    assert!(matches!(&requests[0], Request::List(o) if o.resource_version == "0"));
    assert!(matches!(&requests[5], Request::Watch(o) if o.allow_watch_bookmarks));
    assert_eq!(server.list_requests().len(), 3);
    assert_eq!(server.watch_requests().len(), 3);
    server.clear_requests();
    assert!(server.requests().is_empty());
}

#[test]
fn hung_watches_deliver_nothing_until_closed_and_hung_calls_never_answer() {
    // spec: 3.9 (fault injection: hung connection)
    let server = Server::new();
    server.create(pod("ns", "a", "")).unwrap();
    server.hang_watches(1);
    let mut hung = watch(&server, "0", true).unwrap();
    let mut live = watch(&server, "1", true).unwrap();
    server.create(pod("ns", "b", "")).unwrap();
    server.bookmark();
    server.break_watches(Status::new(500, "Internal", "x"));
    assert!(ready(&mut hung).is_empty(), "no event, bookmark or error");
    assert_eq!(ready(&mut live), ["+b@2", "bookmark@2", "error 500"]);
    assert!(block_on(hung.next()).is_none(), "ended by the close");

    server.hang_watches(1);
    let hung = watch(&server, "2", true).unwrap();
    assert_eq!(server.open_watches(), 1);
    drop(hung);
    assert_eq!(server.open_watches(), 0, "a dropped hung watch is gone");

    server.hang_watch_calls(1);
    let options = WatchOptions {
        resource_version: "2".into(),
        ..WatchOptions::default()
    };
    assert!(futures::FutureExt::now_or_never(server.watch(&options)).is_none());
    assert_eq!(
        server.watch_requests().len(),
        4,
        "the hung call is recorded"
    );
    let mut next = watch(&server, "2", false).unwrap();
    server.create(pod("ns", "c", "")).unwrap();
    assert_eq!(ready(&mut next), ["+c@3"], "only the next call hangs");
}
