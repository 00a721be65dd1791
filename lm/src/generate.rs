//! Greedy decoding with a KV cache.

use crate::CausalLm;
use tch::{Kind, Tensor};

/// Greedy continuation of `prompt` (token ids), at most `max_new` tokens, stopping after any of
/// `stop` (typically the EOS ids). Returns only the new tokens.
pub fn greedy(model: &CausalLm, prompt: &[u32], max_new: usize, stop: &[i64]) -> Vec<u32> {
    if prompt.is_empty() || max_new == 0 {
        return vec![];
    }
    tch::no_grad(|| {
        let mut cache = model.new_cache();
        let ids: Vec<i64> = prompt.iter().map(|&x| x as i64).collect();
        let mut input = Tensor::from_slice(&ids)
            .view([1, -1])
            .to_device(model.device());
        let mut out = Vec::with_capacity(max_new);
        for _ in 0..max_new {
            let h = model.hidden_states(&input, None, None, Some(&mut cache));
            let last = h.narrow(1, h.size()[1] - 1, 1);
            let next = model
                .logits(&last)
                .to_kind(Kind::Float)
                .argmax(-1, false)
                .view([1, 1]);
            let id = next.int64_value(&[0, 0]);
            out.push(id as u32);
            if stop.contains(&id) {
                break;
            }
            input = next;
        }
        out
    })
}
