//! Writes the benchmark corpus: a realistic mixed agent/build log where about 2% of
//! lines carry a secret, plus the list of known secrets planted in it.
//!
//! ```text
//! cargo run --release -p agent-keel-core --example gen_corpus -- OUT.log SECRETS.txt [MiB] [secrets]
//! ```
//!
//! The same generator backs the criterion benchmarks (`core/benches/redact.rs`) and
//! the Node side-by-side script, so every figure in BENCHMARKS.md is measured on
//! the same bytes.

#[path = "../benches/corpus.rs"]
#[allow(dead_code)]
mod corpus;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: gen_corpus OUT.log SECRETS.txt [MiB=64] [secrets=10]");
        std::process::exit(2);
    }
    let mib: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(64);
    let n: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(10);
    let secrets = corpus::secrets(n);
    let log = corpus::log(mib << 20, &secrets);
    std::fs::write(&args[1], &log).expect("write corpus");
    std::fs::write(&args[2], secrets.join("\n") + "\n").expect("write secrets");
    eprintln!("wrote {} bytes, {} secrets", log.len(), secrets.len());
}
