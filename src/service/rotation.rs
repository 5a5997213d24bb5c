//! Key rotation: re-seal every stored secret under the current key.

use crate::{
    crypto::Sealer,
    store::{Store, StoreError},
};

/// What a rotation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    pub resealed: usize,
    pub current: usize,
}

/// Opens each value sealed under another key and seals it again under the current one. A value
/// changed concurrently is left alone (it was just written under the current key).
pub async fn rotate(store: &dyn Store, sealer: &Sealer) -> Result<RotationReport, String> {
    let mut report = RotationReport::default();
    let values = store.sealed_values().await.map_err(|e: StoreError| e.to_string())?;
    for value in values {
        if Sealer::key_id_of(&value.value) == Some(sealer.current_key_id()) {
            report.current += 1;
            continue;
        }
        let plain = sealer.open(&value.owner, &value.value).map_err(|e| {
            format!("{:?} {}: {e} (add its key to AUTHLINK_ENCRYPTION_OLD_KEYS)", value.column, value.row)
        })?;
        let fresh = sealer.seal(&value.owner, &plain);
        if store.replace_sealed(&value, &fresh).await.map_err(|e| e.to_string())? {
            report.resealed += 1;
        }
    }
    Ok(report)
}
