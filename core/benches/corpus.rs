// Deterministic benchmark corpus: realistic agent / build / CI log lines, with about
// 2% of lines carrying a secret (a known value, its base64, or a credential shape).

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn token(&mut self, len: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len).map(|_| A[self.below(A.len())] as char).collect()
    }
}

/// `n` random 24-character secrets (leased tokens).
pub fn secrets(n: usize) -> Vec<String> {
    let mut rng = Rng(0x5EED_0001);
    (0..n)
        .map(|i| format!("lease-{i:04}-{}", rng.token(13)))
        .collect()
}

const FILLER: &[&str] = &[
    "2026-11-22T09:14:02.118Z INFO  runner: job 8812 step=clone status=ok duration_ms=2513",
    "   Compiling serde_json v1.0.120 (registry+https://github.com/rust-lang/crates.io-index)",
    "warning: unused variable: `config`",
    "  --> core/src/redact/rules.rs:412:9",
    "npm WARN deprecated inflight@1.0.6: This module is not supported, and leaks memory.",
    "added 1432 packages, and audited 1433 packages in 12s",
    r#"{"type":"assistant","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","role":"assistant","content":[{"type":"text","text":"Let me read the failing test first."}]},"session_id":"4c1a7e9e-8d2f"}"#,
    r#"{"type":"result","subtype":"success","duration_ms":48211,"usage":{"input_tokens":1200,"output_tokens":88,"cache_read_input_tokens":5120},"total_cost_usd":0.0412}"#,
    "remote: Counting objects: 100% (42/42), done.",
    "From https://github.com/acme/app",
    " * branch            main       -> FETCH_HEAD",
    "10.0.3.7 - - [22/Nov/2026:09:14:02 +0000] \"GET /api/v1/items?page=2&sort=desc HTTP/1.1\" 200 1532 \"-\" \"curl/8.5.0\"",
    "test redact::tests::idempotent ... ok",
    "    at Object.<anonymous> (/app/node_modules/@acme/runner/dist/index.js:12:5)",
    "  File \"/usr/lib/python3.11/site-packages/pip/_internal/cli/main.py\", line 79, in main",
    "Step 4/12 : RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates",
    "2026-11-22 09:14:05,221 DEBUG [worker-3] cache hit key=deps-linux-x64 size=48213 ttl=3600",
    "model=claude-sonnet max_tokens=4096 temperature=0.2 stream=true",
    "diff --git a/src/index.ts b/src/index.ts",
    "+  const timeoutMs = Number(process.env.JOB_TIMEOUT_MS ?? 60_000)",
    "error[E0308]: mismatched types: expected `usize`, found `u64`",
    "Running 128 tests using 4 workers",
    "::group::Run actions/checkout@v4",
    "token_type: bearer, expires_in: 3599, scope: repo workflow",
];

/// A log of about `bytes` bytes; every 50th line (2%) carries a secret.
pub fn log(bytes: usize, secrets: &[String]) -> Vec<u8> {
    let mut rng = Rng(0x5EED_0002);
    let mut out = Vec::with_capacity(bytes + 256);
    let mut line = 0usize;
    while out.len() < bytes {
        line += 1;
        if line.is_multiple_of(50) {
            let s = if secrets.is_empty() {
                rng.token(24)
            } else {
                secrets[rng.below(secrets.len())].clone()
            };
            let planted = match rng.below(6) {
                0 => format!("2026-11-22T09:14:06.447Z DEBUG http: POST /v1/messages Authorization: Bearer {s}"),
                1 => format!("export LEASE={s} && ./run-agent --resume"),
                2 => format!("GITHUB_TOKEN=ghp_{} git push origin HEAD", rng.token(36)),
                3 => format!("cloning https://x-access-token:{s}@github.com/acme/app.git"),
                4 => format!("{{\"type\":\"tool_result\",\"content\":\"token {s} accepted\"}}"),
                _ => format!("POSTGRES_PASSWORD={} docker compose up db", rng.token(16)),
            };
            out.extend_from_slice(planted.as_bytes());
        } else {
            out.extend_from_slice(FILLER[rng.below(FILLER.len())].as_bytes());
        }
        out.push(b'\n');
    }
    out
}
