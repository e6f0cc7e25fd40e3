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
    // Compared as bytes: the canonical form is what the splitter cut, and serde_json's float
    // parsing does not always give back the same f64 for a re-serialized float.
    let canonical = serde_json::to_vec(&list).expect("a value serializes");
    let (got, skeleton) = split_list(&canonical, piece, false).expect("a well-formed list splits");
    assert_eq!(got.len(), items.len());
    for (bytes, want) in got.iter().zip(&items) {
        assert_eq!(
            bytes,
            &serde_json::to_vec(want).expect("a value serializes")
        );
    }
    list["items"] = Value::Array(Vec::new());
    assert_eq!(
        skeleton,
        serde_json::to_vec(&list).expect("a value serializes"),
        "the skeleton is the list without its items"
    );
});
