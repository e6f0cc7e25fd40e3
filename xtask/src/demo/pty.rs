//! Running a command under a pseudo-terminal of a fixed size, keeping what it prints and when.
//!
//! The child's stdin, stdout and stderr are the pty's slave side, so it sees a terminal
//! (`isatty` is true, output is line-buffered, `\n` becomes `\r\n`) of exactly the recorded size.
//! A thread reads the master side until the kernel reports the slave closed (`EIO` on Linux) and
//! stamps each read with the time since the start. No `unsafe`: `nix::pty::openpty` hands back
//! owned descriptors and `std::process::Command` does the rest.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::pty::{Winsize, openpty};

/// What one read of the terminal returned, and when.
pub(crate) struct Chunk {
    /// Time since the command started.
    pub(crate) at: Duration,
    pub(crate) bytes: Vec<u8>,
}

/// What a command printed on its terminal, and how it ended.
pub(crate) struct Output {
    pub(crate) chunks: Vec<Chunk>,
    pub(crate) status: ExitStatus,
}

/// Runs `command` on a new `width`×`height` terminal and waits for it to end.
#[allow(
    clippy::disallowed_methods,
    reason = "a recording stamps output with real time: that is what it records"
)]
pub(crate) fn run(mut command: Command, width: u16, height: u16) -> Result<Output, String> {
    let program = format!("{:?}", command.get_program());
    let size = Winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(&size, None).map_err(|e| format!("cannot open a pseudo-terminal: {e}"))?;
    let slave = |what: &str| -> Result<Stdio, String> {
        pty.slave
            .try_clone()
            .map(Stdio::from)
            .map_err(|e| format!("cannot duplicate the terminal for {what}: {e}"))
    };
    command
        .stdin(slave("stdin")?)
        .stdout(slave("stdout")?)
        .stderr(slave("stderr")?);
    let start = Instant::now();
    let spawned = command.spawn();
    // Our copies of the slave side must go, or the reader would never see it close.
    drop(command);
    drop(pty.slave);
    let mut child = spawned.map_err(|e| format!("cannot start {program}: {e}"))?;
    let reader = std::thread::spawn(move || read_all(pty.master, start));
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {program}: {e}"));
    let chunks = reader
        .join()
        .map_err(|_| format!("the terminal reader of {program} panicked"))?
        .map_err(|e| format!("reading the terminal of {program}: {e}"))?;
    Ok(Output {
        chunks,
        status: status?,
    })
}

#[allow(
    clippy::disallowed_methods,
    reason = "a recording stamps output with real time: that is what it records"
)]
fn read_all(master: OwnedFd, start: Instant) -> std::io::Result<Vec<Chunk>> {
    let mut master = File::from(master);
    let mut chunks = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => chunks.push(Chunk {
                at: start.elapsed(),
                bytes: buf[..n].to_vec(),
            }),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Linux reports a pty whose slave side is closed by every process as EIO.
            Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_sees_a_terminal_of_the_given_size() {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "stty size; test -t 1 && echo tty; echo err >&2; exit 3",
        ]);
        let output = run(command, 77, 19).expect("sh runs");
        let text: Vec<u8> = output.chunks.iter().flat_map(|c| c.bytes.clone()).collect();
        assert_eq!(String::from_utf8_lossy(&text), "19 77\r\ntty\r\nerr\r\n");
        assert_eq!(output.status.code(), Some(3));
        assert!(output.chunks.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn a_missing_program_is_an_error_that_names_it() {
        let error = run(Command::new("/nonexistent/flywheel-demo"), 80, 24)
            .err()
            .expect("cannot start");
        assert!(error.contains("/nonexistent/flywheel-demo"), "{error}");
    }
}
