//! Where the study's runs and evaluations go: services embedded in this process on loopback
//! (the default), or remote addresses; and the gRPC clients to them.

use super::StudyError;
use std::path::Path;
use tokio::sync::oneshot;
use triad_evaluator::service::EvaluatorService;
use triad_proto::v1::evaluator_client::EvaluatorClient;
use triad_proto::v1::evaluator_server::EvaluatorServer;
use triad_proto::v1::trainer_client::TrainerClient;
use triad_proto::v1::trainer_server::TrainerServer;
use triad_serve::ClientSecurity;
use triad_trainer::service::TrainerService;

/// A channel whose calls carry the bearer token, if any.
pub type Channel = tonic::service::interceptor::InterceptedService<
    tonic::transport::Channel,
    triad_serve::security::TokenInterceptor,
>;

/// A trainer and an evaluator served by this process on loopback ports; stopped on drop.
pub struct Embedded {
    pub trainer: String,
    pub evaluator: String,
    stop: Vec<oneshot::Sender<()>>,
}

impl Drop for Embedded {
    fn drop(&mut self) {
        for s in self.stop.drain(..) {
            let _ = s.send(());
        }
    }
}

/// Serve `add`'s service on a fresh loopback port until the returned sender fires (or drops).
async fn spawn_on_loopback(
    name: &'static str,
    add: impl FnOnce(triad_serve::Routes) -> triad_serve::Routes + Send + 'static,
) -> Result<(String, oneshot::Sender<()>), StudyError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| StudyError::Invalid(format!("binding a loopback port: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StudyError::Invalid(format!("loopback address: {e}")))?
        .to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        // Loopback only, inside this process: no TLS, no tokens.
        let security = triad_serve::Security::default();
        if let Err(e) = triad_serve::serve_on(
            listener,
            triad_serve::Served::new(name),
            &security,
            add,
            shutdown,
        )
        .await
        {
            tracing::error!(error = %e, service = name, "embedded service stopped");
        }
    });
    Ok((addr, stop))
}

/// Start both services over `root`, caching base-model scores under `root/.triad/base-scores`.
pub async fn embedded(root: &Path) -> Result<Embedded, StudyError> {
    let trainer_svc = TrainerService::new(root.to_path_buf());
    let (trainer, ts) = spawn_on_loopback("triad.v1.Trainer", |router| {
        router.add_service(TrainerServer::new(trainer_svc))
    })
    .await?;
    let eval_svc = EvaluatorService::new(root.to_path_buf(), Some(root.join(".triad/base-scores")));
    let (evaluator, es) = spawn_on_loopback("triad.v1.Evaluator", |router| {
        router.add_service(EvaluatorServer::new(eval_svc))
    })
    .await?;
    Ok(Embedded {
        trainer,
        evaluator,
        stop: vec![ts, es],
    })
}

/// Expand `dns:NAME:PORT` entries into every address NAME resolves to (sorted, deduplicated);
/// other entries pass through.
pub async fn expand_dns(addrs: &[String]) -> Result<Vec<String>, StudyError> {
    let mut out = vec![];
    for a in addrs {
        match a.strip_prefix("dns:") {
            None => out.push(a.clone()),
            Some(name) => {
                let mut found: Vec<String> = tokio::net::lookup_host(name)
                    .await
                    .map_err(|e| StudyError::Invalid(format!("--trainer {a}: {e}")))?
                    .map(|sa| sa.to_string())
                    .collect();
                found.sort();
                found.dedup();
                if found.is_empty() {
                    return Err(StudyError::Invalid(format!(
                        "--trainer {a}: resolves to no address"
                    )));
                }
                tracing::info!(name, replicas = found.len(), "trainers found through DNS");
                out.extend(found);
            }
        }
    }
    Ok(out)
}

async fn connect(
    service: &'static str,
    addr: &str,
    security: &ClientSecurity,
) -> Result<Channel, StudyError> {
    let err = |message: String| StudyError::Service {
        service,
        addr: addr.to_string(),
        message,
    };
    let channel = security
        .endpoint(addr)
        .map_err(|e| err(e.to_string()))?
        .connect()
        .await
        .map_err(|e| err(format!("cannot connect: {e}")))?;
    Ok(tonic::service::interceptor::InterceptedService::new(
        channel,
        security.interceptor(),
    ))
}

pub async fn trainer(
    addr: &str,
    security: &ClientSecurity,
) -> Result<TrainerClient<Channel>, StudyError> {
    Ok(TrainerClient::new(
        connect("trainer", addr, security).await?,
    ))
}

pub async fn evaluator(
    addr: &str,
    security: &ClientSecurity,
) -> Result<EvaluatorClient<Channel>, StudyError> {
    Ok(
        EvaluatorClient::new(connect("evaluator", addr, security).await?)
            .max_decoding_message_size(64 << 20),
    )
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn dns_entries_expand_to_every_address() {
        let got = super::expand_dns(&["dns:localhost:50051".into(), "10.0.0.1:1".into()])
            .await
            .unwrap();
        assert!(got.contains(&"127.0.0.1:50051".to_string()), "{got:?}");
        assert_eq!(got.last().unwrap(), "10.0.0.1:1");
        assert!(super::expand_dns(&["dns:no-such-host.invalid:1".into()])
            .await
            .is_err());
    }
}
