//! Fuzz target: a ledger entry read back from storage or received from another party.
//! `Entry::parse` must never panic, and whatever it accepts must re-serialize to the same bytes.
#![no_main]

use custos_core::{Entry, Event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = Entry::parse(data) {
        let again: Result<Entry, _> = Entry::from_event(&event);
        assert_eq!(again.map(Entry::into_bytes).ok().as_deref(), Some(data), "accepted but not canonical");
        let _: &Event = &event;
    }
});
