//! `triad-trainer --listen ADDR --data-root DIR`: the `triad.v1.Trainer` gRPC service, with
//! `grpc.health.v1` health and server reflection.

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
    #[arg(long, env = "TRIAD_LISTEN", default_value = "127.0.0.1:50051")]
    listen: std::net::SocketAddr,
    /// Every path in a request is resolved inside this folder.
    #[arg(long, required_unless_present = "probe")]
    data_root: Option<PathBuf>,
    /// Check that the server on --health-listen (else --listen) is serving; exit 0 (yes) or 1.
    #[arg(long)]
    probe: bool,
    /// CPU threads for libtorch in all, else $TRIAD_THREADS, else the machine's cores (in a
    /// container the host's, not its CPU limit: set it to the limit).
    #[arg(long)]
    threads: Option<usize>,
    /// Health says NOT_SERVING while a run has been silent (no step, checkpoint or state
    /// change) this many seconds: a stuck worker, not a slow step.
    #[arg(long, env = "TRIAD_STALL_AFTER_S", default_value_t = 1800)]
    stall_after_s: u64,
    #[command(flatten)]
    security: triad_serve::SecurityArgs,
}

#[tokio::main]
async fn main() {
    triad_lm::runtime::tune_allocator();
    triad_serve::init_tracing();
    if let Err(e) = serve(Args::parse()).await {
        let line = triad_lm::runtime::error_line(e.chain().map(|c| c.to_string()));
        eprintln!("error: {line}");
        std::process::exit(1);
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    if args.probe {
        triad_serve::probe(
            args.security.health_listen.unwrap_or(args.listen),
            "triad.v1.Trainer",
        )
        .await?;
        return Ok(());
    }
    triad_lm::threads::configure(args.threads).map_err(anyhow::Error::msg)?;
    let root = triad_serve::data_root(args.data_root.as_deref().expect("required by clap"))?;
    tracing::info!(root = %root.display(), "triad-trainer starting");
    let service = TrainerService::new(root)
        .with_stall_after(std::time::Duration::from_secs(args.stall_after_s.max(1)));
    let security = args.security.load()?;
    let max = security.max_request_bytes;
    let watched = service.clone();
    let telemetry = triad_serve::Telemetry::default();
    service.register_metrics(&telemetry);
    let served = triad_serve::Served::new("triad.v1.Trainer")
        .healthy_when(move || watched.stalled().is_none())
        .with_telemetry(telemetry);
    triad_serve::serve(args.listen, served, &security, |router| {
        router.add_service(TrainerServer::new(service).max_decoding_message_size(max))
    })
    .await?;
    Ok(())
}
