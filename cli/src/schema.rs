//! `zerobus schema`: a table's record message, from its Unity Catalog schema, as `.proto` source
//! (and, with `--descriptor-out`, as a `FileDescriptorSet` that `ingest --descriptor` and protoc
//! plugins read).

use std::path::PathBuf;

use clap::Args;
use prost::Message as _;

use crate::{CliError, CliResult};

/// Options of `zerobus schema`.
#[derive(Args)]
pub struct SchemaArgs {
    /// The table, `catalog.schema.table`.
    #[arg(env = "ZEROBUS_TABLE", value_name = "TABLE")]
    pub table: String,
    /// Also write the record message as a serialized google.protobuf.FileDescriptorSet (one file,
    /// `<table>.proto`) to FILE.
    #[arg(long, value_name = "FILE")]
    pub descriptor_out: Option<PathBuf>,
    /// Zerobus endpoint, e.g. https://<workspace-id>.zerobus.<region>.cloud.databricks.com
    /// (http:// only for a local server); its first label is the workspace id the token is for.
    #[arg(long, env = "ZEROBUS_ENDPOINT", value_name = "URL")]
    pub endpoint: String,
    /// Workspace URL that issues OAuth tokens and serves Unity Catalog.
    #[arg(long, env = "ZEROBUS_WORKSPACE_URL", value_name = "URL")]
    pub workspace_url: String,
    /// OAuth client id (service principal).
    #[arg(long, env = "ZEROBUS_CLIENT_ID", value_name = "ID")]
    pub client_id: String,
    /// OAuth client secret; prefer the environment variable over the flag, which other users
    /// can see in the process list.
    #[arg(long, env = "ZEROBUS_CLIENT_SECRET", value_name = "SECRET", hide_env_values = true)]
    pub client_secret: String,
    /// Appended to the user-agent so the service can tell applications apart.
    #[arg(long, value_name = "NAME")]
    pub application_name: Option<String>,
    /// PEM file of extra CA certificates to trust (private deployments, TLS-inspecting proxies).
    #[arg(long, env = "ZEROBUS_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
}

/// Runs `zerobus schema`.
pub async fn run(args: SchemaArgs) -> CliResult<()> {
    let sdk = crate::ingest::build_sdk(
        &args.endpoint,
        &args.workspace_url,
        args.application_name.as_deref(),
        args.ca_cert.as_deref(),
    )?;
    let table =
        sdk.get_table_schema(&args.table, args.client_id.as_str(), args.client_secret.as_str()).await?;
    if let Some(path) = &args.descriptor_out {
        let set = zerobus_schema::file_descriptor_set(&table).map_err(|e| CliError(e.to_string()))?;
        std::fs::write(path, set.encode_to_vec())
            .map_err(|e| CliError(format!("cannot write {}: {e}", path.display())))?;
    }
    match zerobus_schema::proto_file(&table) {
        Ok(text) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| CliError(format!("cannot write to stdout: {e}")))
        }
        // The descriptor has no such limit: say so, but the file asked for is written.
        Err(e) if args.descriptor_out.is_some() => {
            eprintln!("zerobus schema: no .proto printed: {e}");
            Ok(())
        }
        Err(e) => Err(CliError(e.to_string())),
    }
}
