//! Running a command as one named, timed step.

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

/// A command line with its environment, printable as something to paste into a shell.
pub(crate) struct Step {
    pub(crate) name: &'static str,
    program: String,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl Step {
    pub(crate) fn new<S: AsRef<str>>(name: &'static str, program: &str, args: &[S]) -> Step {
        Step {
            name,
            program: program.to_owned(),
            args: args.iter().map(|a| a.as_ref().to_owned()).collect(),
            envs: Vec::new(),
        }
    }

    pub(crate) fn env(mut self, key: &str, value: &str) -> Step {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The command as a shell line: what to run by hand to reproduce this step.
    pub(crate) fn shell_line(&self) -> String {
        let mut line = String::new();
        for (k, v) in &self.envs {
            let _ = write!(line, "{k}={} ", quote(v));
        }
        line.push_str(&self.program);
        for arg in &self.args {
            line.push(' ');
            line.push_str(&quote(arg));
        }
        line
    }

    /// Runs the step from the project root; returns its duration, or an error naming the
    /// command to rerun.
    #[allow(
        clippy::disallowed_methods,
        reason = "the xtask times its own steps on the real clock"
    )]
    pub(crate) fn run(&self) -> Result<Duration, String> {
        let start = Instant::now();
        let status = Command::new(&self.program)
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .current_dir(crate::project_root())
            .status()
            .map_err(|e| format!("could not start `{}`: {e}", self.program))?;
        let took = start.elapsed();
        if status.success() {
            Ok(took)
        } else {
            Err(format!(
                "step `{}` failed ({status}) after {}\n  rerun by hand: {}",
                self.name,
                seconds(took),
                self.shell_line()
            ))
        }
    }
}

/// `12.3s`.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=./:,+@".contains(c))
    {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Whether a program can be run (e.g. `cargo nextest --version`).
pub(crate) fn available(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The positive number after `flag` in `args`: `--rounds 3`.
pub(crate) fn positive<'a, N>(
    args: &mut impl Iterator<Item = &'a String>,
    flag: &str,
) -> Result<N, String>
where
    N: std::str::FromStr + PartialOrd + Default,
{
    args.next()
        .and_then(|n| n.parse::<N>().ok())
        .filter(|n| *n > N::default())
        .ok_or_else(|| format!("{flag} takes a positive number"))
}
