//! Named network namespaces: open one and run code inside it, without `ip netns exec`.
//!
//! A TUN/TAP device is created in the namespace of the thread that opens `/dev/net/tun`, and a
//! netlink socket talks to the namespace of the thread that opened it; both keep that namespace
//! for their whole life. [`Netns::run`] therefore enters the namespace in a short-lived scoped
//! thread, so the caller's own thread never changes namespace.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::sched::CloneFlags;

use crate::error::{Error, Result};

/// Where `ip netns add NAME` bind-mounts the namespace file.
const NETNS_RUN_DIR: &str = "/run/netns";

/// An open network namespace (a handle to `/run/netns/NAME` or any `ns/net` file).
///
/// Cloning is cheap: clones share the open file.
#[derive(Clone, Debug)]
pub struct Netns {
    name: Arc<str>,
    file: Arc<File>,
}

impl Netns {
    /// Open the namespace `ip netns add NAME` created (`/run/netns/NAME`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] if `name` contains `/` or is empty, [`Error::Netns`] if it does not
    /// exist or cannot be opened.
    pub fn open(name: &str) -> Result<Self> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(Error::InvalidName {
                name: name.to_owned(),
                reason: "a namespace name must be non-empty and contain no '/'",
            });
        }
        Self::from_path(Path::new(NETNS_RUN_DIR).join(name))
    }

    /// Open a namespace by path, e.g. `/proc/1234/ns/net`.
    ///
    /// # Errors
    ///
    /// [`Error::Netns`] if the file cannot be opened.
    pub fn from_path(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let display = path.display().to_string();
        let file = File::open(&path).map_err(|source| Error::Netns {
            netns: display.clone(),
            op: "open",
            source,
        })?;
        let name = path
            .file_name()
            .map_or(display, |n| n.to_string_lossy().into_owned());
        Ok(Netns {
            name: name.into(),
            file: Arc::new(file),
        })
    }

    /// The namespace of the calling thread.
    ///
    /// # Errors
    ///
    /// [`Error::Netns`] if `/proc/thread-self/ns/net` cannot be opened.
    pub fn current() -> Result<Self> {
        Self::from_path("/proc/thread-self/ns/net")
    }

    /// The name it was opened by (the last path component).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Run `f` on a scoped thread that has entered this namespace, and return its result.
    ///
    /// File descriptors that `f` opens (TUN/TAP queues, netlink and other sockets) stay bound to
    /// this namespace after it returns. A panic in `f` is resumed on the caller's thread.
    ///
    /// # Errors
    ///
    /// [`Error::Netns`] if `setns(2)` fails (e.g. without `CAP_SYS_ADMIN`).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        std::thread::scope(|scope| {
            let handle = scope.spawn(|| -> Result<T> {
                nix::sched::setns(self.file.as_ref(), CloneFlags::CLONE_NEWNET).map_err(
                    |errno| Error::Netns {
                        netns: self.name.to_string(),
                        op: "setns",
                        source: errno.into(),
                    },
                )?;
                Ok(f())
            });
            match handle.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

/// Run `f` in `netns` when one is given, else on the calling thread.
pub(crate) fn run_in<T: Send>(
    netns: Option<&Netns>,
    f: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    match netns {
        Some(ns) => ns.run(f)?,
        None => f(),
    }
}

impl std::os::fd::AsFd for Netns {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}
