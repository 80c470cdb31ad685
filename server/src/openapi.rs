//! `GET /openapi.json`: the hand-written OpenAPI 3.1 document of every route (checked
//! against the server by schemathesis in `server/tests/contract.sh`).

/// The OpenAPI document of a server without a services source.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// The `/managed-processes` path item, added when a services source is configured.
const MANAGED_PATH: &str = include_str!("openapi-managed.json");

/// The document a server serves: every route it answers, `/managed-processes` only
/// when it has a services source.
pub(crate) fn document(managed: bool) -> Vec<u8> {
    if !managed {
        return OPENAPI_JSON.as_bytes().to_vec();
    }
    let mut doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json");
    let item: serde_json::Value = serde_json::from_str(MANAGED_PATH).expect("openapi-managed.json");
    doc["paths"]["/managed-processes"] = item;
    serde_json::to_vec(&doc).expect("openapi JSON")
}
