//! The JSON bodies of every create and update, through the same parser and validation as the
//! API (`parse_json` + `validator`), and the ACL rules of a link's `experimental` block.
#![no_main]
use authlink::http::{
    auth_configs::AuthConfigInput,
    common::LinkExperimental,
    extract::parse_json,
    links::{SessionLinkRequest, UserLinkRequest},
    sessions::{CreateSessionRequest, UpdateSessionRequest},
};
use libfuzzer_sys::fuzz_target;
use validator::Validate;

fn check<T: serde::de::DeserializeOwned + Validate>(data: &[u8]) -> Option<T> {
    let value: T = parse_json(data).ok()?;
    value.validate().ok()?;
    Some(value)
}

fuzz_target!(|data: &[u8]| {
    if let Some(link) = check::<SessionLinkRequest>(data) {
        let _ = LinkExperimental::resolve(link.experimental);
    }
    if let Some(link) = check::<UserLinkRequest>(data) {
        let _ = LinkExperimental::resolve(link.experimental);
    }
    let _ = check::<CreateSessionRequest>(data);
    let _ = check::<UpdateSessionRequest>(data);
    let _ = parse_json::<AuthConfigInput>(data);
});
