//! Catalog files (YAML): a bad file is an error, never a panic.
#![no_main]
use authlink::catalog::Catalog;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Catalog::from_yaml(text);
    }
});
