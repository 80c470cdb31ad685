//! Custom rules stream exactly like one-shot redaction, for every chunking:
//! matches longer than `maxLen` (cut at `maxLen` in both), `^`/`$`/`\b`-anchored
//! patterns, and matches crossing the stream's 64 KiB blocks.

use keel_core::redact::Redactor;
use proptest::prelude::*;

fn stream(r: &Redactor, input: &[u8], cuts: &[usize], flush_every: usize) -> Vec<u8> {
    let mut s = r.stream();
    let mut out = Vec::new();
    let mut at = 0;
    let mut k = 0;
    for &c in cuts {
        let c = c.min(input.len()).max(at);
        s.write(&input[at..c], &mut out);
        at = c;
        k += 1;
        if flush_every > 0 && k % flush_every == 0 {
            s.flush(&mut out);
        }
    }
    s.write(&input[at..], &mut out);
    s.finish(&mut out);
    out
}

fn one_shot(r: &Redactor, input: &[u8]) -> Vec<u8> {
    r.redact_bytes(input).into_owned()
}

fn rule(pattern: &str, max_len: usize) -> Redactor {
    Redactor::builder()
        .custom_rule_with_max_len("r", pattern, max_len)
        .build()
        .unwrap()
}

#[test]
fn a_long_match_is_cut_at_max_len_in_both() {
    let r = rule("TICKET-[0-9]+", 16);
    let input = format!("x TICKET-{} y", "7".repeat(40));
    let out = one_shot(&r, input.as_bytes());
    // the first 16 bytes are one mask; the remaining digits are a new match? no:
    // they do not start with TICKET-, so they stay.
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        format!("x ***{} y", "7".repeat(31))
    );
    for step in [1, 3, 7, 64] {
        let cuts: Vec<usize> = (step..input.len()).step_by(step).collect();
        assert_eq!(stream(&r, input.as_bytes(), &cuts, 0), out, "step {step}");
    }
}

#[test]
fn a_long_match_across_a_64k_block_is_masked_in_the_stream_too() {
    // A match longer than max_len that crosses the 64 KiB block boundary.
    let r = rule("BEGIN[a-z]+END", 1024);
    let mut input = vec![b'.'; 65_536 - 600];
    input.extend_from_slice(b"BEGIN");
    input.extend(std::iter::repeat_n(b'q', 900));
    input.extend_from_slice(b"END....");
    input.extend(vec![b'.'; 70_000]);
    let out = one_shot(&r, &input);
    assert_eq!(out.len(), input.len() - 908 + 3);
    for chunk in [1usize << 20, 65_536, 4096, 1000, 333] {
        let cuts: Vec<usize> = (chunk..input.len()).step_by(chunk).collect();
        assert_eq!(stream(&r, &input, &cuts, 0), out, "chunk {chunk}");
    }
    // longer than max_len: it cannot end within max_len bytes, so it is not a match
    // at that start, in one-shot and stream alike
    let r = rule("BEGIN[a-z]+END", 512);
    let out = one_shot(&r, &input);
    assert_eq!(out, input);
    let cuts: Vec<usize> = (4096..input.len()).step_by(4096).collect();
    assert_eq!(stream(&r, &input, &cuts, 0), out);
    // a greedy repetition is cut at max_len instead
    let r = rule("BEGIN[a-z]+", 512);
    let out = one_shot(&r, &input);
    assert_eq!(out.len(), input.len() - 512 + 3);
    assert_eq!(stream(&r, &input, &cuts, 0), out);
}

#[test]
fn dollar_and_caret_anchored_rules_do_not_over_mask_in_streams() {
    let r = rule("secret[0-9]*$", 10);
    let input = b"secret1 secret22222222222222222222 secret333";
    let out = one_shot(&r, input);
    assert_eq!(out, b"secret1 secret22222222222222222222 ***");
    for step in 1..input.len() {
        let cuts: Vec<usize> = (step..input.len()).step_by(step).collect();
        assert_eq!(stream(&r, input, &cuts, 1), out, "step {step}");
    }
    let r = rule("^head[a-z]*", 64);
    let input = b"headline and headroom";
    let out = one_shot(&r, input);
    assert_eq!(out, b"*** and headroom");
    let big: Vec<u8> = [&b"headfirst "[..], &vec![b'x'; 200_000], b" headless"].concat();
    let out_big = one_shot(&r, &big);
    assert_eq!(&out_big[..4], b"*** ");
    assert!(out_big.ends_with(b" headless"));
    for step in [1usize, 5, 4096, 65_536] {
        let cuts: Vec<usize> = (step..input.len()).step_by(step).collect();
        assert_eq!(stream(&r, input, &cuts, 2), out, "step {step}");
        let cuts: Vec<usize> = (step..big.len()).step_by(step.max(97)).collect();
        assert_eq!(stream(&r, &big, &cuts, 0), out_big, "big step {step}");
    }
    let r = rule("(?m)^pw=[a-z]+$", 64);
    let input = b"pw=abc\nx pw=def\npw=ghi";
    let out = one_shot(&r, input);
    assert_eq!(out, b"***\nx pw=def\n***");
    for step in 1..input.len() {
        let cuts: Vec<usize> = (step..input.len()).step_by(step).collect();
        assert_eq!(stream(&r, input, &cuts, 3), out, "step {step}");
    }
}

fn patterns() -> impl Strategy<Value = (&'static str, usize)> {
    prop_oneof![
        Just(("a+b", 6)),
        Just(("ab*$", 5)),
        Just(("^b[ab]*", 4)),
        Just(("(?m)^a[ab]*$", 7)),
        Just((r"\bab+\b", 5)),
        Just(("ba|a[ab]{0,9}", 3)),
        Just(("(?m)b$", 1)),
        Just(("[ab]{3,}", 8)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, ..ProptestConfig::default() })]

    #[test]
    fn custom_rules_stream_like_one_shot(
        (pattern, max_len) in patterns(),
        body in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b' '), Just(b'\n'), Just(b'c')], 0..200),
        cuts in proptest::collection::vec(0usize..200, 0..12),
        flush_every in 0usize..4,
    ) {
        let r = rule(pattern, max_len);
        let mut cuts = cuts;
        cuts.sort_unstable();
        let expected = one_shot(&r, &body);
        prop_assert_eq!(stream(&r, &body, &cuts, flush_every), expected);
    }
}
