//! Building blocks shared by the model families.

pub mod attention;
pub mod cache;
pub mod layers;
pub mod rope;

pub use attention::{attend, AttnMask};
pub use cache::KvCache;
pub use layers::{Linear, Norm};
pub use rope::Rope;
