//! The TypeScript types of the option shapes, generated from core's serde types with
//! ts-rs into `node/types.d.ts` (which the generated `node/index.d.ts` imports). Run with
//! `--features ts`; `KEEL_UPDATE_TYPES=1` rewrites the file, otherwise the test fails
//! when the committed file is stale (bindings-tests/node/check-generated.sh runs it).
#![cfg(feature = "ts")]

use keel_core::credentials::{
    CredentialFileOptions, EnrollmentStoreOptions, KeyringChoice, StoreChoice,
};
use keel_core::jobs::{CommandOptions, RegistryOptions};
use keel_core::redact::{CustomRuleOptions, RedactorOptions};
use ts_rs::{Config, TS};

fn decl<T: TS>(cfg: &Config) -> String {
    format!("export {}\n", T::decl(cfg))
}

#[test]
fn node_types_are_fresh() {
    let cfg = Config::default();
    let mut out = String::from(
        "// Generated from keel-core's serde option types by core/tests/ts_types.rs (ts-rs).\n\
         // Do not edit: run `KEEL_UPDATE_TYPES=1 cargo test -p keel-core --features ts --test ts_types`.\n\n",
    );
    for d in [
        decl::<RedactorOptions>(&cfg),
        decl::<CustomRuleOptions>(&cfg),
        decl::<EnrollmentStoreOptions>(&cfg),
        decl::<KeyringChoice>(&cfg),
        decl::<StoreChoice>(&cfg),
        decl::<CredentialFileOptions>(&cfg),
        decl::<RegistryOptions>(&cfg),
        decl::<CommandOptions>(&cfg),
    ] {
        out.push_str(&d);
        out.push('\n');
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../node/types.d.ts");
    if std::env::var_os("KEEL_UPDATE_TYPES").is_some() {
        std::fs::write(&path, &out).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == out,
        "node/types.d.ts is stale: run KEEL_UPDATE_TYPES=1 cargo test --release -p keel-core --features ts --test ts_types"
    );
}
