//! Dry runs (`dryRun=All`): a write goes through every check, default and admission step, and
//! answers what it would have stored, but nothing is stored, no resourceVersion is spent and no
//! watcher hears of it, as on the real server (`kubectl apply --dry-run=server`,
//! `kubectl diff`, `kubectl delete --dry-run=server`).
//!
//! The store's writes are synchronous, so the request marks its own thread for the length of
//! the store call ([`during`]), and the store's one commit point looks at the mark
//! ([`active`]): the same code path decides what a dry run answers and what a real write
//! stores.

use std::cell::Cell;

use serde_json::Value;

use crate::status::ApiError;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
}

/// Whether the write being committed on this thread is a dry run.
pub(crate) fn active() -> bool {
    ACTIVE.with(Cell::get)
}

/// Run `write` as a dry run when `dry`.
pub(crate) fn during<T>(dry: bool, write: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            ACTIVE.with(|a| a.set(self.0));
        }
    }
    let _reset = Reset(ACTIVE.with(|a| a.replace(dry)));
    write()
}

/// The `dryRun` query parameter of a write whose options are `kind` (`CreateOptions`, ...):
/// `All` or absent; anything else is the real server's 422.
pub(crate) fn from_query(value: Option<&str>, kind: &str) -> Result<bool, ApiError> {
    match value {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(unsupported(&[other], kind)),
    }
}

/// The `dryRun` list of a `DeleteOptions` body.
pub(crate) fn from_options(options: &Value) -> Result<bool, ApiError> {
    let Some(list) = options.get("dryRun").filter(|v| !v.is_null()) else {
        return Ok(false);
    };
    let values: Vec<&str> = list
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if list.as_array().is_none() || values.iter().any(|v| *v != "All") {
        return Err(unsupported(&values, "DeleteOptions"));
    }
    Ok(!values.is_empty())
}

fn unsupported(values: &[&str], kind: &str) -> ApiError {
    let shown: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    ApiError::invalid_in(
        "meta.k8s.io",
        kind,
        "",
        vec![(
            "dryRun".to_owned(),
            format!(
                "Unsupported value: []string{{{}}}: supported values: \"All\"",
                shown.join(", ")
            ),
        )],
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_mark_holds_for_the_call_only() {
        assert!(!active());
        assert!(during(true, active));
        assert!(!active());
        assert!(!during(true, || during(false, active)));
        assert!(!during(false, active));
    }

    #[test]
    fn values_other_than_all_are_refused_as_the_real_server_words_it() {
        assert!(from_query(Some("All"), "CreateOptions").unwrap());
        assert!(!from_query(None, "CreateOptions").unwrap());
        let err = from_query(Some("Bogus"), "CreateOptions").unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(
            err.message,
            "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"Bogus\"}: supported values: \"All\""
        );
        assert!(from_options(&json!({"dryRun": ["All"]})).unwrap());
        assert!(!from_options(&json!({})).unwrap());
        assert!(from_options(&json!({"dryRun": ["Nope"]})).is_err());
    }
}
