//! Running the real `kubectl` against a test server, with its default flags.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use fake_apiserver::ServerHandle;

/// Whether `kubectl` is on this machine; tests that need it skip, loudly, without it.
pub fn installed() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A kubeconfig for one server in a folder of its own, removed on drop.
pub struct Kubectl {
    dir: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    pub fn new(server: &ServerHandle, test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("fake-apiserver-{test}-{}", server.addr().port()));
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("kubeconfig");
        server.write_kubeconfig(&kubeconfig).unwrap();
        Self { dir, kubeconfig }
    }

    /// The kubeconfig's path, for commands run by hand.
    pub fn kubeconfig(&self) -> &str {
        self.kubeconfig.to_str().unwrap_or_default()
    }

    /// Write `contents` to a file in the folder; its path.
    pub fn file(&self, name: &str, contents: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }

    /// `kubectl ARGS`: whether it succeeded, and its stdout then stderr.
    pub fn run(&self, args: &[&str]) -> (bool, String) {
        self.run_with(args, &[], None)
    }

    /// `kubectl ARGS` with extra environment variables and, if given, `stdin`.
    pub fn run_with(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> (bool, String) {
        tokio::task::block_in_place(|| {
            let mut child = Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .arg("--request-timeout=10s")
                .args(args)
                .envs(env.iter().copied())
                .stdin(if stdin.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("kubectl starts");
            if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
                pipe.write_all(text.as_bytes()).unwrap();
            }
            let out = child.wait_with_output().expect("kubectl runs");
            (
                out.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            )
        })
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
