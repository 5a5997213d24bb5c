//! The command line: `serve` (default), `migrate`, `api-key create|list|revoke`, `rotate-keys`,
//! `catalog check`.
//! Every flag is also an environment variable, so containers configure authlink with env alone.

use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tokio::net::TcpListener;

use crate::{
    AppState, Settings,
    bootstrap::{self, Bootstrap},
    catalog::Catalog,
    config::DatabaseLocation,
    config::{DatabaseArgs, ServeArgs},
    domain::CallbackAllowlist,
    service::api_keys,
    store::{ApiKeyId, ApiKeyRecord},
};

/// Self-hosted auth-link broker, wire-compatible with Composio's v3/v3.1 API.
#[derive(Debug, Parser)]
#[command(name = "authlink", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Arguments of `serve`, which runs when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeCommand,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default). Applies pending migrations first.
    Serve(ServeCommand),
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Manage project API keys.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Manage project settings.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Re-seal every stored secret under `AUTHLINK_ENCRYPTION_KEY`, opening old values with
    /// `AUTHLINK_ENCRYPTION_OLD_KEYS`. Safe to run while serving and to run again.
    RotateKeys(ServeCommand),
    /// Work with catalog files.
    #[command(subcommand)]
    Catalog(CatalogCommand),
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Validate the catalog files of DIR (as `AUTHLINK_CATALOG_DIR` would load them, on top of
    /// the built-in catalog) without starting the service; exits non-zero naming the file, line
    /// and field of the first invalid entry.
    Check {
        /// Directory of `*.yaml`/`*.yml` files in authlink's or Nango's format.
        dir: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key for a project (created if needed). The key is printed once, as the last
    /// line of stdout, and stored only as a SHA-256 hash.
    Create {
        /// Project name.
        #[arg(long)]
        project: String,
        /// A name to tell the key apart in listings (at most 128 characters).
        #[arg(long, default_value = "")]
        name: String,
        /// Days until the key stops working (1 to 3650); it never expires when omitted.
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<i64>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// List API keys, masked (never the key nor its hash): id, project, name, last four
    /// characters, created, last used (recorded about once a minute), expires, revoked.
    List {
        /// Only this project's keys.
        #[arg(long)]
        project: Option<String>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Revoke an API key by id (as `list` shows). Every running authlink stops accepting it
    /// within 5 seconds.
    Revoke {
        /// The key's id.
        id: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Make the project's OAuth completion user-bound (Composio's "OAuth callback verifier"):
    /// after consent the browser goes to URL with `session_uri` and `connected_account_id`, and
    /// the account turns ACTIVE only when the app calls `complete_auth` with the right `user_id`.
    /// URL must pass `AUTHLINK_CALLBACK_ALLOWLIST`, as a `callback_url` must.
    SetVerifier {
        /// Project name.
        #[arg(long)]
        project: String,
        /// The app's verifier endpoint.
        #[arg(long, required_unless_present = "clear", conflicts_with = "clear")]
        url: Option<String>,
        /// Remove the verifier: accounts turn ACTIVE right after consent again.
        #[arg(long)]
        clear: bool,
        /// The allowlist the server runs with; empty allows loopback URLs only (the server checks
        /// the URL again at every callback).
        #[arg(
            long,
            env = "AUTHLINK_CALLBACK_ALLOWLIST",
            value_name = "AUTHLINK_CALLBACK_ALLOWLIST",
            default_value = ""
        )]
        callback_allowlist: CallbackAllowlist,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeCommand {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Log output format.
    #[arg(long, env = "AUTHLINK_LOG_FORMAT", value_name = "AUTHLINK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Errors that end the process; the message names the variable or step that failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Config(String),
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("catalog: {0}")]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(cmd)) => serve(cmd).await,
        Some(Command::RotateKeys(cmd)) => {
            init_tracing(LogFormat::Text);
            let sealer = bootstrap::sealer(&cmd.serve, &cmd.db, false).map_err(CliError::Config)?;
            let store = connect(&cmd.db).await?;
            let report = crate::service::rotation::rotate(store.as_ref(), &sealer).await.map_err(CliError::Config)?;
            println!(
                "re-sealed {} value(s) under key {}; {} already current",
                report.resealed,
                sealer.current_key_id(),
                report.current
            );
            Ok(())
        }
        Some(Command::Migrate { db }) => {
            init_tracing(LogFormat::Text);
            connect(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Some(Command::Project(ProjectCommand::SetVerifier { project, url, clear: _, callback_allowlist, db })) => {
            init_tracing(LogFormat::Text);
            let url = match url.as_deref().map(str::trim) {
                Some(raw) => {
                    Some(callback_allowlist.check(raw).map_err(|e| CliError::Config(format!("--url {e}")))?.to_string())
                }
                None => None,
            };
            let store = connect(&db).await?;
            if !store.set_verifier_url(project.trim(), url.as_deref()).await? {
                return Err(CliError::Config(format!("no project named `{}`", project.trim())));
            }
            match url {
                Some(url) => {
                    println!("Project `{}` now completes connections through the verifier {url}", project.trim());
                }
                None => {
                    println!("Project `{}` has no verifier: connections complete right after consent", project.trim());
                }
            }
            Ok(())
        }
        Some(Command::ApiKey(command)) => {
            init_tracing(LogFormat::Text);
            api_key(command).await
        }
        Some(Command::Catalog(CatalogCommand::Check { dir })) => {
            let catalog = Catalog::load(Some(&dir))?;
            for skipped in catalog.skipped() {
                println!("skipped (not OAuth 2.0): {skipped}");
            }
            println!("{}: valid; the catalog would have {} toolkits", dir.display(), catalog.len());
            Ok(())
        }
    }
}

/// `api-key …`: what operators do with keys; the key itself is printed only by `create`, last.
async fn api_key(command: ApiKeyCommand) -> Result<(), CliError> {
    match command {
        ApiKeyCommand::Create { project, name, expires_in_days, db } => {
            let project = project.trim();
            if project.is_empty() || project.len() > 128 {
                return Err(CliError::Config("--project must be 1 to 128 characters".into()));
            }
            let name = api_keys::name(&name).map_err(|e| CliError::Config(format!("--name {e}")))?;
            let expires_at = api_keys::expiry(expires_in_days, chrono::Utc::now())
                .map_err(|e| CliError::Config(format!("--expires-in-days {e}")))?;
            let store = connect(&db).await?;
            let (key, new) = api_keys::generate(name, expires_at);
            let record = store.create_project_api_key(project, &new).await?;
            let path = match store.redirect_key(record.project).await? {
                Some(k) => format!("/oauth/callback/{k}"),
                None => "/oauth/callback".to_owned(),
            };
            println!(
                "OAuth redirect URI of project `{project}` (register it with its providers): {{AUTHLINK_PUBLIC_URL}}{path}"
            );
            let expires = record.expires_at.map_or_else(|| "never".to_owned(), |at| at.to_rfc3339());
            println!("API key id {} (name `{}`, expires {expires})", record.id.0, record.name);
            println!("Created an API key for project `{project}`. It is shown only once; send it as x-api-key:");
            println!("{key}");
            Ok(())
        }
        ApiKeyCommand::List { project, db } => {
            let store = connect(&db).await?;
            let scope = match project.as_deref().map(str::trim) {
                None => None,
                Some(name) => Some(
                    store
                        .project_by_name(name)
                        .await?
                        .ok_or_else(|| CliError::Config(format!("--project: no project named `{name}`")))?,
                ),
            };
            print!("{}", key_table(&store.list_api_keys(scope).await?));
            Ok(())
        }
        ApiKeyCommand::Revoke { id, db } => {
            let id = uuid::Uuid::parse_str(id.trim())
                .map(ApiKeyId)
                .map_err(|_| CliError::Config("ID must be an API key id (a UUID, as `api-key list` shows)".into()))?;
            let store = connect(&db).await?;
            let record = store
                .revoke_api_key(None, id, None)
                .await?
                .ok_or_else(|| CliError::Config(format!("no API key with id {}", id.0)))?;
            let at = record.revoked_at.map(|t| t.to_rfc3339()).unwrap_or_default();
            println!(
                "Revoked API key {} ({}, project `{}`) at {at}; running servers stop accepting it within 5 seconds.",
                record.id.0,
                record.masked(),
                record.project_name
            );
            Ok(())
        }
    }
}

/// The listing as an aligned table, one key per line; `-` for an empty cell.
fn key_table(keys: &[ApiKeyRecord]) -> String {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    };
    let dash = |s: &str| if s.is_empty() { "-".to_owned() } else { s.to_owned() };
    let mut rows =
        vec![["ID", "PROJECT", "NAME", "KEY", "CREATED", "LAST USED", "EXPIRES", "REVOKED"].map(str::to_owned)];
    rows.extend(keys.iter().map(|k| {
        [
            k.id.0.to_string(),
            k.project_name.clone(),
            dash(&k.name),
            k.masked(),
            time(Some(k.created_at)),
            time(k.last_used_at),
            time(k.expires_at),
            time(k.revoked_at),
        ]
    }));
    let widths: Vec<usize> = (0..8).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

async fn connect(db: &DatabaseArgs) -> Result<Arc<dyn crate::store::Store>, CliError> {
    bootstrap::open_store(db).await.map_err(CliError::Config)
}

async fn serve(cmd: ServeCommand) -> Result<(), CliError> {
    init_tracing(cmd.log_format);
    let shutdown = shutdown_signal()?;
    // The catalog first: an invalid `AUTHLINK_CATALOG_DIR` file stops the start before anything
    // (database, key files) is touched.
    let catalog = Catalog::load(cmd.serve.catalog_dir.as_deref())?;
    for skipped in catalog.skipped() {
        tracing::warn!(entry = %skipped, "catalog entry skipped: not OAuth 2.0");
    }
    let bootstrap_key = cmd.serve.bootstrap_api_key().map_err(CliError::Config)?;
    let sealer = bootstrap::sealer(&cmd.serve, &cmd.db, true).map_err(CliError::Config)?;
    let store = connect(&cmd.db).await?;
    let settings = Settings::from_args(&cmd.serve);
    announce_first_key(bootstrap::ensure_api_key(store.as_ref(), bootstrap_key).await?, &settings.public_base);
    let listener = TcpListener::bind(cmd.serve.listen).await.map_err(|source| CliError::Io {
        context: format!("AUTHLINK_LISTEN: cannot bind {}", cmd.serve.listen),
        source,
    })?;
    tracing::info!(
        listen = %cmd.serve.listen,
        public_url = %settings.public_base,
        toolkits = catalog.len(),
        key_id = sealer.current_key_id(),
        endpoint_allowlist = %settings.outbound.allowlist(),
        tenant_endpoints_forbidden = settings.outbound.tenant_endpoints_forbidden(),
        database = %cmd.db.location().map(|l: DatabaseLocation| l.describe()).unwrap_or_default(),
        "authlink ready"
    );
    let (retention, retention_every) = (cmd.serve.retention_policy(), cmd.serve.retention_interval());
    let (webhook_settings, refresh_settings) = (cmd.serve.webhook_settings(), cmd.serve.refresh_settings());
    let expire_every = cmd.serve.expire_interval_secs;
    let limits = crate::http::limits::Limits::from(&cmd.serve);
    let state = AppState::try_new(store, catalog, sealer, settings)
        .map_err(|e| CliError::Config(format!("cannot set up the outbound HTTP client: {e}")))?
        .with_limits(limits)
        .with_metrics_token(cmd.serve.metrics_token.as_deref().map(str::trim).filter(|t| !t.is_empty()));
    crate::spawn_sweeper(&state, std::time::Duration::from_secs(expire_every));
    crate::service::retention::spawn(&state, retention, retention_every);
    crate::service::webhooks::delivery::spawn(state.services(), webhook_settings)
        .map_err(|e| CliError::Config(format!("cannot set up the webhook HTTP client: {e}")))?;
    if let Some(refresh) = refresh_settings {
        crate::service::refresher::spawn(state.services(), refresh);
    }
    crate::serve(listener, state, shutdown)
        .await
        .map_err(|source| CliError::Io { context: "server".into(), source })?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Prints a generated first key on stdout (never to the log), once, with how to use it.
fn announce_first_key(outcome: Bootstrap, public_base: &str) {
    match outcome {
        Bootstrap::Existing => {}
        Bootstrap::Configured => {
            tracing::info!(
                project = bootstrap::DEFAULT_PROJECT,
                "created the first project with AUTHLINK_BOOTSTRAP_API_KEY"
            );
        }
        Bootstrap::Generated(key) => {
            println!("First start: created project `default` with this API key. It is shown only once:");
            println!("{key}");
            println!(
                "Send it as the x-api-key header, e.g. export AUTHLINK_API_KEY=<the key above>; \
                 curl -H \"x-api-key: $AUTHLINK_API_KEY\" {public_base}/api/v3.1/auth_configs"
            );
        }
    }
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let mut filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // The MCP SDK logs every stateless request at info and, at debug, whole tool arguments and
    // results (link tokens, access tokens): it is held at warn whatever RUST_LOG says.
    if let Ok(directive) = "rmcp=warn".parse() {
        filter = filter.add_directive(directive);
    }
    // Colour only on a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Resolves on SIGINT or SIGTERM; the server then stops accepting and drains in-flight requests.
/// The handlers are registered when this is called, at the very start of `serve`: a signal that
/// arrives during start-up (a slow migration, the first key) is then kept and answered by a clean
/// drain as soon as serving begins, instead of the default action killing the process mid-write.
fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static, CliError> {
    let io = |source| CliError::Io { context: "cannot install the SIGINT/SIGTERM handlers".into(), source };
    #[cfg(unix)]
    let wait = {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).map_err(io)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(io)?;
        async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
        }
    };
    #[cfg(not(unix))]
    let wait = {
        let _ = io;
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    Ok(async move {
        wait.await;
        tracing::info!("shutdown signal received, draining");
    })
}
