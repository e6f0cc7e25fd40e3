//! Any bytes as a list answer: the informer's streaming splitter gives the same items and
//! skeleton however the bytes are cut into pieces, never panics, and, for a well-formed list,
//! hands over exactly its items, with a skeleton that is the list without them.
#![no_main]

use informer::fuzzing::split_list;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&piece, answer)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece % 32) + 1;
    for strip in [false, true] {
        let whole = split_list(answer, answer.len(), strip);
        let cut = split_list(answer, piece, strip);
        assert_eq!(whole, cut, "the split depends on how the bytes arrive");
    }
    // A well-formed list, written canonically (no duplicate keys): its items come out whole.
    let Ok(mut list @ Value::Object(_)) = serde_json::from_slice::<Value>(answer) else {
        return;
    };
    let Some(Value::Array(items)) = list.get("items").cloned() else {
        return;
    };
    if !items.iter().all(Value::is_object) {
        return;
    }
    let canonical = serde_json::to_vec(&list).expect("a value serializes");
    let (got, skeleton) = split_list(&canonical, piece, false).expect("a well-formed list splits");
    assert_eq!(got.len(), items.len());
    for (bytes, want) in got.iter().zip(&items) {
        let item: Value = serde_json::from_slice(bytes).expect("an item is JSON");
        assert_eq!(&item, want);
    }
    list["items"] = Value::Array(Vec::new());
    let skeleton: Value = serde_json::from_slice(&skeleton).expect("the skeleton is JSON");
    assert_eq!(skeleton, list);
});
