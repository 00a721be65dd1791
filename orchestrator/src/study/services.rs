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
use triad_trainer::service::TrainerService;

pub type Channel = tonic::transport::Channel;

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

async fn loopback() -> Result<(tokio::net::TcpListener, String), StudyError> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| StudyError::Invalid(format!("binding a loopback port: {e}")))?;
    let addr = l
        .local_addr()
        .map_err(|e| StudyError::Invalid(format!("loopback address: {e}")))?
        .to_string();
    Ok((l, addr))
}

/// Start both services over `root`, caching base-model scores under `root/.triad/base-scores`.
pub async fn embedded(root: &Path) -> Result<Embedded, StudyError> {
    let (tl, trainer) = loopback().await?;
    let (el, evaluator) = loopback().await?;
    let (ts, tr) = oneshot::channel::<()>();
    let (es, er) = oneshot::channel::<()>();
    let trainer_svc = TrainerService::new(root.to_path_buf());
    tokio::spawn(async move {
        let r = triad_serve::serve_on(
            tl,
            "triad.v1.Trainer",
            |router| router.add_service(TrainerServer::new(trainer_svc)),
            async {
                let _ = tr.await;
            },
        )
        .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "embedded trainer stopped");
        }
    });
    let eval_svc = EvaluatorService::new(root.to_path_buf(), Some(root.join(".triad/base-scores")));
    tokio::spawn(async move {
        let r = triad_serve::serve_on(
            el,
            "triad.v1.Evaluator",
            |router| router.add_service(EvaluatorServer::new(eval_svc)),
            async {
                let _ = er.await;
            },
        )
        .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "embedded evaluator stopped");
        }
    });
    Ok(Embedded {
        trainer,
        evaluator,
        stop: vec![ts, es],
    })
}

fn endpoint(addr: &str) -> Result<tonic::transport::Endpoint, tonic::transport::Error> {
    let uri = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    Ok(tonic::transport::Endpoint::from_shared(uri)?
        .connect_timeout(std::time::Duration::from_secs(10))
        .tcp_keepalive(Some(std::time::Duration::from_secs(30))))
}

pub async fn trainer(addr: &str) -> Result<TrainerClient<Channel>, StudyError> {
    let err = |e: tonic::transport::Error| StudyError::Service {
        service: "trainer",
        addr: addr.to_string(),
        message: format!("cannot connect: {e}"),
    };
    let ch = endpoint(addr).map_err(err)?.connect().await.map_err(err)?;
    Ok(TrainerClient::new(ch))
}

pub async fn evaluator(addr: &str) -> Result<EvaluatorClient<Channel>, StudyError> {
    let err = |e: tonic::transport::Error| StudyError::Service {
        service: "evaluator",
        addr: addr.to_string(),
        message: format!("cannot connect: {e}"),
    };
    let ch = endpoint(addr).map_err(err)?.connect().await.map_err(err)?;
    Ok(EvaluatorClient::new(ch).max_decoding_message_size(64 << 20))
}
