//! Strategic merge patch on the built-in schemas: merge keys, directives, order, errors.

use serde_json::{Value, json};

use super::{StrategicError, apply};
use crate::schema::facts;

fn pod(patch: Value, original: Value) -> Result<Value, StrategicError> {
    apply(original, patch, facts().kind("", "v1", "Pod").unwrap())
}

fn deployment(patch: Value, original: Value) -> Result<Value, StrategicError> {
    apply(
        original,
        patch,
        facts().kind("apps", "v1", "Deployment").unwrap(),
    )
}

fn containers(value: &Value) -> Vec<&str> {
    value["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

fn one_container() -> Value {
    json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "main", "image": "a", "args": ["x", "y"]}]}})
}

#[test]
fn containers_merge_by_name_new_items_first() {
    let out = pod(
        json!({"spec": {"containers": [{"name": "side", "image": "b"}]}}),
        one_container(),
    )
    .unwrap();
    assert_eq!(containers(&out), ["side", "main"]);
    let out = pod(
        json!({"spec": {"containers": [{"name": "main", "image": "c"}]}}),
        one_container(),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "main", "image": "c", "args": ["x", "y"]}])
    );
}

#[test]
fn a_list_without_the_merge_strategy_is_replaced() {
    let out = pod(
        json!({"spec": {"containers": [{"name": "main", "args": ["z"]}]}}),
        one_container(),
    )
    .unwrap();
    assert_eq!(out["spec"]["containers"][0]["args"], json!(["z"]));
}

#[test]
fn delete_and_replace_directives_in_a_merged_list() {
    let two = pod(
        json!({"spec": {"containers": [{"name": "side", "image": "b"}]}}),
        one_container(),
    )
    .unwrap();
    let out = pod(
        json!({"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}),
        two.clone(),
    )
    .unwrap();
    assert_eq!(containers(&out), ["main"]);
    assert!(!out.to_string().contains("$patch"));
    let out = pod(
        json!({"spec": {"containers": [{"name": "new", "image": "n"}, {"$patch": "replace"}]}}),
        two,
    )
    .unwrap();
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "new", "image": "n"}])
    );
}

#[test]
fn a_directive_in_a_new_subtree_is_dropped_not_stored() {
    let out = pod(
        json!({"spec": {"initContainers": [{"name": "gone", "$patch": "delete"}, {"name": "init", "image": "i"}]}}),
        one_container(),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["initContainers"],
        json!([{"name": "init", "image": "i"}])
    );
}

#[test]
fn map_directives_replace_and_delete() {
    let original = json!({"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}}});
    let out = pod(
        json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
        original.clone(),
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"c": "3"}));
    let out = pod(
        json!({"metadata": {"labels": {"$patch": "delete"}}}),
        original.clone(),
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({}));
    let out = pod(
        json!({"metadata": {"labels": {"a": null, "d": "4"}}}),
        original,
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"b": "2", "d": "4"}));
}

#[test]
fn primitive_lists_merge_as_sets_and_delete_from_primitive_list() {
    let original = json!({"metadata": {"name": "p", "finalizers": ["a", "b"]}});
    let out = pod(
        json!({"metadata": {"finalizers": ["b", "c"]}}),
        original.clone(),
    )
    .unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
    let out = pod(
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]}}),
        original,
    )
    .unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
}

#[test]
fn retain_keys_clears_what_it_does_not_name() {
    let original =
        json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
    let out = deployment(
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
        original.clone(),
    )
    .unwrap();
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    let err = deployment(
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}),
        original.clone(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        StrategicError::BadRequest("invalid patch format of retainKeys".into())
    );
    let err = deployment(
        json!({"spec": {"strategy": {"$retainKeys": "type"}}}),
        original,
    )
    .unwrap_err();
    assert_eq!(
        err,
        StrategicError::BadRequest("invalid patch format of retainKeys".into())
    );
}

#[test]
fn set_element_order_orders_the_merged_list() {
    let two = pod(
        json!({"spec": {"containers": [{"name": "side", "image": "b"}]}}),
        one_container(),
    )
    .unwrap();
    assert_eq!(containers(&two), ["side", "main"]);
    let out = pod(
        json!({"spec": {"$setElementOrder/containers": [{"name": "main"}, {"name": "side"}], "containers": [{"name": "side", "image": "b2"}]}}),
        two.clone(),
    )
    .unwrap();
    assert_eq!(containers(&out), ["main", "side"]);
    assert_eq!(out["spec"]["containers"][1]["image"], "b2");
    let err = pod(
        json!({"spec": {"$setElementOrder/containers": "main"}}),
        two.clone(),
    )
    .unwrap_err();
    assert!(
        matches!(err, StrategicError::Internal(ref m) if m == "expected a []interface {}, but received a string"),
        "{err:?}"
    );
    let err = pod(json!({"spec": {"$setElementOrder": []}}), two).unwrap_err();
    assert_eq!(
        err,
        StrategicError::BadRequest("invalid patch format of setElementOrder list".into())
    );
}

#[test]
fn errors_carry_the_real_servers_class_and_message() {
    let err = pod(
        json!({"spec": {"containers": [{"image": "x"}]}}),
        one_container(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        StrategicError::Internal(
            "map: map[image:x] does not contain declared merge key: name".into()
        )
    );
    let err = pod(
        json!({"metadata": {"labels": {"$patch": "bogus"}}}),
        json!({"metadata": {"labels": {"a": "1"}}}),
    )
    .unwrap_err();
    assert_eq!(
        err,
        StrategicError::Internal("unknown patch type: bogus in map: map[$patch:bogus]".into())
    );
    let err = pod(
        json!({"metadata": {"finalizers": [["a"]]}}),
        json!({"metadata": {"finalizers": []}}),
    )
    .unwrap_err();
    assert_eq!(
        err,
        StrategicError::Invalid("lists of lists are not supported".into())
    );
    let err = pod(
        json!({"metadata": {"finalizers": [["a"]]}}),
        json!({"metadata": {"finalizers": ["b"]}}),
    )
    .unwrap_err();
    assert_eq!(
        err,
        StrategicError::Internal("list element types are not identical: [[b] [[a]]]".into())
    );
    let err = pod(json!([1]), one_container()).unwrap_err();
    assert!(
        matches!(err, StrategicError::BadRequest(ref m) if m.contains("cannot unmarshal array")),
        "{err:?}"
    );
    let err = pod(
        json!({"metadata": {"$deleteFromPrimitiveList": ["a"]}}),
        one_container(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        StrategicError::BadRequest("invalid patch format of primitive list".into())
    );
    assert_eq!(pod(Value::Null, one_container()).unwrap(), one_container());
}

#[test]
fn a_field_of_another_type_is_replaced_and_unknown_fields_merge_as_maps() {
    let out = pod(json!({"spec": {"containers": "oops"}}), one_container()).unwrap();
    assert_eq!(out["spec"]["containers"], "oops");
    let original = json!({"spec": {"extra": {"a": 1, "list": [1, 2]}}});
    let out = pod(json!({"spec": {"extra": {"b": 2, "list": [3]}}}), original).unwrap();
    assert_eq!(out["spec"]["extra"], json!({"a": 1, "b": 2, "list": [3]}));
}
