//! `cargo xtask demo --render`: turns casts into animated SVGs for the README with
//! `svg-term-cli`, an npm package installed on first use into the cargo target folder.
//!
//! Rendering is a chore for whoever updates the README, not a CI step: it needs node and npm.

use std::path::{Path, PathBuf};

use crate::cmd::{Step, available};

/// The npm package that renders a cast as an animated SVG, pinned so renders are comparable.
const SVG_TERM: &str = "svg-term-cli@2.1.1";

/// Renders `cast` into `svg` (a window frame, no cursor), installing the renderer if needed.
pub(crate) fn render(cast: &Path, svg: &Path) -> Result<(), String> {
    let svg_term = svg_term()?;
    let (cast, svg) = (cast.to_string_lossy(), svg.to_string_lossy());
    Step::new(
        "render",
        &svg_term.to_string_lossy(),
        &["--in", &cast, "--out", &svg, "--window", "--no-cursor"],
    )
    .run()?;
    Ok(())
}

/// The `svg-term` program, installed with npm into `<target>/demo-tools` when missing.
fn svg_term() -> Result<PathBuf, String> {
    let tools = target_dir().join("demo-tools");
    let program = tools.join("node_modules").join(".bin").join("svg-term");
    if program.is_file() {
        return Ok(program);
    }
    if !available("npm", &["--version"]) {
        return Err(format!(
            "rendering needs npm (Debian packages `nodejs` and `npm`) to install {SVG_TERM}"
        ));
    }
    let tools_arg = tools.to_string_lossy();
    eprintln!(
        "==> installing {SVG_TERM} from the npm registry into {tools_arg} (once; only for --render)"
    );
    Step::new(
        "install renderer",
        "npm",
        &[
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            &tools_arg,
            SVG_TERM,
        ],
    )
    .run()?;
    if program.is_file() {
        Ok(program)
    } else {
        Err(format!(
            "npm installed {SVG_TERM} but {} is missing",
            program.display()
        ))
    }
}

/// Cargo's target folder: `CARGO_TARGET_DIR`, or `target/` in the workspace.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::project_root().join("target"))
}
