//! False-positive scan: redact files that hold no secrets, line by line, with the
//! built-in rules only, and report every line that changed.
//!
//! ```text
//! cargo run --release -p agent-keel-core --example fp_scan -- FILE...
//! ```
//!
//! Every changed line is printed (original, then redacted) so a person can judge
//! whether the mask hid a secret or ate an innocent value; the last line counts
//! lines, changed lines and masked spans per file.

use keel_core::redact::Redactor;

fn main() {
    let r = Redactor::new();
    let mut total = (0usize, 0usize);
    for path in std::env::args().skip(1) {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(1);
            }
        };
        let (mut lines, mut changed) = (0usize, 0usize);
        for line in bytes.split(|&b| b == b'\n') {
            lines += 1;
            let out = r.redact_bytes(line);
            if out.as_ref() != line {
                changed += 1;
                println!(
                    "{path}:{lines}\n  - {}\n  + {}",
                    String::from_utf8_lossy(line),
                    String::from_utf8_lossy(&out)
                );
            }
        }
        println!("# {path}: {lines} lines, {changed} changed");
        total.0 += lines;
        total.1 += changed;
    }
    println!(
        "# total: {} lines, {} changed ({:.4}%)",
        total.0,
        total.1,
        100.0 * total.1 as f64 / total.0.max(1) as f64
    );
}
