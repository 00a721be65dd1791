//! Shared by the build scripts of every crate whose binaries or tests load libtorch.
//!
//! torch-sys links libtorch dynamically but sets no rpath on the final executables, and the
//! linker drops `libtorch_cuda.so` (nothing references it directly), which silently disables
//! CUDA. This helper fixes both: an rpath to torch's `lib/` (absolute, plus one relative to
//! the workspace for moved checkouts) and `--no-as-needed` for `torch_cuda` when it exists.
//!
//! Architecture and conventions: docs/design.md.

use std::path::{Path, PathBuf};

/// Emit the link arguments. Call from `build.rs` of a crate that depends on `torch-sys`
/// directly (that is what makes `DEP_TCH_LIBTORCH_LIB` visible to its build script).
pub fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from) else {
        println!("cargo:warning=DEP_TCH_LIBTORCH_LIB is not set; no rpath to libtorch added");
        return;
    };
    let lib = lib.canonicalize().unwrap_or(lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    // Binaries live in target/<profile>/ and tests in target/<profile>/deps/.
    if let Some(rel) = relative_to_workspace(&lib) {
        for up in ["$ORIGIN/../..", "$ORIGIN/../../.."] {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{up}/{}", rel.display());
        }
    }
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}

fn relative_to_workspace(lib: &Path) -> Option<PathBuf> {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let root = manifest.parent()?.canonicalize().ok()?;
    lib.strip_prefix(&root).ok().map(Path::to_path_buf)
}
