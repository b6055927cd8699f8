//! card-model's event parser on fuzzed bytes; what it accepts must write back and read
//! back to the same event.
#![no_main]

use card_model::event::{Event, parse_event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Event::UserGetCard(claim)) = parse_event(data) {
        let _ = claim.checked_outer_id();
        let _ = claim.checked_is_give_by_friend();
        let xml = claim.to_xml();
        // Written back, the claim reads back; optional strings that were empty read as
        // None either way, so compare after a second round.
        let again = parse_event(xml.as_bytes()).expect("to_xml output parses");
        let Event::UserGetCard(again) = again else {
            panic!("to_xml output is not a claim");
        };
        assert_eq!(parse_event(again.to_xml().as_bytes()), Ok(Event::UserGetCard(again)));
    }
});
