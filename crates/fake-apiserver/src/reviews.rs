//! The review endpoints kubectl asks about its own access: `SelfSubjectReview` (`kubectl auth
//! whoami`) and `SelfSubjectAccessReview` (`kubectl auth can-i`).
//!
//! The server has no authentication and no authorization: every client is the cluster admin
//! (`system:admin` in `system:masters`), and every access is allowed. The answers have the
//! shape of the real server's for such a user.

use axum::http::Method;
use serde_json::{Value, json};

use crate::status::ApiError;

/// A review: the request body in, the answer out.
pub(crate) type Review = fn(Value) -> Result<Value, ApiError>;

/// The review served at `path` for `method`, if any.
pub(crate) fn answer(method: &Method, path: &str) -> Option<Review> {
    if method != Method::POST {
        return None;
    }
    match path.trim_end_matches('/') {
        "/apis/authentication.k8s.io/v1/selfsubjectreviews" => Some(who_am_i),
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" => Some(can_i),
        _ => None,
    }
}

fn who_am_i(_body: Value) -> Result<Value, ApiError> {
    Ok(json!({
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": {"username": "system:admin", "groups": ["system:masters", "system:authenticated"]}},
    }))
}

fn can_i(body: Value) -> Result<Value, ApiError> {
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    if spec.get("resourceAttributes").is_none() && spec.get("nonResourceAttributes").is_none() {
        return Err(ApiError::invalid_in(
            "authorization.k8s.io",
            "SelfSubjectAccessReview",
            "",
            vec![(
                "spec.resourceAttributes".to_owned(),
                "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified"
                    .to_owned(),
            )],
        ));
    }
    Ok(json!({
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": {"allowed": true, "reason": "fake-apiserver authorizes every request"},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_posts_to_the_two_reviews_are_answered() {
        assert!(
            answer(
                &Method::GET,
                "/apis/authentication.k8s.io/v1/selfsubjectreviews"
            )
            .is_none()
        );
        let who = answer(
            &Method::POST,
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        )
        .unwrap();
        assert_eq!(
            who(json!({})).unwrap()["status"]["userInfo"]["username"],
            "system:admin"
        );
        let can = answer(
            &Method::POST,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        )
        .unwrap();
        let asked = json!({"spec": {"resourceAttributes": {"verb": "list", "resource": "pods"}}});
        assert_eq!(can(asked).unwrap()["status"]["allowed"], true);
        assert_eq!(can(json!({})).unwrap_err().code, 422);
    }
}
