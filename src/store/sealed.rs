//! Sealed values as the stores hand them to key rotation: which column a value lives in, the row
//! that owns it, and the tags and hex forms both backends use to list and address them.

/// Which column a sealed value lives in (for key rotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    AuthConfigSecret,
    AccountTokens,
    StateVerifier,
    /// The redirect URL of an INITIATED account's link (`connected_account.link_url_sealed`).
    AccountLinkUrl,
    /// A stored `Idempotency-Key` response (a link response holds a link token).
    IdempotencyResponse,
    /// A webhook subscription's signing secret.
    WebhookSecret,
    /// A webhook subscription's secret before its last rotation.
    WebhookPreviousSecret,
    /// The connection fields of an OAuth account with templated endpoints
    /// (`connected_account.fields_sealed`, a tenant `subdomain`).
    AccountFields,
    /// The connection fields an OAuth sign-in attempt started with (`oauth_state.fields_sealed`).
    StateFields,
}

/// One sealed value and the row that owns it (`owner` is also its associated data).
#[derive(Debug, Clone)]
pub struct SealedValue {
    pub column: SealedColumn,
    /// Primary key of the row: an id, or the hex state hash.
    pub row: String,
    /// Associated data the value was sealed with.
    pub owner: String,
    pub value: String,
}
impl SealedColumn {
    /// The tag a backend's listing query selects to say which column a value came from.
    pub const fn tag(self) -> &'static str {
        match self {
            Self::AuthConfigSecret => "ac",
            Self::AccountTokens => "ca",
            Self::StateVerifier => "st",
            Self::AccountLinkUrl => "lu",
            Self::IdempotencyResponse => "ik",
            Self::WebhookSecret => "ws",
            Self::WebhookPreviousSecret => "wp",
            Self::AccountFields => "cf",
            Self::StateFields => "sf",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Self> {
        [
            Self::AuthConfigSecret,
            Self::AccountTokens,
            Self::StateVerifier,
            Self::AccountLinkUrl,
            Self::IdempotencyResponse,
            Self::WebhookSecret,
            Self::WebhookPreviousSecret,
            Self::AccountFields,
            Self::StateFields,
        ]
        .into_iter()
        .find(|c| c.tag() == tag)
    }
}

/// The query listing every sealed value as `(tag, row, owner, value)`; `hex_state_hash` is the
/// dialect's SQL for the lowercase hex of `state_hash` (the same SQL, on `key_hash`, names the
/// idempotency records, whose associated data is that hex).
pub(crate) fn listing_sql(hex_state_hash: &str) -> String {
    let (ac, ca, st, lu) = (
        SealedColumn::AuthConfigSecret.tag(),
        SealedColumn::AccountTokens.tag(),
        SealedColumn::StateVerifier.tag(),
        SealedColumn::AccountLinkUrl.tag(),
    );
    let ik = SealedColumn::IdempotencyResponse.tag();
    let hex_key_hash = hex_state_hash.replace("state_hash", "key_hash");
    format!(
        "select '{ac}', id, id, client_secret_sealed from auth_config where client_secret_sealed is not null
         union all
         select '{ca}', id, id, tokens_sealed from connected_account where tokens_sealed is not null
         union all
         select '{lu}', id, id, link_url_sealed from connected_account where link_url_sealed is not null
         union all
         select '{st}', {hex_state_hash}, connected_account_id, verifier_sealed
           from oauth_state where verifier_sealed is not null
         union all
         select '{ik}', {hex_key_hash}, {hex_key_hash}, response_sealed
           from idempotency_key where response_sealed is not null
         union all
         select '{cf}', id, id, fields_sealed from connected_account where fields_sealed is not null
         union all
         select '{sf}', {hex_state_hash}, connected_account_id, fields_sealed
           from oauth_state where fields_sealed is not null
         union all
         select '{ws}', id, id, secret_sealed from webhook_subscription
         union all
         select '{wp}', id, id, previous_secret_sealed from webhook_subscription
           where previous_secret_sealed is not null",
        ws = SealedColumn::WebhookSecret.tag(),
        wp = SealedColumn::WebhookPreviousSecret.tag(),
        cf = SealedColumn::AccountFields.tag(),
        sf = SealedColumn::StateFields.tag(),
    )
}

/// The compare-and-set update of one sealed value: `$1` the row's key (the state hash as bytes
/// for [`SealedColumn::StateVerifier`]), `$2` the old value, `$3` the new one.
pub(crate) const fn replace_sql(column: SealedColumn) -> &'static str {
    match column {
        SealedColumn::AuthConfigSecret => {
            "update auth_config set client_secret_sealed = $3 where id = $1 and client_secret_sealed = $2"
        }
        SealedColumn::AccountTokens => {
            "update connected_account set tokens_sealed = $3 where id = $1 and tokens_sealed = $2"
        }
        SealedColumn::AccountLinkUrl => {
            "update connected_account set link_url_sealed = $3 where id = $1 and link_url_sealed = $2"
        }
        SealedColumn::StateVerifier => {
            "update oauth_state set verifier_sealed = $3 where state_hash = $1 and verifier_sealed = $2"
        }
        SealedColumn::IdempotencyResponse => {
            "update idempotency_key set response_sealed = $3 where key_hash = $1 and response_sealed = $2"
        }
        SealedColumn::WebhookSecret => {
            "update webhook_subscription set secret_sealed = $3 where id = $1 and secret_sealed = $2"
        }
        SealedColumn::WebhookPreviousSecret => {
            "update webhook_subscription set previous_secret_sealed = $3
             where id = $1 and previous_secret_sealed = $2"
        }
        SealedColumn::AccountFields => {
            "update connected_account set fields_sealed = $3 where id = $1 and fields_sealed = $2"
        }
        SealedColumn::StateFields => {
            "update oauth_state set fields_sealed = $3 where state_hash = $1 and fields_sealed = $2"
        }
    }
}

impl SealedValue {
    /// From a listing row `(tag, row, owner, value)`; an unknown tag is a bug in the query.
    pub fn from_listing((tag, row, owner, value): (String, String, String, String)) -> super::StoreResult<Self> {
        let column =
            SealedColumn::from_tag(&tag).ok_or_else(|| super::error::corrupt(format!("sealed tag `{tag}`")))?;
        Ok(Self { column, row, owner, value })
    }

    /// The state hash addressed by a [`SealedColumn::StateVerifier`] or
    /// [`SealedColumn::StateFields`] value, or the key hash of a
    /// [`SealedColumn::IdempotencyResponse`] (their rows are hex).
    pub fn state_hash(&self) -> super::StoreResult<Vec<u8>> {
        unhex(&self.row).ok_or_else(|| super::error::corrupt(format!("state hash `{}`", self.row)))
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hex_round_trip() {
        let bytes = vec![0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&bytes), "0001abff");
        assert_eq!(unhex("0001abff"), Some(bytes.clone()));
        assert_eq!(unhex("0001ABFF"), Some(bytes));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn tags_round_trip() {
        for c in [
            SealedColumn::AuthConfigSecret,
            SealedColumn::AccountTokens,
            SealedColumn::StateVerifier,
            SealedColumn::AccountLinkUrl,
            SealedColumn::IdempotencyResponse,
            SealedColumn::WebhookSecret,
            SealedColumn::WebhookPreviousSecret,
            SealedColumn::AccountFields,
            SealedColumn::StateFields,
        ] {
            assert_eq!(SealedColumn::from_tag(c.tag()), Some(c));
        }
        assert_eq!(SealedColumn::from_tag("zz"), None);
    }
}
