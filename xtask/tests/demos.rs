//! The terminal recordings in `docs/demos/` are replayed in a terminal emulator (`avt`) and
//! checked against the examples as they are now, so a stale recording fails CI:
//!
//! * every example in `examples/Cargo.toml` has a cast, and every cast an example;
//! * each cast is asciicast v2 of the recorded size, its events in time order, no silence
//!   longer than the recorder's idle cap;
//! * every line on the replayed screen (scrollback included) is a prompt running that example or
//!   a line the example's current source can print (a `println!`/`eprintln!` format string, each
//!   `{...}` standing for any text);
//! * the lines [`EXPECTED`] names for the example are format strings in its source and show on
//!   the screen.
//!
//! Changing what an example prints without re-recording (`cargo xtask demo NAME`) fails here.

use std::path::{Path, PathBuf};

/// Terminal size of the recordings (`WIDTH`, `HEIGHT` in `xtask/src/demo.rs`).
const SIZE: (usize, usize) = (110, 30);
/// The recorder's longest silence, in seconds (`IDLE_CAP` in `xtask/src/demo/cast.rs`).
const IDLE_CAP: f64 = 1.0;

/// Per example, format strings from its source that its recording must show.
const EXPECTED: &[(&str, &[&str])] = &[
    (
        "controller",
        &[
            "mode: embedded fake-apiserver at {} (no kubeconfig{}), with a pod workload",
            "Starting Pod controller with {} workers",
            "{who}Sync/Add/Update for Pod {name}",
            "{who}Sync/Add/Update for Pod {name} failed: it is labelled {FAIL_LABEL}",
            "{give_up_who}Dropping pod {key} out of the queue: {error}",
            "{who}Pod {key} does not exist anymore",
            "Starting {replicas} replicas of the Pod controller with {} workers each; they elect a leader over Lease {lease_namespace}/{LEASE}",
            "{me} started leading: re-queueing the {} pods of its warm cache",
            "{} is the leader and shuts down: it releases the lease, a standby takes over",
            "done: {} reconciles, {} errors, {} keys dropped after 5 retries",
        ],
    ),
    (
        "timers",
        &[
            "1. got {:?} before the timeout",
            "2. after 30 ms of not reading a 5 ms ticker, {waiting} tick was waiting",
            "3. stopped the second callback: {}",
            "4. fake clock at +{:?}: fired? {}",
            "   fake clock at +{:?}: fired? {}",
        ],
    ),
    (
        "delta-fifo",
        &[
            "{}: {kinds:?}",
            "  {key} vanished while we were not watching (last known: {:?})",
            "cache after the relist: {names:?}; synced: {}",
        ],
    ),
    (
        "informer",
        &[
            "add    {} on {} (initial list: {initial})",
            "update {}: {} -> {}",
            "delete {} (tombstone: {})",
            "index by-node[node-a] = {on_a:?}",
            "pods per node, counted by handler 2: {:?}",
        ],
    ),
    (
        "tunctl",
        &["created {} (persistent)", "tunctl: {e}", "{dev}"],
    ),
    (
        "tun-ping",
        &[
            "{}: {}/{} up; answering ICMP echo for {} (try: ping {})",
            "recv {len:>5} bytes  {}",
            "sent {len:>5} bytes  {}",
            "{replies} echo replies sent; bye",
        ],
    ),
];

#[test]
fn every_example_has_a_cast_that_matches_it() {
    let root = project_root();
    let examples = examples(&root);
    assert!(
        !examples.is_empty(),
        "no [[example]] in examples/Cargo.toml"
    );
    let mut problems = Vec::new();
    for (name, source) in &examples {
        let cast = root.join("docs/demos").join(format!("{name}.cast"));
        let Ok(text) = std::fs::read_to_string(&cast) else {
            problems.push(format!(
                "{name}: no {} — record it with `cargo xtask demo {name}`",
                cast.display()
            ));
            continue;
        };
        let source = std::fs::read_to_string(root.join("examples").join(source))
            .unwrap_or_else(|e| panic!("reading the source of example {name}: {e}"));
        let expected = EXPECTED
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[][..], |(_, lines)| *lines);
        if expected.is_empty() {
            problems.push(format!("{name}: no EXPECTED lines in xtask/tests/demos.rs"));
        }
        problems.extend(
            check_demo(name, &text, &source, expected)
                .into_iter()
                .map(|p| format!("{name}: {p}")),
        );
    }
    for entry in std::fs::read_dir(root.join("docs/demos")).expect("docs/demos exists") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "cast") {
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            if !examples.iter().any(|(name, _)| *name == stem) {
                problems.push(format!("{} belongs to no example", path.display()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "stale or missing demo recordings (re-record with `cargo xtask demo NAME`):\n  {}",
        problems.join("\n  ")
    );
}

/// Every problem with one example's cast.
fn check_demo(name: &str, cast: &str, source: &str, expected: &[&str]) -> Vec<String> {
    let screen = match replay(cast) {
        Ok(screen) => screen,
        Err(problem) => return vec![problem],
    };
    let templates = format_strings(source);
    let prompt = format!("$ cargo run -q --example {name}");
    let mut problems = Vec::new();
    for line in screen.iter().filter(|l| !l.is_empty()) {
        let is_prompt = line == &prompt || line.starts_with(&format!("{prompt} -- "));
        if !is_prompt && !templates.iter().any(|t| matches(t, line)) {
            problems.push(format!(
                "the cast shows `{line}`, which the example's source no longer prints"
            ));
        }
    }
    if !screen.iter().any(|l| l.starts_with(&prompt)) {
        problems.push(format!("the cast has no `{prompt}` line"));
    }
    for want in expected {
        if !templates.iter().any(|t| t == want) {
            problems.push(format!("the example no longer prints `{want}`"));
        } else if !screen.iter().any(|line| matches(want, line)) {
            problems.push(format!("no line on the replayed screen matches `{want}`"));
        }
    }
    problems
}

/// Replays an asciicast v2 in a terminal of the header's size with unlimited scrollback;
/// returns its logical lines (soft wraps joined, trailing blanks trimmed, empty rows after the
/// last output left out).
fn replay(cast: &str) -> Result<Vec<String>, String> {
    let mut lines = cast.lines();
    let header: serde_json::Value = lines
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or("the first line is not a JSON header")?;
    if header["version"] != 2 {
        return Err(format!("not asciicast v2: version {}", header["version"]));
    }
    let size = (
        header["width"].as_u64().unwrap_or(0) as usize,
        header["height"].as_u64().unwrap_or(0) as usize,
    );
    if size != SIZE {
        return Err(format!("recorded at {size:?}, not {SIZE:?}"));
    }
    for field in ["timestamp", "title", "env"] {
        if header[field].is_null() {
            return Err(format!("the header has no `{field}`"));
        }
    }
    let mut terminal = avt::Terminal::with_scrollback(size.0, size.1, None)
        .map_err(|e| format!("terminal: {e}"))?;
    let mut last = 0.0;
    for (i, line) in lines.enumerate() {
        let event: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("event {}: {e}", i + 1))?;
        let (Some(time), Some("o"), Some(data)) =
            (event[0].as_f64(), event[1].as_str(), event[2].as_str())
        else {
            return Err(format!(
                "event {} is not [time, \"o\", data]: {line}",
                i + 1
            ));
        };
        if time < last || time - last > IDLE_CAP + 1e-9 {
            return Err(format!(
                "event {} at {time}s follows one at {last}s: out of order or a silence over {IDLE_CAP}s",
                i + 1
            ));
        }
        last = time;
        terminal.feed(data);
    }
    let mut text = terminal.primary_screen().text();
    while text.last().is_some_and(String::is_empty) {
        text.pop(); // the unused rows below the last output
    }
    Ok(text)
}

/// The format strings of every `println!`/`eprintln!` in `source`, one template per line they
/// print.
fn format_strings(source: &str) -> Vec<String> {
    // `println!(` also finds every `eprintln!(`.
    const MACRO: &str = "println!(";
    let mut templates = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(MACRO) {
        rest = &rest[at + MACRO.len()..];
        let args = rest.trim_start();
        if args.starts_with(')') {
            templates.push(String::new());
        } else if let Some(literal) = string_literal(args) {
            templates.extend(literal.split('\n').map(str::to_owned));
        }
    }
    templates
}

/// The value of the Rust string literal `text` starts with (plain or raw), if it starts with one.
fn string_literal(text: &str) -> Option<String> {
    if let Some(raw) = text.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let body = raw[hashes..].strip_prefix('"')?;
        let end = body.find(&format!("\"{}", "#".repeat(hashes)))?;
        return Some(body[..end].to_owned());
    }
    let mut chars = text.strip_prefix('"')?.chars();
    let mut value = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                '0' => value.push('\0'),
                '\n' => {
                    // A line continuation: the newline and the next line's indent vanish.
                    chars = chars.as_str().trim_start().chars();
                }
                other => value.push(other), // \\ \" \'
            },
            c => value.push(c),
        }
    }
    None
}

/// Whether `line` is what the format string `template` prints for some arguments: `{{`/`}}` are
/// braces, every other `{...}` is any text.
fn matches(template: &str, line: &str) -> bool {
    let mut pieces = vec![String::new()];
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                pieces.last_mut().expect("one piece").push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                pieces.last_mut().expect("one piece").push('}');
            }
            '{' => {
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
                pieces.push(String::new());
            }
            c => pieces.last_mut().expect("one piece").push(c),
        }
    }
    // pieces[0] is a prefix, the last piece a suffix, the others appear in order between.
    let (first, rest) = pieces.split_first().expect("one piece");
    let Some(mut line) = line.strip_prefix(first.as_str()) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return line.is_empty();
    };
    for piece in middle {
        match line.find(piece.as_str()) {
            Some(at) => line = &line[at + piece.len()..],
            None => return false,
        }
    }
    line.ends_with(last.as_str())
}

/// (name, source file) of every `[[example]]` in `examples/Cargo.toml`.
fn examples(root: &Path) -> Vec<(String, String)> {
    let manifest = std::fs::read_to_string(root.join("examples/Cargo.toml"))
        .expect("examples/Cargo.toml is readable");
    let mut found: Vec<(String, String)> = Vec::new();
    let mut in_example = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_example = line == "[[example]]";
            if in_example {
                found.push((String::new(), String::new()));
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_owned();
        match (in_example, key.trim(), found.last_mut()) {
            (true, "name", Some(entry)) => entry.0 = value,
            (true, "path", Some(entry)) => entry.1 = value,
            _ => {}
        }
    }
    for entry in &mut found {
        if entry.1.is_empty() {
            entry.1 = format!("examples/{}.rs", entry.0); // cargo's default, relative to the package
        }
    }
    found
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

// ===== the checker's own checks: it must be able to fail =====

#[test]
fn a_changed_message_makes_the_cast_stale() {
    let source = r#"fn main() { println!("Synced pod {name}"); println!(
        "done: {} reconciles"); }"#;
    let cast = "{\"version\": 2, \"width\": 110, \"height\": 30, \"timestamp\": 0, \"title\": \"t\", \"env\": {}}\n\
                [0.0, \"o\", \"$ cargo run -q --example demo\\r\\n\"]\n\
                [0.5, \"o\", \"Sync/Add/Update for Pod web-1\\r\\n\"]\n\
                [0.6, \"o\", \"done: 3 reconciles\\r\\n\"]\n";
    let problems = check_demo("demo", cast, source, &["done: {} reconciles"]);
    assert_eq!(
        problems,
        [
            "the cast shows `Sync/Add/Update for Pod web-1`, which the example's source no longer prints"
        ]
    );
    let problems = check_demo("demo", cast, source, &["Synced pod {name}"]);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("no line on the replayed screen matches"))
    );
    let problems = check_demo("demo", cast, source, &["Sync/Add/Update for Pod {name}"]);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("no longer prints `Sync/Add/Update"))
    );
}

#[test]
fn a_malformed_or_slow_cast_is_reported() {
    let header = "{\"version\": 2, \"width\": 110, \"height\": 30, \"timestamp\": 0, \"title\": \"t\", \"env\": {}}";
    assert!(replay("not json").is_err());
    assert!(replay(&header.replace("\"version\": 2", "\"version\": 1")).is_err());
    assert!(replay(&header.replace("110", "80")).is_err());
    assert!(
        replay(&format!(
            "{header}\n[1.0, \"o\", \"a\"]\n[0.5, \"o\", \"b\"]"
        ))
        .is_err()
    );
    assert!(
        replay(&format!(
            "{header}\n[0.5, \"o\", \"a\"]\n[1.6, \"o\", \"b\"]"
        ))
        .is_err()
    );
    assert!(replay(&format!("{header}\n[0.5, \"i\", \"a\"]")).is_err());
    assert_eq!(
        replay(&format!("{header}\n[0.5, \"o\", \"ab\\rc\\r\\n\"]")),
        Ok(vec!["cb".to_owned()])
    );
}

#[test]
fn format_strings_and_matching() {
    let source = "println!(\"a {x} b\\n{{c}}\"); eprintln!(\n  \"one \\\n    two {}\", 1); println!(); println!(r\"raw {}\");";
    let mut found = format_strings(source);
    found.sort();
    assert_eq!(found, ["", "a {x} b", "one two {}", "raw {}", "{{c}}"]);
    assert!(matches("a {x} b", "a 42 b"));
    assert!(matches("a {x} b", "a  b"));
    assert!(!matches("a {x} b", "a 42 c"));
    assert!(matches("{{c}}", "{c}"));
    assert!(!matches("{{c}}", "{d}"));
    assert!(matches("{}: {kinds:?}", "default/a: [Added]"));
    assert!(!matches("{}: {kinds:?}", "no colon"));
    assert!(matches("x", "x") && !matches("x", "xy") && !matches("x", "yx"));
}
