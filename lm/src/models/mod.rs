//! Causal language models. One forward pass ([`transformer`]) serves every family; each family's
//! file maps its checkpoint names and quirks onto it.

mod gpt_neox;
mod llama;
pub mod transformer;

pub use transformer::CausalLm;
