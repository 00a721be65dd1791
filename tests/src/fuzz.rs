//! Random hostile inputs for the fuzz-style tests (trainer's config parser, both services):
//! run configs near a good one with fields set to values of every TOML type in and out of
//! range, paths that escape or lie, and byte-level damage. Seeded, so every machine sees the
//! same cases.

use std::collections::BTreeMap;

/// splitmix64: a fixed seed gives the same cases on every machine.
pub struct Rand(pub u64);

impl Rand {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Paths a careless or hostile client might send.
pub const PATHS: &[&str] = &[
    "models/tiny",
    "models/bad-weights",
    "models/no-tokenizer",
    "models/wrong-shape",
    "models/linked-weights",
    "models/bad-config",
    "out-link",
    "out-link/x",
    "../outside",
    "../outside/secret.jsonl",
    "/etc/passwd",
    "/tmp",
    "dangling",
    "dangling/x",
    "data/train.jsonl",
    "data/linked.jsonl",
    "data/binary.jsonl",
    "data/empty.jsonl",
    "data/bad-line.jsonl",
    "data/a-folder.jsonl",
    "data/canaries.jsonl",
    "",
    ".",
    "..",
    "data/../../outside/secret.jsonl",
    "a\u{0}b",
    "a\nb",
    "ü/😀",
    "models//tiny",
    "./models/tiny",
    "models/tiny/",
    "~/x",
    "$HOME",
    "%2e%2e/outside",
    "runs/../../outside",
    "runs/fuzz",
    "C:\\Windows",
];

/// Values of every type TOML has, in and out of every field's range.
pub const VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "3",
    "1e308",
    "-1e308",
    "inf",
    "-inf",
    "nan",
    "0.5",
    "1e-300",
    "0.999",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "100000000",
    "1.0",
    "true",
    "false",
    "[]",
    "{}",
    "[0.9, 0.999]",
    "[1.0, 1.0]",
    "[\"q_proj\"]",
    "[\"nope\"]",
    "\"full\"",
    "\"lora\"",
    "\"dp\"",
    "\"dp-lora\"",
    "\"cpu\"",
    "\"cuda\"",
    "\"cuda:99\"",
    "\"mps\"",
    "\"auto\"",
    "\"bf16\"",
    "\"f16\"",
    "\"pld\"",
    "\"rdp\"",
    "\"cosine\"",
    "\"linear\"",
    "\"sgd\"",
    "\"assistant\"",
    "\"all\"",
    "\"\"",
    "1979-05-27T07:32:00Z",
];

/// (table, key) of a run config, and one that is not.
pub const KEYS: &[(&str, &str)] = &[
    ("", "model"),
    ("", "train_file"),
    ("", "method"),
    ("", "seed"),
    ("", "epochs"),
    ("", "steps"),
    ("", "batch_size"),
    ("", "grad_accum"),
    ("", "max_length"),
    ("", "loss_on"),
    ("", "device"),
    ("", "dtype"),
    ("", "bogus"),
    ("optimizer", "name"),
    ("optimizer", "lr"),
    ("optimizer", "weight_decay"),
    ("optimizer", "betas"),
    ("optimizer", "eps"),
    ("optimizer", "momentum"),
    ("schedule", "warmup_steps"),
    ("schedule", "decay"),
    ("lora", "r"),
    ("lora", "alpha"),
    ("lora", "dropout"),
    ("lora", "target_modules"),
    ("lora", "use_rslora"),
    ("dp", "max_grad_norm"),
    ("dp", "noise_multiplier"),
    ("dp", "target_epsilon"),
    ("dp", "delta"),
    ("dp", "secure_rng"),
    ("dp", "reproducible_noise"),
    ("dp", "dataset_size"),
    ("dp", "accountant"),
    ("checkpoint", "every_epoch"),
    ("checkpoint", "keep_optimizer_state"),
];

/// A RUN.toml near the good one: fields set to hostile values or removed, a method switched,
/// and sometimes its bytes broken.
pub fn random_config(r: &mut Rand) -> String {
    let mut fields: BTreeMap<(&str, &str), String> = [
        (("", "model"), "\"models/tiny\""),
        (("", "train_file"), "\"data/train.jsonl\""),
        (("", "method"), "\"lora\""),
        (("", "steps"), "2"),
        (("", "batch_size"), "2"),
        (("", "max_length"), "48"),
        (("", "device"), "\"cpu\""),
        (("optimizer", "lr"), "0.001"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    if r.chance(0.3) {
        fields.insert(
            ("", "method"),
            r.pick(&["\"dp\"", "\"dp-lora\""]).to_string(),
        );
        fields.insert(("dp", "noise_multiplier"), "1.0".into());
        fields.insert(("dp", "max_grad_norm"), "1.0".into());
    }
    for _ in 0..1 + r.below(4) {
        let key = *r.pick(KEYS);
        match r.below(5) {
            0 => {
                fields.remove(&key);
            }
            1 if key.1 == "model" || key.1 == "train_file" => {
                fields.insert(key, format!("{:?}", r.pick(PATHS)));
            }
            _ => {
                fields.insert(key, r.pick(VALUES).to_string());
            }
        }
    }
    let mut text = String::new();
    for table in ["", "optimizer", "schedule", "lora", "dp", "checkpoint"] {
        let mut lines = fields.iter().filter(|((t, _), _)| *t == table).peekable();
        if lines.peek().is_some() && !table.is_empty() {
            text.push_str(&format!("[{table}]\n"));
        }
        for ((_, k), v) in lines {
            text.push_str(&format!("{k} = {v}\n"));
        }
    }
    if r.chance(0.25) {
        text = mangle(r, text);
    }
    text
}

/// Byte-level damage: characters TOML cares about put anywhere, spans cut, lines repeated.
pub fn mangle(r: &mut Rand, text: String) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + r.below(3) {
        let at = r.below(chars.len() + 1);
        match r.below(4) {
            0 => chars.insert(
                at,
                *r.pick(&['"', '[', ']', '=', '\n', '\0', 'é', '#', '\\', '{', '.']),
            ),
            1 => {
                let end = (at + r.below(20)).min(chars.len());
                chars.drain(at..end);
            }
            2 => chars.insert(at, char::from(r.below(128) as u8)),
            _ => {
                let line: String = chars.iter().take_while(|c| **c != '\n').collect();
                chars.extend(format!("\n{line}\n").chars());
            }
        }
    }
    chars.into_iter().collect()
}
