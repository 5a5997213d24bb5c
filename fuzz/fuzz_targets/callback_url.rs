//! Callback URLs and their allowlists: never a panic; an accepted URL matches its allowlist and
//! reads back as stored.
#![no_main]
use authlink::domain::callback::{CallbackAllowlist, CallbackUrl};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (allowlist, url) = text.split_once('\n').unwrap_or(("https://app.example.com/cb,http://127.0.0.1", text));
    let Ok(allowlist) = allowlist.parse::<CallbackAllowlist>() else { return };
    if let Ok(accepted) = allowlist.check(url) {
        let stored = CallbackUrl::from_stored(accepted.as_str()).expect("an accepted callback URL reads back");
        assert_eq!(stored.as_str(), accepted.as_str());
        let _ = accepted.with_params(&[("status", "success"), ("connected_account_id", "ca_x")]);
    }
});
