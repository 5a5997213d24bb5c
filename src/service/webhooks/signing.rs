//! Standard Webhooks signatures: `v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`,
//! one per secret, space-separated (<https://www.standardwebhooks.com/>). The key is the secret's
//! UTF-8 bytes, as Composio's `verify_webhook` computes it.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The `webhook-signature` header value for `body` sent as message `id` at `timestamp` (Unix
/// seconds), signed with each of `secrets`.
#[expect(clippy::expect_used, reason = "HMAC-SHA256 takes keys of any length")]
pub fn signature(secrets: &[String], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::signature;

    /// Against an HMAC computed independently (Python's `hmac`), one and two secrets.
    #[test]
    fn matches_an_independent_hmac() {
        // Computed with Python: base64(hmac.new(b"k", b"msg_1.1700000000.{}", sha256).digest())
        let sig = signature(&["k".to_owned()], "msg_1", 1_700_000_000, b"{}");
        assert_eq!(sig, "v1,LTBsW2zNVsMNlXYZbgw/T+jGxr1msQBcXoa3h1dR9wQ=");
        let two = signature(&["k".to_owned(), "k".to_owned()], "msg_1", 1_700_000_000, b"{}");
        assert_eq!(two, format!("{sig} {sig}"));
    }
}
