//! The OAuth 1.0a client side (RFC 5849): request signing (HMAC-SHA1 and PLAINTEXT), the
//! temporary-credentials request and the token-credentials exchange.
//!
//! Calls go through the one guarded [`OutboundClient`] (design §5) like every OAuth 2.0 call:
//! timeouts, no redirects, a size cap and the private-address guard. Nothing here logs a token,
//! a secret, a verifier or a signature.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use rand::{RngCore, rngs::OsRng};
use sha1::Sha1;
use url::Url;

use crate::{
    catalog::{OAuth1Facts, SignatureMethod, Transmission},
    outbound::{OutboundClient, OutboundError, OutboundRefusal},
};

/// RFC 5849 §3.6 percent-encoding: every byte but `ALPHA / DIGIT / - . _ ~` as `%XX`.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// §3.4.1.2: scheme and host lowercased, the port only when not the scheme's default (the `url`
/// crate already drops default ports), the path, no query.
fn base_uri(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{host}{port}{}", url.scheme().to_ascii_lowercase(), url.path())
}

/// §3.4.1 signature base string: the method, the base URI and every parameter (those of the
/// URL's query, then `params`: the protocol parameters and any form body) encoded, sorted by
/// name then value, `oauth_signature` and `realm` left out.
pub fn base_string(method: &str, url: &Url, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .chain(params.iter().cloned())
        .filter(|(k, _)| k != "oauth_signature" && k != "realm")
        .map(|(k, v)| (encode(&k), encode(&v)))
        .collect();
    pairs.sort();
    let normalized = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    format!("{}&{}&{}", method.to_ascii_uppercase(), encode(&base_uri(url)), encode(&normalized))
}

/// §3.4.2 / §3.4.4: the signature of a base string with the client and token secrets.
#[expect(clippy::expect_used, reason = "HMAC-SHA1 takes keys of any length")]
pub fn signature(method: SignatureMethod, base: &str, consumer_secret: &str, token_secret: &str) -> String {
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    match method {
        SignatureMethod::HmacSha1 => {
            let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("any key length");
            mac.update(base.as_bytes());
            STANDARD.encode(mac.finalize().into_bytes())
        }
        SignatureMethod::Plaintext => key,
    }
}

/// The client credentials of an auth config, and the token credentials of the step (none for
/// the temporary-credentials request).
pub struct Signer<'a> {
    pub consumer_key: &'a str,
    pub consumer_secret: &'a str,
    pub token: Option<(&'a str, &'a str)>,
    pub method: SignatureMethod,
}

impl Signer<'_> {
    /// The protocol parameters of one request, `oauth_signature` last, for `extra` (such as
    /// `oauth_callback` or `oauth_verifier`) with the given nonce and timestamp.
    pub fn protocol_params(
        &self,
        http_method: &str,
        url: &Url,
        extra: &[(&str, &str)],
        nonce: &str,
        timestamp: u64,
    ) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = vec![
            ("oauth_consumer_key".into(), self.consumer_key.into()),
            ("oauth_signature_method".into(), self.method.as_str().into()),
            ("oauth_timestamp".into(), timestamp.to_string()),
            ("oauth_nonce".into(), nonce.into()),
            ("oauth_version".into(), "1.0".into()),
        ];
        if let Some((token, _)) = self.token {
            params.push(("oauth_token".into(), token.into()));
        }
        params.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let base = base_string(http_method, url, &params);
        let token_secret = self.token.map_or("", |(_, secret)| secret);
        params.push(("oauth_signature".into(), signature(self.method, &base, self.consumer_secret, token_secret)));
        params
    }
}

/// §3.5.1 `Authorization: OAuth k="v", ...`.
pub fn authorization_header(params: &[(String, String)]) -> String {
    let parts: Vec<String> = params.iter().map(|(k, v)| format!("{}=\"{}\"", encode(k), encode(v))).collect();
    format!("OAuth {}", parts.join(", "))
}

/// Parses an `Authorization: OAuth ...` header into its (decoded) parameters; `None` when it is
/// not one. Used by the signature checks of the tests' stand-in provider.
pub fn parse_authorization_header(value: &str) -> Option<BTreeMap<String, String>> {
    let rest = value.strip_prefix("OAuth ")?;
    let mut out = BTreeMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        let v = v.strip_prefix('"')?.strip_suffix('"')?;
        let decode =
            |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
        out.insert(decode(k)?, decode(v)?);
    }
    Some(out)
}

/// 128 random bits, hex: the `oauth_nonce`.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Why an OAuth 1.0a call failed. The texts are what `status_reason` and pages show.
#[derive(Debug, thiserror::Error)]
pub enum OAuth1Error {
    /// Refused, unreachable, too slow or too large: one text, so the operator's network cannot
    /// be probed through it.
    #[error("the provider's OAuth 1.0a endpoint could not be used")]
    Transport(#[source] OutboundError),
    /// The provider answered, but not with credentials (a refused signature, a bad verifier).
    #[error("the provider refused the request (HTTP {status})")]
    Refused { status: u16 },
    #[error("unusable answer from the provider: {0}")]
    InvalidResponse(&'static str),
}

impl OAuth1Error {
    /// A short code for the app's callback (`error=`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Transport(_) => "temporarily_unavailable",
            Self::Refused { .. } => "access_denied",
            Self::InvalidResponse(_) => "server_error",
        }
    }
}

/// Credentials a provider issued (RFC 5849 §2.1 / §2.3): the token, its secret and every other
/// parameter of the answer (Evernote's `edam_*`), all kept.
pub struct Credentials {
    pub token: String,
    pub secret: String,
    pub extra: BTreeMap<String, String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

/// One OAuth 1.0a signed request through the guarded client, with the protocol parameters
/// where the catalog says the provider takes them; the form-encoded answer parsed.
pub async fn request(
    http: &OutboundClient,
    facts: &OAuth1Facts,
    endpoint: &str,
    signer: &Signer<'_>,
    extra: &[(&str, &str)],
) -> Result<Credentials, OAuth1Error> {
    let refused = || OAuth1Error::Transport(OutboundError::Refused(OutboundRefusal::NoHost));
    let mut url = Url::parse(endpoint).map_err(|_| refused())?;
    let timestamp = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default();
    let (method, authorization) = match facts.transmission {
        Transmission::Header => {
            let params = signer.protocol_params("POST", &url, extra, &nonce(), timestamp);
            (reqwest::Method::POST, Some(authorization_header(&params)))
        }
        Transmission::Query => {
            let params = signer.protocol_params("GET", &url, extra, &nonce(), timestamp);
            url.query_pairs_mut().extend_pairs(params.iter());
            (reqwest::Method::GET, None)
        }
    };
    let response = http.signed(method, &url, authorization.as_deref()).await.map_err(OAuth1Error::Transport)?;
    if !response.is_success() {
        return Err(OAuth1Error::Refused { status: response.status });
    }
    let mut fields: BTreeMap<String, String> = url::form_urlencoded::parse(&response.body).into_owned().collect();
    let token = fields.remove("oauth_token").filter(|t| !t.is_empty() && t.len() <= 1024);
    let secret = fields.remove("oauth_token_secret").filter(|s| s.len() <= 1024);
    match (token, secret) {
        (Some(token), Some(secret)) => Ok(Credentials { token, secret, extra: fields }),
        _ => Err(OAuth1Error::InvalidResponse("no oauth_token and oauth_token_secret")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5849 §3.4.1.1: the base string of the specification's example request, verbatim.
    #[test]
    fn base_string_matches_rfc5849_example() {
        let url = Url::parse("http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b").unwrap();
        let mut params: Vec<(String, String)> = [
            ("oauth_consumer_key", "9djdj82h48djs9d2"),
            ("oauth_token", "kkk9d7dh3k39sjv7"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_nonce", "7d8f3e4a"),
            ("oauth_signature", "ignored"),
            ("realm", "Example"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        // The form body `c2&a3=2+q`.
        params.extend(url::form_urlencoded::parse(b"c2&a3=2+q").into_owned());
        assert_eq!(
            base_string("POST", &url, &params),
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
        );
    }

    /// RFC 5849 §1.2: the three signed requests of the specification's walk-through (temporary
    /// credentials, token credentials, a protected resource), each signature as printed there.
    #[test]
    fn hmac_sha1_signatures_match_rfc5849_walkthrough() {
        let p = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        let cases = [
            (
                "POST",
                "https://photos.example.net/initiate",
                p(&[
                    ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
                    ("oauth_signature_method", "HMAC-SHA1"),
                    ("oauth_timestamp", "137131200"),
                    ("oauth_nonce", "wIjqoS"),
                    ("oauth_callback", "http://printer.example.com/ready"),
                ]),
                "",
                "74KNZJeDHnMBp0EMJ9ZHt/XKycU=",
            ),
            (
                "POST",
                "https://photos.example.net/token",
                p(&[
                    ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
                    ("oauth_token", "hh5s93j4hdidpola"),
                    ("oauth_signature_method", "HMAC-SHA1"),
                    ("oauth_timestamp", "137131201"),
                    ("oauth_nonce", "walatlh"),
                    ("oauth_verifier", "hfdp7dh39dks9884"),
                ]),
                "hdhd0244k9j7ao03",
                "gKgrFCywp7rO0OXSjdot/IHF7IU=",
            ),
            (
                "GET",
                "http://photos.example.net/photos?file=vacation.jpg&size=original",
                p(&[
                    ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
                    ("oauth_token", "nnch734d00sl2jdk"),
                    ("oauth_signature_method", "HMAC-SHA1"),
                    ("oauth_timestamp", "137131202"),
                    ("oauth_nonce", "chapoH"),
                ]),
                "pfkkdhi9sl3r4s00",
                "MdpQcU8iPSUjWoN/UDMsK2sui9I=",
            ),
        ];
        for (method, url, params, token_secret, expected) in cases {
            let base = base_string(method, &Url::parse(url).unwrap(), &params);
            assert_eq!(
                signature(SignatureMethod::HmacSha1, &base, "kd94hf93k423kf44", token_secret),
                expected,
                "{url}"
            );
        }
    }

    /// §3.4.4 PLAINTEXT is the encoded secrets joined by `&`; §3.6 encodes everything reserved.
    #[test]
    fn plaintext_and_percent_encoding() {
        assert_eq!(signature(SignatureMethod::Plaintext, "ignored", "kd94hf93k423kf44", ""), "kd94hf93k423kf44&");
        assert_eq!(signature(SignatureMethod::Plaintext, "", "a&b", "c d"), "a%26b&c%20d");
        assert_eq!(encode("Ladies + Gentlemen"), "Ladies%20%2B%20Gentlemen");
        assert_eq!(encode("An encoded string!"), "An%20encoded%20string%21");
        assert_eq!(encode("Dogs, Cats & Mice"), "Dogs%2C%20Cats%20%26%20Mice");
        assert_eq!(encode("☃"), "%E2%98%83");
        assert_eq!(encode("-._~"), "-._~");
    }

    /// What the signer sends parses back, and its signature verifies over the same base string.
    #[test]
    fn authorization_header_round_trips() {
        let url = Url::parse("https://idp.example/oauth").unwrap();
        let signer = Signer {
            consumer_key: "ck",
            consumer_secret: "cs",
            token: Some(("t", "ts")),
            method: SignatureMethod::HmacSha1,
        };
        let params = signer.protocol_params("POST", &url, &[("oauth_verifier", "v=1&2")], "n", 1);
        let parsed = parse_authorization_header(&authorization_header(&params)).unwrap();
        assert_eq!(parsed.get("oauth_verifier").map(String::as_str), Some("v=1&2"));
        let pairs: Vec<(String, String)> = parsed.clone().into_iter().collect();
        let base = base_string("POST", &url, &pairs);
        assert_eq!(parsed.get("oauth_signature"), Some(&signature(SignatureMethod::HmacSha1, &base, "cs", "ts")));
        assert!(parse_authorization_header("Bearer x").is_none());
        assert_eq!(
            format!("{:?}", Credentials { token: "t".into(), secret: "s".into(), extra: BTreeMap::new() }),
            "Credentials(<redacted>)"
        );
    }
}
