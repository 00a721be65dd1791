//! Compiles triad/v1/*.proto in pure Rust (protox), so no `protoc` is needed on the machine.

use prost::Message;
use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "triad/v1/common.proto",
    "triad/v1/trainer.proto",
    "triad/v1/evaluator.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    // Kept for gRPC server reflection.
    std::fs::write(out.join("triad_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
