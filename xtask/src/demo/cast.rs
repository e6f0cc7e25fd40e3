//! An asciicast v2 recording being built: a header line (`version` 2, `width`, `height`,
//! `timestamp`, `title`, `env`), then one `[time, "o", data]` line per output event.
//!
//! Made so that re-recording an unchanged example gives a small diff:
//! * one event per complete output line (a line split over two reads is joined, two lines in one
//!   read are split), so the event list does not depend on how the kernel chunked the output;
//! * a silence longer than [`IDLE_CAP`] is shortened to it (asciinema's `-i`), and times are
//!   rounded to [`QUANTUM`], so scheduling jitter below that does not show in a diff;
//! * what differs on every run for no interesting reason is normalised: a loopback port
//!   (`127.0.0.1:43817`) becomes `127.0.0.1:PORT`;
//! * the header's `env` is fixed, and its `timestamp` is `SOURCE_DATE_EPOCH` when that is set.

use std::fmt::Write as _;
use std::time::Duration;

/// The longest silence a cast keeps: longer ones are cut to this, as `asciinema rec -i 1`
/// does, so a viewer never waits on a pause that only the recording machine saw.
pub(crate) const IDLE_CAP: Duration = Duration::from_secs(1);

/// The resolution of event times in a cast: a re-recording moves few events by a whole step.
pub(crate) const QUANTUM: Duration = Duration::from_millis(50);

/// The loopback address whose port is normalised (the embedded API server's port is random).
const LOOPBACK: &str = "127.0.0.1:";

/// An asciicast v2 recording, in memory until [`Cast::to_asciicast`].
pub(crate) struct Cast {
    width: u16,
    height: u16,
    title: String,
    timestamp: u64,
    /// Cast time of the next event: real gaps added up, each capped at [`IDLE_CAP`].
    clock: Duration,
    /// Output after the last newline, waiting for the rest of its line.
    pending: Vec<u8>,
    /// (cast time, one line of output including its line ending), in time order.
    events: Vec<(Duration, String)>,
}

impl Cast {
    pub(crate) fn new(width: u16, height: u16, title: &str, timestamp: u64) -> Cast {
        Cast {
            width,
            height,
            title: title.to_owned(),
            timestamp,
            clock: Duration::ZERO,
            pending: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Moves the cast's clock on by `gap`, but never more than [`IDLE_CAP`] past the last event:
    /// however the waits add up, no silence in the cast is longer than the cap.
    pub(crate) fn wait(&mut self, gap: Duration) {
        let last = self.events.last().map_or(Duration::ZERO, |(t, _)| *t);
        self.clock = (self.clock + gap).min(last + IDLE_CAP);
    }

    /// Terminal output at the current time: every line it completes becomes an event.
    pub(crate) fn output(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.push(&line);
        }
    }

    /// Emits a last line that has no newline.
    pub(crate) fn flush(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.push(&line);
        }
    }

    /// Number of events so far.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// Cast time of the last event.
    pub(crate) fn duration(&self) -> Duration {
        self.events.last().map_or(Duration::ZERO, |(t, _)| *t)
    }

    /// The recording in asciicast v2, one JSON document a line.
    pub(crate) fn to_asciicast(&self) -> String {
        let mut out = format!(
            "{{\"version\": 2, \"width\": {}, \"height\": {}, \"timestamp\": {}, \"title\": {}, \
             \"env\": {{\"SHELL\": \"/bin/sh\", \"TERM\": \"xterm-256color\"}}}}\n",
            self.width,
            self.height,
            self.timestamp,
            json_string(&self.title)
        );
        for (time, data) in &self.events {
            let time = quantise(*time);
            let _ = writeln!(
                out,
                "[{}.{:03}, \"o\", {}]",
                time.as_secs(),
                time.subsec_millis(),
                json_string(data)
            );
        }
        out
    }

    fn push(&mut self, line: &[u8]) {
        let text = normalise(&String::from_utf8_lossy(line));
        self.events.push((self.clock, text));
    }
}

/// The `timestamp` for a header: `SOURCE_DATE_EPOCH` if set (for reproducible files), else now.
pub(crate) fn timestamp() -> Result<u64, String> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value
            .parse()
            .map_err(|_| format!("SOURCE_DATE_EPOCH is not a number of seconds: `{value}`")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .map_err(|e| format!("the system clock is before 1970: {e}")),
    }
}

/// `time` rounded to the nearest multiple of [`QUANTUM`] (monotonic: a later time never rounds
/// to an earlier one).
fn quantise(time: Duration) -> Duration {
    let quantum = QUANTUM.as_nanos();
    let steps = (time.as_nanos() + quantum / 2) / quantum;
    QUANTUM * u32::try_from(steps).unwrap_or(u32::MAX)
}

/// Replaces the port after every `127.0.0.1:` with `PORT`.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(LOOPBACK) {
        let after = &rest[at + LOOPBACK.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(&rest[..at + LOOPBACK.len()]);
        if digits > 0 {
            out.push_str("PORT");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_whole_lines_whatever_the_reads() {
        let mut cast = Cast::new(100, 30, "t", 0);
        cast.output(b"hel");
        cast.wait(Duration::from_millis(250));
        cast.output(b"lo\r\nwor");
        cast.output(b"ld\r\nlast");
        cast.flush();
        let lines: Vec<&str> = cast.events.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(lines, ["hello\r\n", "world\r\n", "last"]);
        assert!(
            cast.events
                .iter()
                .all(|(t, _)| *t == Duration::from_millis(250))
        );
    }

    #[test]
    fn long_silences_are_capped() {
        let mut cast = Cast::new(100, 30, "t", 0);
        cast.wait(Duration::from_secs(30));
        cast.output(b"a\n");
        cast.wait(Duration::from_millis(1500));
        cast.wait(Duration::from_millis(200));
        cast.output(b"b\n");
        assert_eq!(cast.events[0].0, IDLE_CAP);
        assert_eq!(cast.events[1].0, IDLE_CAP * 2);
        cast.wait(Duration::from_millis(300));
        cast.wait(Duration::from_millis(400));
        cast.output(b"c\n");
        assert_eq!(cast.events[2].0, IDLE_CAP * 2 + Duration::from_millis(700));
    }

    #[test]
    fn times_are_rounded_to_the_quantum() {
        assert_eq!(quantise(Duration::from_millis(24)), Duration::ZERO);
        assert_eq!(quantise(Duration::from_millis(25)), QUANTUM);
        assert_eq!(
            quantise(Duration::from_millis(1234)),
            Duration::from_millis(1250)
        );
        assert_eq!(quantise(Duration::from_secs(7)), Duration::from_secs(7));
    }

    #[test]
    fn loopback_ports_are_normalised() {
        assert_eq!(
            normalise("at http://127.0.0.1:43817 and 127.0.0.1:9/x, 127.0.0.1: 10.0.0.1:80"),
            "at http://127.0.0.1:PORT and 127.0.0.1:PORT/x, 127.0.0.1: 10.0.0.1:80"
        );
    }

    #[test]
    fn asciicast_v2_header_and_events() {
        let mut cast = Cast::new(100, 30, "a \"demo\"", 1_700_000_000);
        cast.wait(Duration::from_millis(734));
        cast.output("é\t\u{1b}[1mx\r\n".as_bytes());
        let text = cast.to_asciicast();
        let mut lines = text.lines();
        let header: serde_json::Value =
            serde_json::from_str(lines.next().expect("a header")).expect("header is JSON");
        assert_eq!(header["version"], 2);
        assert_eq!(header["width"], 100);
        assert_eq!(header["height"], 30);
        assert_eq!(header["timestamp"], 1_700_000_000u64);
        assert_eq!(header["title"], "a \"demo\"");
        assert_eq!(header["env"]["TERM"], "xterm-256color");
        let event: serde_json::Value =
            serde_json::from_str(lines.next().expect("an event")).expect("event is JSON");
        assert_eq!(event, serde_json::json!([0.75, "o", "é\t\u{1b}[1mx\r\n"]));
        assert_eq!(lines.next(), None);
    }
}
