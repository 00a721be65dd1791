//! GGUF (llama.cpp's model format): reading, dequantising, and importing as a Hugging Face folder.

pub mod dequant;
pub mod import;
mod kquants;
pub mod reader;
mod spm;
pub mod tokenizer;

pub use import::{import_gguf, ImportSummary};
pub use reader::{GgufFile, MetaValue, TensorInfo};
