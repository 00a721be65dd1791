//! Triad's gRPC contracts. The `.proto` sources live in `proto/triad/v1/`; `results.proto`
//! holds METRICS.json and run.json as messages, with their JSON form in [`json`].
//!
//! Architecture and conventions: docs/design.md.

// One event per evaluation carries the (large) `Metrics`; boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
pub mod v1 {
    tonic::include_proto!("triad.v1");
}

pub mod enums;
pub mod json;

/// The encoded `FileDescriptorSet` of every Triad proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/triad_descriptor.bin"));
