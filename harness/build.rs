//! Embeds the built-in scenario files (`../scenarios/**/*.toml`, or `scenarios/` in a published
//! crate) in the binary, so that an installed harness carries its checks with it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // `examples/` holds scenarios for users to copy, not built-in checks.
        if path.is_dir() && !path.ends_with("examples") {
            // A file added to a subdirectory changes only that directory's entry list.
            println!("cargo:rerun-if-changed={}", relative(&path));
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

/// `path` relative to the harness package, as cargo resolves `rerun-if-changed` paths.
fn relative(path: &Path) -> String {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Ok(rest) = path.strip_prefix(base) {
        return rest.to_string_lossy().replace('\\', "/");
    }
    match path.strip_prefix(base.join("..")) {
        Ok(rest) => format!("../{}", rest.to_string_lossy().replace('\\', "/")),
        Err(_) => path.display().to_string(),
    }
}

/// Where the scenario files are, relative to the harness package: the workspace's `scenarios/`
/// in a checkout (where `harness/scenarios` is only a symbolic link to it, so that `cargo
/// package` copies the files into the crate), and the copied directory in a published crate.
fn scenarios_dir() -> &'static str {
    let inside = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    match inside.symlink_metadata() {
        Ok(meta) if meta.is_dir() => "scenarios",
        _ => "../scenarios",
    }
}

fn main() {
    let dir = scenarios_dir();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    // Relative paths keep the rerun check and the embedded files tied to this checkout, even
    // when another checkout of the workspace shares the target directory.
    println!("cargo:rerun-if-changed={dir}");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    // An empty catalogue would build a harness that judges nothing and says so only at run time;
    // refuse instead (a checkout without scenarios/, or one removed under a shared target dir).
    if files.is_empty() {
        panic!(
            "no scenario files under {}: the harness needs the workspace's scenarios/ directory",
            root.display()
        );
    }
    let mut code = String::from(
        "/// Built-in scenario files: (path relative to scenarios/, contents).\npub static BUILTIN: &[(&str, &str)] = &[\n",
    );
    for file in &files {
        println!("cargo:rerun-if-changed={}", relative(file));
        let rel = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .to_string_lossy()
            .replace('\\', "/");
        // Resolved when the harness compiles, against its own manifest directory.
        writeln!(
            code,
            "    ({rel:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/{dir}/{rel}\"))),"
        )
        .ok();
    }
    code.push_str("];\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("builtin_scenarios.rs");
    std::fs::write(out, code).unwrap_or_else(|e| panic!("cannot write the scenario index: {e}"));
}
