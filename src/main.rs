use clap::Parser;
use rheo::config::Config;
use tracing::{error, info};

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::parse();
    if let Err(e) = config.validate() {
        error!("invalid configuration: {e}");
        return std::process::ExitCode::from(2);
    }
    // Filters outside the built-in set: one line each (filters/WRITING_A_FILTER.md).
    if let Err(e) = gstrheoedgeoutline::register() {
        error!("filter registration failed: {e}");
        return std::process::ExitCode::from(1);
    }
    if let Err(e) = rheo_pipelines::init() {
        error!("GStreamer initialisation failed: {}", e.message);
        return std::process::ExitCode::from(1);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let (addr, core) = match rheo::spawn_server(&config).await {
            Ok(started) => started,
            Err(e) => {
                error!("cannot listen on {}:{}: {e}", config.bind, config.port);
                return std::process::ExitCode::from(1);
            }
        };
        info!(web = %config.web_dir().display(), "Rheo on ws://{addr}/kurento, demos at http://localhost:{}/", addr.port());
        shutdown_signal().await;
        info!("shutting down");
        core.release_all().await;
        std::process::ExitCode::SUCCESS
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
}
