//! `triad-trainer --listen ADDR --data-root DIR`: the `triad.v1.Trainer` gRPC service, with
//! `grpc.health.v1` health and server reflection.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use triad_proto::v1::trainer_server::TrainerServer;
use triad_trainer::service::TrainerService;

#[derive(Parser)]
#[command(
    name = "triad-trainer",
    version,
    about = "Triad's fine-tuning service (gRPC)."
)]
struct Args {
    /// Address to listen on, e.g. 127.0.0.1:50051 or [::]:50051.
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: std::net::SocketAddr,
    /// Every path in a request is resolved inside this folder.
    #[arg(long)]
    data_root: PathBuf,
}

#[tokio::main]
async fn main() {
    triad_lm::runtime::tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRIAD_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = serve(Args::parse()).await {
        let line = triad_lm::runtime::error_line(e.chain().map(|c| c.to_string()));
        eprintln!("error: {line}");
        std::process::exit(1);
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.data_root.is_dir(),
        "--data-root {}: not a directory",
        args.data_root.display()
    );
    let root = args
        .data_root
        .canonicalize()
        .with_context(|| format!("--data-root {}", args.data_root.display()))?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<TrainerServer<TrainerService>>().await;
    // Reflection in both versions clients use (grpcurl: v1; grpcio's helpers: v1alpha).
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(triad_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen {}", args.listen))?;
    // The bound address (port 0 picks one) on stdout, for whoever started us.
    println!("listening on {}", listener.local_addr()?);
    tracing::info!(addr = %listener.local_addr()?, root = %root.display(), "triad-trainer serving");
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(TrainerServer::new(TrainerService::new(root)))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        )
        .await?;
    Ok(())
}
