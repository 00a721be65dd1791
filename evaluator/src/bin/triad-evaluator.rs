//! `triad-evaluator --listen ADDR --data-root DIR`: the `triad.v1.Evaluator` gRPC service, with
//! `grpc.health.v1` health and server reflection.

use clap::Parser;
use std::path::PathBuf;
use triad_evaluator::service::EvaluatorService;
use triad_proto::v1::evaluator_server::EvaluatorServer;

#[derive(Parser)]
#[command(
    name = "triad-evaluator",
    version,
    about = "Triad's memorisation and utility evaluation service (gRPC)."
)]
struct Args {
    /// Address to listen on, e.g. 127.0.0.1:50052 or [::]:50052.
    #[arg(long, env = "TRIAD_LISTEN", default_value = "127.0.0.1:50052")]
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
    #[command(flatten)]
    security: triad_serve::SecurityArgs,
    /// Cache of base-model scores (default: DATA_ROOT/.triad/base-scores; `none` disables).
    #[arg(long)]
    cache_dir: Option<String>,
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
            "triad.v1.Evaluator",
        )
        .await?;
        return Ok(());
    }
    triad_lm::threads::configure(args.threads).map_err(anyhow::Error::msg)?;
    let root = triad_serve::data_root(args.data_root.as_deref().expect("required by clap"))?;
    let cache = match args.cache_dir.as_deref() {
        Some("none") => None,
        Some(d) => Some(PathBuf::from(d)),
        None => Some(root.join(".triad/base-scores")),
    };
    tracing::info!(root = %root.display(), "triad-evaluator starting");
    let service = EvaluatorService::new(root, cache);
    let security = args.security.load()?;
    let max = security.max_request_bytes;
    let telemetry = triad_serve::Telemetry::default();
    service.register_metrics(&telemetry);
    triad_serve::serve(
        args.listen,
        triad_serve::Served::new("triad.v1.Evaluator").with_telemetry(telemetry),
        &security,
        |router| router.add_service(EvaluatorServer::new(service).max_decoding_message_size(max)),
    )
    .await?;
    Ok(())
}
