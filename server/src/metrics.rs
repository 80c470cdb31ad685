//! `GET /metrics`: Prometheus text exposition (format 0.0.4), rendered by hand from
//! atomics — request counts and a latency histogram per route, jobs by state and
//! watchdog kills by cause per kind, open connections.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The routes requests are counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Health,
    Jobs,
    Job,
    Metrics,
    OpenApi,
    ManagedProcesses,
    Other,
}

impl Route {
    pub(crate) const ALL: [Route; 7] = [
        Route::Health,
        Route::Jobs,
        Route::Job,
        Route::Metrics,
        Route::OpenApi,
        Route::ManagedProcesses,
        Route::Other,
    ];

    pub(crate) fn of(path: &str) -> Route {
        match path {
            "/health" => Route::Health,
            "/jobs" => Route::Jobs,
            "/metrics" => Route::Metrics,
            "/openapi.json" => Route::OpenApi,
            "/managed-processes" => Route::ManagedProcesses,
            p if p.starts_with("/jobs/") => Route::Job,
            _ => Route::Other,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Route::Health => "/health",
            Route::Jobs => "/jobs",
            Route::Job => "/jobs/{id}",
            Route::Metrics => "/metrics",
            Route::OpenApi => "/openapi.json",
            Route::ManagedProcesses => "/managed-processes",
            Route::Other => "other",
        }
    }
}

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
/// Status codes counted separately; anything else counts under `other`.
const STATUSES: [u16; 12] = [200, 202, 304, 400, 401, 404, 405, 408, 413, 500, 503, 415];

#[derive(Default)]
struct RouteStats {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
    statuses: [AtomicU64; STATUSES.len() + 1],
}

/// The server's request metrics.
#[derive(Default)]
pub(crate) struct Metrics {
    routes: [RouteStats; Route::ALL.len()],
}

impl Metrics {
    pub(crate) fn record(&self, route: Route, status: u16, elapsed: Duration) {
        let r = &self.routes[route as usize];
        let secs = elapsed.as_secs_f64();
        // Non-cumulative per bucket; rendered cumulatively.
        if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
            r.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        r.count.fetch_add(1, Ordering::Relaxed);
        r.sum_nanos.fetch_add(
            elapsed.as_nanos().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
        let si = STATUSES
            .iter()
            .position(|&s| s == status)
            .unwrap_or(STATUSES.len());
        r.statuses[si].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn render_requests(&self, out: &mut String) {
        out.push_str(
            "# HELP keel_http_requests_total HTTP requests answered, by route and status code.\n",
        );
        out.push_str("# TYPE keel_http_requests_total counter\n");
        for route in Route::ALL {
            let r = &self.routes[route as usize];
            for (i, n) in r.statuses.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n == 0 {
                    continue;
                }
                let code = STATUSES
                    .get(i)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "other".into());
                let _ = writeln!(
                    out,
                    "keel_http_requests_total{{route=\"{}\",code=\"{code}\"}} {n}",
                    route.label()
                );
            }
        }
        out.push_str(
            "# HELP keel_http_request_duration_seconds Time to answer an HTTP request, by route.\n",
        );
        out.push_str("# TYPE keel_http_request_duration_seconds histogram\n");
        for route in Route::ALL {
            let r = &self.routes[route as usize];
            let label = route.label();
            let mut cumulative = 0u64;
            for (i, b) in BUCKETS.iter().enumerate() {
                cumulative += r.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "keel_http_request_duration_seconds_bucket{{route=\"{label}\",le=\"{b}\"}} {cumulative}"
                );
            }
            let count = r.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "keel_http_request_duration_seconds_bucket{{route=\"{label}\",le=\"+Inf\"}} {count}"
            );
            let sum = r.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "keel_http_request_duration_seconds_sum{{route=\"{label}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "keel_http_request_duration_seconds_count{{route=\"{label}\"}} {count}"
            );
        }
    }
}

/// Escape a label value (`\`, `"`, newline).
pub(crate) fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}
