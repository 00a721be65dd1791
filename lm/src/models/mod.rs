//! Causal language models. One forward pass ([`transformer`]) serves every family; each family's
//! file maps its checkpoint names and quirks onto it.

mod gpt_neox;
pub mod layer;
mod llama;
mod phi3;
pub mod transformer;

pub use transformer::CausalLm;
