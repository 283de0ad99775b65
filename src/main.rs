//! `protocol`: the command line (the subcommands live in `protocol::cli`).

use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

// mimalloc: the request path allocates many small strings (rows, JSON); glibc's malloc spent ~10%
// of a list request's CPU on them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "protocol",
    version,
    about = "Protocol server: a self-hosted chat API on SQLite",
    after_help = "Exit codes: 0 success, 1 failure (one line on stderr says why), 2 bad usage."
)]
struct Cli {
    /// The config file.
    #[arg(
        long,
        global = true,
        env = "PROTOCOL_CONFIG",
        default_value = "protocol.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server (the default).
    Serve,
    /// Write a fresh protocol.toml with a strong random token into DIR (default: here).
    Init {
        /// Where to write protocol.toml.
        dir: Option<PathBuf>,
    },
    /// Print a new strong random token.
    Token,
    /// Check the config file and say what it sets up.
    CheckConfig,
    /// Copy the live database (consistently, while the server runs) and its attachment files.
    Backup {
        /// The copy to create; its attachments go to FILE-files/.
        file: PathBuf,
    },
    /// Copy the SQLite database (consistently, while the server runs) and its attachment files
    /// into an empty PostgreSQL database.
    Migrate {
        /// The target: postgres://USER:PASS@HOST:PORT/DBNAME, an empty database.
        #[arg(
            long,
            value_name = "URL",
            env = "PROTOCOL_MIGRATE_TO",
            hide_env_values = true
        )]
        to: String,
        /// Where the attachment files go (default: server.files if set, else protocol-files
        /// beside the config: where the server on PostgreSQL looks for them).
        #[arg(long, value_name = "DIR")]
        files: Option<PathBuf>,
    },
    /// Load the demo data of the Protocol docs (the McCallister family, with the docs' ids)
    /// into the configured database; what is already there is left as it is.
    SeedDemo,
    /// Print a completion script for SHELL (e.g. `protocol completions bash >
    /// /etc/bash_completion.d/protocol`).
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; `protocol man > protocol.1 && man -l protocol.1`).
    Man,
}

/// Writes to stdout; a closed pipe (`protocol man | head`) is not a failure worth a panic.
fn print(bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("cannot write: {e}")),
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    protocol::logging::init("info");
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => protocol::cli::serve(&cli.config),
        Command::Init { dir } => protocol::cli::init(dir.as_deref()),
        Command::Token => protocol::cli::token(),
        Command::CheckConfig => protocol::cli::check_config(&cli.config),
        Command::Backup { file } => protocol::cli::backup(&cli.config, &file),
        Command::Migrate { to, files } => {
            protocol::cli::migrate(&cli.config, &to, files.as_deref())
        }
        Command::SeedDemo => protocol::cli::seed_demo(&cli.config),
        Command::Completions { shell } => {
            print(&protocol::manual::completions(shell, Cli::command()))
        }
        Command::Man => protocol::manual::man_page(Cli::command())
            .map_err(|e| format!("cannot make the man page: {e}"))
            .and_then(|page| print(&page)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("protocol: {message}");
            ExitCode::FAILURE
        }
    }
}
