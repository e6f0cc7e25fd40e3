//! Status classification the reflector relies on (spec section 3.6, 3.9).

use informer::{ApiError, Status};

#[test]
fn status_classes() {
    // spec: RF-9 (expired, too large RV), RF-12/RF-16 (429, 500, connection refused)
    let expired = ApiError::from(Status::expired("too old resource version: 1 (5)"));
    assert!(expired.is_expired() && !expired.is_too_many_requests());
    assert!(
        ApiError::from(Status::new(500, "Gone", "")).is_expired(),
        "reason Gone"
    );
    let large = ApiError::from(Status::too_large_resource_version(
        "Too large resource version",
    ));
    assert!(large.is_too_large_resource_version() && !large.is_expired());
    let old_server = ApiError::from(Status::new(
        504,
        "Timeout",
        "Too large resource version: 9, current: 5",
    ));
    assert!(old_server.is_too_large_resource_version());
    assert!(ApiError::from(Status::new(429, "TooManyRequests", "")).is_too_many_requests());
    assert!(ApiError::from(Status::new(500, "InternalError", "")).is_internal());
    let refused = ApiError::ConnectionRefused("127.0.0.1:6443".into());
    assert!(refused.is_connection_refused() && refused.status().is_none());
    assert_eq!(
        ApiError::from(Status::new(403, "Forbidden", "no")).to_string(),
        "the server answered 403: no"
    );
}
