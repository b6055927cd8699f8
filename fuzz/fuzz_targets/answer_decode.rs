//! card-model's answer decoding on fuzzed bytes: no input panics, and whenever the
//! plain reader of the hot answers (checkcode, deposit, qrcode) answers, serde_json's
//! reading of the same bytes gives the same value.
#![no_main]

use card_model::endpoint::decode_response_with_serde;
use card_model::{
    CheckCodes, CreateLandingPage, CreateQrCode, DepositCodes, Endpoint, GetDepositCount,
    decode_response,
};
use libfuzzer_sys::fuzz_target;

fn agrees<E: Endpoint>(data: &[u8])
where
    E::Response: PartialEq + std::fmt::Debug,
{
    let answer = decode_response::<E>(data);
    if let Some(plain) = E::decode_plain(data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data)) {
        let serde = decode_response_with_serde::<E>(data);
        assert!(
            matches!(&serde, Ok(value) if *value == plain),
            "plain {plain:?}, serde {serde:?}"
        );
        assert!(matches!(&answer, Ok(value) if *value == plain));
    }
}

fuzz_target!(|data: &[u8]| {
    agrees::<CheckCodes>(data);
    agrees::<DepositCodes>(data);
    agrees::<CreateQrCode>(data);
    let _ = decode_response::<GetDepositCount>(data);
    let _ = decode_response::<CreateLandingPage>(data);
});
