//! `GET /openapi.json`: the hand-written OpenAPI 3.1 document of every route (checked
//! against the server by schemathesis in `server/tests/schemathesis.sh`).

/// The OpenAPI document the server serves.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");
