//! End to end with TLS, mutual TLS and bearer tokens: `triad-trainer` and `triad-evaluator`
//! started on loopback with certificates (`triad_tests::tls`, openssl) and a token file, a small
//! study run through them, and the refusals: no token or a wrong one → Unauthenticated, a path
//! out of the data root → InvalidArgument, an oversized request → refused, a client without a
//! certificate → no connection. Health checks work without a token.

use std::process::Command;
use tonic::Code;
use triad_proto::v1::evaluator_client::EvaluatorClient;
use triad_proto::v1::{EvaluateRequest, ScoreTextsRequest, TextInput};

const TOKEN: &str = "test-token-0123456789abcdef";

#[test]
fn secured_services_run_a_study_and_refuse_what_they_must() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let certs = tmp.path().join("certs");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&certs).unwrap();
    triad_tests::tls::certificates(&certs);
    std::fs::write(certs.join("tokens"), format!("# accepted\n{TOKEN}\n")).unwrap();
    let c = |f: &str| certs.join(f).to_str().unwrap().to_string();
    triad_tests::run_oracle(
        "tiny_lm_with_tokenizer.py",
        &[
            root.join("tiny").to_str().unwrap(),
            triad_tests::neox_tokenizer().to_str().unwrap(),
        ],
    );
    let server_args = |max: &str| {
        vec![
            "--data-root".to_string(),
            root.to_str().unwrap().to_string(),
            "--tls-cert".into(),
            c("server.pem"),
            "--tls-key".into(),
            c("server.key"),
            "--tls-client-ca".into(),
            c("ca.pem"),
            "--token-file".into(),
            c("tokens"),
            "--max-request-bytes".into(),
            max.into(),
        ]
    };
    let strs = |v: &[String]| {
        v.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\u{0}")
    };
    let start = |bin: &str, args: &[String]| {
        let joined = strs(args);
        let args: Vec<&str> = joined.split('\u{0}').collect();
        triad_tests::Service::start(triad_tests::binary(bin).to_str().unwrap(), &args)
    };
    let trainer = start("triad-trainer", &server_args("4194304"));
    // A plaintext health-only port for Kubernetes' probes, next to the TLS port.
    let health_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut eval_args = server_args("65536");
    eval_args.extend(["--health-listen".into(), format!("127.0.0.1:{health_port}")]);
    let evaluator = start("triad-evaluator", &eval_args);

    // A small study through both, over mutual TLS with the token.
    let spec = root.join("study.toml");
    std::fs::write(
        &spec,
        "name = \"secure\"\n[model]\npath = \"tiny\"\n[data]\ngenerate = \"customer-support\"\ntrain = 8\ntest = 8\n[train]\nepochs = 1\nbatch_size = 4\nmax_length = 96\ndevice = \"cpu\"\n[[method]]\nmethod = \"lora\"\nlora_r = [4]\nlr = [1e-2]\n",
    )
    .unwrap();
    let study = |extra: &[&str]| {
        let mut cmd = Command::new(triad_tests::binary("triad"));
        cmd.args(["study", "run", spec.to_str().unwrap(), "--dir"])
            .arg(root.join("studies/secure"))
            .args(["--trainer", &trainer.addr, "--evaluator", &evaluator.addr])
            .arg("--data-root")
            .arg(&root)
            .args(["--tls-ca", &c("ca.pem")])
            .args(extra);
        cmd.output().unwrap()
    };
    let out = study(&[
        "--tls-client-cert",
        &c("client.pem"),
        "--tls-client-key",
        &c("client.key"),
        "--token-file",
        &c("tokens"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(root.join("studies/secure/results.csv")).unwrap();
    // Header, the base model's reference row, the one run's row.
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.lines().nth(1).unwrap().starts_with("@base,"), "{csv}");

    // The same study without a token (and a fresh folder, so it must call the trainer).
    std::fs::write(
        &spec,
        std::fs::read_to_string(&spec)
            .unwrap()
            .replace("lr = [1e-2]", "lr = [2e-2]"),
    )
    .unwrap();
    let out = study(&[
        "--tls-client-cert",
        &c("client.pem"),
        "--tls-client-key",
        &c("client.key"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("missing bearer token"),
        "{err}"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
        let ca = Certificate::from_pem(std::fs::read(certs.join("ca.pem")).unwrap());
        let id = Identity::from_pem(
            std::fs::read(certs.join("client.pem")).unwrap(),
            std::fs::read(certs.join("client.key")).unwrap(),
        );
        let tls = ClientTlsConfig::new()
            .ca_certificate(ca.clone())
            .identity(id);
        let channel = Endpoint::from_shared(format!("https://{}", evaluator.addr))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let with = |token: Option<&str>, req: EvaluateRequest| {
            let mut r = tonic::Request::new(req);
            if let Some(t) = token {
                r.metadata_mut()
                    .insert("authorization", format!("Bearer {t}").parse().unwrap());
            }
            r
        };
        let good = EvaluateRequest {
            base_model: "tiny".into(),
            checkpoint: "tiny".into(),
            train_file: "studies/secure/data/train.jsonl".into(),
            test_file: "studies/secure/data/test.jsonl".into(),
            ..Default::default()
        };
        let mut client = EvaluatorClient::new(channel.clone());
        // No token, a wrong token: Unauthenticated.
        for token in [None, Some("wrong-token-0123456789")] {
            let e = client
                .evaluate(with(token, good.clone()))
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::Unauthenticated, "{token:?}: {e:?}");
        }
        // A path out of the data root: InvalidArgument naming the field.
        let escape = EvaluateRequest {
            train_file: "../certs/tokens".into(),
            ..good.clone()
        };
        let e = client
            .evaluate(with(Some(TOKEN), escape))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("train_file"), "{e:?}");
        // Over the evaluator's 64 KiB request limit: refused before any work.
        let big = ScoreTextsRequest {
            model: "tiny".into(),
            texts: vec![TextInput {
                id: "a".into(),
                text: "x".repeat(100_000),
            }],
            ..Default::default()
        };
        let mut r = tonic::Request::new(big);
        r.metadata_mut()
            .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let e = client.score_texts(r).await.unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
        assert!(e.message().contains("--max-request-bytes"), "{e:?}");
        // The plaintext health port answers, and serves nothing else.
        let plain = Endpoint::from_shared(format!("http://127.0.0.1:{health_port}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let h = tonic_health::pb::health_client::HealthClient::new(plain.clone())
            .check(tonic_health::pb::HealthCheckRequest {
                service: "triad.v1.Evaluator".into(),
            })
            .await
            .unwrap();
        assert_eq!(h.into_inner().status, 1);
        let e = EvaluatorClient::new(plain)
            .score_texts(ScoreTextsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented, "{e:?}");
        // Health needs no token.
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let h = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "triad.v1.Evaluator".into(),
            })
            .await
            .unwrap();
        assert_eq!(h.into_inner().status, 1);
        // Mutual TLS: a client without a certificate gets no service.
        let no_cert = Endpoint::from_shared(format!("https://{}", evaluator.addr))
            .unwrap()
            .tls_config(ClientTlsConfig::new().ca_certificate(ca))
            .unwrap();
        // Reaching the service would give InvalidArgument (no texts) or Unauthenticated (no
        // token); without a certificate the TLS layer must fail the call first.
        let refused = match no_cert.connect().await {
            Err(e) => format!("connect: {e}"),
            Ok(ch) => match EvaluatorClient::new(ch)
                .score_texts(ScoreTextsRequest::default())
                .await
            {
                Err(e) if ![Code::InvalidArgument, Code::Unauthenticated].contains(&e.code()) => {
                    format!("{:?}: {}", e.code(), e.message())
                }
                other => panic!("a client without a certificate was served: {other:?}"),
            },
        };
        println!("without a client certificate: {refused}");
    });

    // The container health check: `--probe` reaches the plaintext health port through
    // TRIAD_HEALTH_LISTEN (the Dockerfile sets it); against the TLS port it fails saying so.
    let probe = |bin: &str, args: &[&str], env: Option<String>| {
        let mut cmd = Command::new(triad_tests::binary(bin));
        cmd.arg("--probe")
            .args(args)
            .env_remove("TRIAD_HEALTH_LISTEN");
        if let Some(v) = env {
            cmd.env("TRIAD_HEALTH_LISTEN", v);
        }
        cmd.output().unwrap()
    };
    let out = probe(
        "triad-evaluator",
        &[],
        Some(format!("127.0.0.1:{health_port}")),
    );
    assert!(out.status.success(), "{out:?}");
    let out = probe("triad-trainer", &["--listen", &trainer.addr], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--health-listen"),
        "{err}"
    );

    // TLS material that is not what it claims stops the server at start, naming the file.
    std::fs::write(certs.join("garbage.pem"), "not a certificate\n").unwrap();
    for (flag, file) in [
        ("--tls-cert", "garbage.pem"),
        ("--tls-key", "garbage.pem"),
        ("--tls-client-ca", "garbage.pem"),
        ("--tls-key", "client.key"),
    ] {
        let mut args = server_args("4194304");
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1] = c(file);
        let out = Command::new(triad_tests::binary("triad-trainer"))
            .args(["--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(&format!("{flag} {}", c(file))),
            "{flag} {file}: {err}"
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("listening on"),
            "{flag} {file}: started"
        );
    }
}
