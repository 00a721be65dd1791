//! GGUF (llama.cpp's model format): reading, dequantising, and importing as a Hugging Face folder.

pub mod dequant;
mod hf_config;
pub mod import;
mod kquants;
pub mod plan;
pub mod reader;
mod spm;
pub mod tokenizer;

pub use import::{import_gguf, ImportSummary, GEMMA_TERMS};
pub use reader::{GgufFile, MetaValue, TensorInfo};
