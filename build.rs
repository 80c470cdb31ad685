//! Generates the C header for keel's C ABI with cbindgen.
//!
//! How the header is produced, committed and checked:
//!
//! * This script always writes `$OUT_DIR/keel.h`, generated from `ffi/` (every
//!   module reached from `ffi/lib.rs`) with `cbindgen.toml`. It never writes into
//!   the source tree, so a build never dirties a checkout and the result depends
//!   only on the sources and the locked cbindgen version (deterministic).
//! * `include/keel.h` is the committed copy that C and Swift users include.
//! * `bindings-tests/c/check-header.sh` builds the crate, finds this build's
//!   `OUT_DIR` (from cargo's `build-script-executed` message) and diffs the fresh
//!   header with `include/keel.h`: exit 1 with the diff when they differ, so CI
//!   fails on a stale committed header. `check-header.sh --update` copies the fresh
//!   header into `include/keel.h` instead; commit it with the change to `ffi/`.
//! * `bindings-tests/c/run.sh` runs that check before compiling the C tests, so
//!   the tests never run against a stale header.

use std::env;
use std::path::PathBuf;

fn main() {
    let crate_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR is set by cargo"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    println!("cargo:rerun-if-changed=ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .unwrap_or_else(|e| panic!("cannot read cbindgen.toml: {e}"));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("ffi").join("lib.rs"))
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen could not generate keel.h from ffi/: {e}"));
    bindings.write_to_file(out_dir.join("keel.h"));
}
