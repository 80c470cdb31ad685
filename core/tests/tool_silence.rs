//! The standalone tool-silence watchdog (`keel_core::jobs::ToolSilence`): the reference's
//! `tool-silence.ts` rules, driven with explicit times (the registry's watchdog decides
//! with the same rule; `tests/jobs.rs` covers it through a job).

use keel_core::jobs::{ToolSilence, ToolSilenceCheck};

#[test]
fn fires_when_output_arrives_but_no_tool_call_completes() {
    let mut ts = ToolSilence::new(20);
    ts.open(100);
    assert_eq!(ts.check(110, Some(105)), ToolSilenceCheck::Wait(120));
    assert_eq!(ts.check(120, Some(118)), ToolSilenceCheck::Expired);
    // Once: not timed again until the window is beaten.
    assert_eq!(ts.check(200, Some(199)), ToolSilenceCheck::Idle);
}

#[test]
fn completed_tool_calls_keep_the_window_from_firing() {
    let mut ts = ToolSilence::new(30);
    let w = ts.open(0);
    for t in (10..=300).step_by(10) {
        assert!(ts.tool_completed(w, t));
        assert_eq!(ts.check(t, Some(t)), ToolSilenceCheck::Wait(t + 30));
    }
}

#[test]
fn a_window_that_elapsed_in_silence_is_deferred_then_catches_resumed_talk() {
    let mut ts = ToolSilence::new(20);
    ts.open(10);
    // Spoke before the window opened, silent since: re-arm at now, do not fire.
    assert_eq!(ts.check(30, Some(5)), ToolSilenceCheck::Wait(50));
    assert_eq!(ts.check(50, Some(5)), ToolSilenceCheck::Wait(70));
    // Never spoke at all: the same.
    assert_eq!(ts.check(70, None), ToolSilenceCheck::Wait(90));
    // Talking again inside the re-armed window: fires one full window later.
    assert_eq!(ts.check(90, Some(80)), ToolSilenceCheck::Expired);
}

#[test]
fn output_exactly_at_the_arm_time_is_not_output_during_the_window() {
    let mut ts = ToolSilence::new(20);
    ts.open(10);
    assert_eq!(ts.check(30, Some(10)), ToolSilenceCheck::Wait(50));
}

#[test]
fn closing_ends_the_window_and_retires_its_handle() {
    let mut ts = ToolSilence::new(20);
    let w = ts.open(0);
    assert!(ts.close(w));
    assert!(!ts.close(w), "close is idempotent");
    assert!(
        !ts.tool_completed(w, 5),
        "a closed window cannot be re-armed"
    );
    assert_eq!(ts.check(1_000, Some(999)), ToolSilenceCheck::Idle);
}

#[test]
fn a_superseded_window_cannot_disarm_or_beat_the_live_one() {
    let mut ts = ToolSilence::new(20);
    let stale = ts.open(0);
    let live = ts.open(0);
    assert_ne!(stale, live);
    assert!(!ts.close(stale));
    assert!(!ts.tool_completed(stale, 15));
    assert!(ts.is_open(live));
    assert_eq!(ts.check(20, Some(19)), ToolSilenceCheck::Expired);
}

#[test]
fn disabled_hands_out_inert_windows() {
    let mut ts = ToolSilence::new(0);
    let w = ts.open(0);
    assert_eq!(w, 0);
    assert!(!ts.is_open(w));
    assert!(!ts.tool_completed(w, 1));
    assert_eq!(ts.check(1_000_000, Some(999_999)), ToolSilenceCheck::Idle);
}

#[test]
fn stop_disarms_the_open_window_for_good() {
    let mut ts = ToolSilence::new(20);
    let w = ts.open(0);
    ts.stop();
    ts.stop();
    assert!(!ts.tool_completed(w, 5));
    assert_eq!(ts.check(100, Some(99)), ToolSilenceCheck::Idle);
    // A new window after stop is timed again.
    let w2 = ts.open(100);
    assert!(ts.is_open(w2));
    assert_eq!(ts.check(120, Some(110)), ToolSilenceCheck::Expired);
}

#[test]
fn times_near_the_end_of_the_range_saturate() {
    let mut ts = ToolSilence::new(u64::MAX);
    ts.open(u64::MAX - 1);
    assert_eq!(
        ts.check(u64::MAX - 1, Some(u64::MAX - 1)),
        ToolSilenceCheck::Wait(u64::MAX)
    );
}

#[test]
fn due_at_reports_the_deadline_without_deciding() {
    let mut ts = ToolSilence::new(20);
    assert_eq!(ts.due_at(), None);
    let w = ts.open(5);
    assert_eq!(ts.due_at(), Some(25));
    assert!(ts.tool_completed(w, 12));
    assert_eq!(ts.due_at(), Some(32));
    // Asking again after the deadline did not fire anything.
    assert_eq!(ts.check(40, Some(39)), ToolSilenceCheck::Expired);
    assert_eq!(ts.due_at(), None);
}
