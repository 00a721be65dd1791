//! Compiles triad/v1/*.proto in pure Rust (protox), so no `protoc` is needed on the machine.
//! The messages of `results.proto` (METRICS.json, run.json) also get serde: their JSON form is
//! the files' format (see that file's header).

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "triad/v1/common.proto",
    "triad/v1/results.proto",
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
    let mut build = tonic_prost_build::configure().btree_map(".triad.v1");
    let results = fds
        .file
        .iter()
        .find(|f| f.name() == "triad/v1/results.proto")
        .expect("results.proto compiled");
    for m in &results.message_type {
        let path = format!(".triad.v1.{}", m.name());
        build = build.type_attribute(
            &path,
            "#[derive(serde::Serialize, serde::Deserialize)] #[serde(default, deny_unknown_fields)]",
        );
        for f in &m.field {
            if f.r#type() != Type::Double {
                continue;
            }
            // Non-finite doubles are JSON null (as serde_json writes them); an interval is
            // `[lo, hi]` or null.
            let with = match (f.label(), f.proto3_optional()) {
                (Label::Repeated, _) if f.name().ends_with("_ci95") => "crate::json::interval",
                (Label::Repeated, _) | (_, true) => continue,
                _ => "crate::json::number",
            };
            // A double the file lacks (written before the field existed) is NaN, never 0.
            let default = if with == "crate::json::number" {
                ", default = \"crate::json::nan\""
            } else {
                ""
            };
            build = build.field_attribute(
                format!("{path}.{}", f.name()),
                format!("#[serde(with = \"{with}\"{default})]"),
            );
        }
    }
    build.compile_fds(fds)?;
    Ok(())
}
