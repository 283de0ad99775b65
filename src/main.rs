//! `protocol`: the command line. It reads the config, binds, prints the address and hands over
//! to `protocol::run`.

use clap::{Parser, Subcommand};
use protocol::config::Config;
use protocol::{RunOptions, build_state, run};
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "protocol",
    version,
    about = "Protocol server: a self-hosted chat API on SQLite"
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
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("protocol: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config_path: &std::path::Path) -> Result<(), String> {
    let config = Config::load(config_path)?;
    let addr = config.listen_addr()?;
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let public_url = config.public_url(local);
    let state = build_state(&config, &public_url)?;

    if !local.ip().is_loopback() {
        let exposed = config.accounts_with_example_tokens();
        if !exposed.is_empty() {
            log::warn!(
                "the accounts {} use the example tokens shipped in protocol.toml, on the non-loopback \
                 address {local}: anyone can read those tokens; replace them",
                exposed.join(", ")
            );
        }
    }

    actix_web::rt::System::new().block_on(async move {
        let server = run(listener, state, RunOptions::default())
            .map_err(|e| format!("cannot start the server: {e}"))?;
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "listening on http://{local}");
        let _ = stdout.flush();
        server.await.map_err(|e| format!("server error: {e}"))
    })
}
