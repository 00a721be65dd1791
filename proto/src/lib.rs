//! Triad's gRPC contracts. The `.proto` sources live in `proto/triad/v1/`.

pub mod v1 {
    tonic::include_proto!("triad.v1");
}

/// The encoded `FileDescriptorSet` of every Triad proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/triad_descriptor.bin"));
