//! What can go wrong below the service layer, classified once for both backends so services
//! match on meaning (a conflict on *this* rule, the database being away) and never on strings.

/// The unique rules the services react to. Each database reports a violation its own way
/// (PostgreSQL by constraint name, SQLite by the columns involved); [`CONSTRAINTS`] is the one
/// table that maps both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// An alias is unique per (project, user, toolkit) among accounts not deleted.
    AccountAlias,
    AccountId,
    AuthConfigId,
    SessionId,
    LinkToken,
    OAuthState,
    ProjectName,
    ApiKeyHash,
    /// A link's auth config was deleted or disabled while the link was being written (raised by
    /// the stores, not by a database constraint).
    AuthConfigGone,
    /// A rule this table does not know (a new index without an entry here).
    Unknown,
}

/// `(rule, PostgreSQL constraint name, SQLite's "UNIQUE constraint failed: …" detail)`.
const CONSTRAINTS: &[(Constraint, &str, &str)] = &[
    (
        Constraint::AccountAlias,
        "connected_account_alias_key",
        "connected_account.project_id, connected_account.user_id, connected_account.toolkit, connected_account.alias",
    ),
    (Constraint::AccountId, "connected_account_pkey", "connected_account.id"),
    (Constraint::AuthConfigId, "auth_config_pkey", "auth_config.id"),
    (Constraint::SessionId, "tool_router_session_pkey", "tool_router_session.id"),
    (Constraint::LinkToken, "link_pkey", "link.token_hash"),
    (Constraint::OAuthState, "oauth_state_pkey", "oauth_state.state_hash"),
    (Constraint::ProjectName, "project_name_key", "project.name"),
    (Constraint::ApiKeyHash, "api_key_key_hash_key", "api_key.key_hash"),
];

impl Constraint {
    /// From PostgreSQL's constraint (or unique index) name.
    pub fn from_postgres(name: &str) -> Self {
        CONSTRAINTS.iter().find(|(_, pg, _)| *pg == name).map_or(Self::Unknown, |(c, _, _)| *c)
    }

    /// From SQLite's message, `UNIQUE constraint failed: <table>.<column>, …` (or `index '<name>'`
    /// for indexes on expressions, which carry the PostgreSQL name).
    pub fn from_sqlite(message: &str) -> Self {
        let Some(detail) = message.strip_prefix("UNIQUE constraint failed: ") else { return Self::Unknown };
        if let Some(name) = detail.strip_prefix("index '").and_then(|r| r.strip_suffix('\'')) {
            return Self::from_postgres(name);
        }
        CONSTRAINTS.iter().find(|(_, _, lite)| *lite == detail).map_or(Self::Unknown, |(c, _, _)| *c)
    }
}

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique rule refused the write.
    #[error("unique constraint {0:?} violated")]
    Conflict(Constraint),
    /// The database cannot be used right now (pool exhausted or closed, connection refused or
    /// lost, server shutting down, database dropped, SQLite busy past its timeout): worth
    /// retrying later, and answered 503 by the API.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database failure: a bug or a broken schema.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value did not map back to a domain value (a bug or manual tampering).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database's directory could not be created (SQLite).
    #[error("cannot create the database directory")]
    Directory(#[source] std::io::Error),
    /// The database file could not be created (SQLite).
    #[error("cannot create the database file")]
    File(#[source] std::io::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// Whether the caller should retry later rather than report a fault.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Migrate(sqlx::migrate::MigrateError::Execute(e)) => transient(e),
            _ => false,
        }
    }
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// One classification for both backends, so `?` on any sqlx call gives the typed error.
impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            if db.is_unique_violation() {
                return Self::Conflict(match db.constraint() {
                    Some(name) => Constraint::from_postgres(name),
                    None => Constraint::from_sqlite(db.message()),
                });
            }
        }
        if transient(&err) { Self::Unavailable(err) } else { Self::Database(err) }
    }
}

/// Failures of reaching the database rather than of the statement.
fn transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| transient_code(&code)),
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs of lost connections, shutdowns and a database that is gone from under a
/// running server (3D000 on connect: dropped, or not yet restored); SQLite's BUSY (5) and
/// LOCKED (6), with their extended codes (the low byte is the primary code).
fn transient_code(code: &str) -> bool {
    if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "3D000") {
        return true;
    }
    code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dialects_map_to_the_same_rule() {
        for (rule, pg, lite) in CONSTRAINTS {
            assert_eq!(Constraint::from_postgres(pg), *rule);
            assert_eq!(Constraint::from_sqlite(&format!("UNIQUE constraint failed: {lite}")), *rule);
        }
        assert_eq!(
            Constraint::from_sqlite("UNIQUE constraint failed: index 'connected_account_alias_key'"),
            Constraint::AccountAlias
        );
        assert_eq!(Constraint::from_sqlite("UNIQUE constraint failed: other.x"), Constraint::Unknown);
        assert_eq!(Constraint::from_sqlite("something else"), Constraint::Unknown);
        assert_eq!(Constraint::from_postgres("nope_key"), Constraint::Unknown);
    }

    #[test]
    fn transient_codes() {
        for code in ["08006", "08001", "57P01", "57P03", "53300", "3D000", "5", "6", "517", "261"] {
            assert!(transient_code(code), "{code}");
        }
        for code in ["23505", "42P01", "3F000", "19", "2067", "1"] {
            assert!(!transient_code(code), "{code}");
        }
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!StoreError::from(sqlx::Error::RowNotFound).is_unavailable());
    }
}
