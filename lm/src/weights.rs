//! Reading and writing safetensors: one file or shards listed in `model.safetensors.index.json`;
//! a model folder's identity (a digest of its weights).

use crate::error::{LmError, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Named tensors loaded from a checkpoint, with the file each came from (for error messages).
pub struct Weights {
    tensors: HashMap<String, (Tensor, PathBuf)>,
    /// Every tensor handed out by `take`/`take_opt`, in order (shallow handles, same storage):
    /// the model's named parameters.
    taken: Vec<(String, Tensor)>,
    /// The folder or file the weights came from.
    pub source: PathBuf,
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F64 => Kind::Double,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::U8 => Kind::Uint8,
        Dtype::I8 => Kind::Int8,
        Dtype::BOOL => Kind::Bool,
        _ => return None,
    })
}

impl Weights {
    /// Load the weights of a model folder: `model.safetensors`, or the shards named by
    /// `model.safetensors.index.json`. Floating-point tensors are converted to `kind`.
    pub fn load_dir(dir: &Path, kind: Kind, device: Device) -> Result<Self> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let files = if single.is_file() {
            vec![single]
        } else if index.is_file() {
            shard_files(&index)?
        } else {
            return Err(LmError::invalid(
                dir,
                "no model.safetensors or model.safetensors.index.json in the model folder",
            ));
        };
        let mut w = Weights::empty(dir);
        for f in &files {
            w.extend_from_file(f, kind, device, "")?;
        }
        Ok(w)
    }

    /// An empty set (for building up from several files).
    pub fn empty(source: impl Into<PathBuf>) -> Self {
        Weights {
            tensors: HashMap::new(),
            taken: Vec::new(),
            source: source.into(),
        }
    }

    /// Add every tensor of one safetensors file, with `strip_prefix` removed from names that have it.
    pub fn extend_from_file(
        &mut self,
        path: &Path,
        kind: Kind,
        device: Device,
        strip_prefix: &str,
    ) -> Result<()> {
        let file = std::fs::File::open(path).map_err(|e| LmError::io(path, e))?;
        // SAFETY: the map is read-only and dropped before this function returns; a concurrent
        // truncation of the file by another process is the documented hazard of mmap and would
        // surface as SIGBUS, which checkpoints written atomically (temp + rename) do not cause.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| LmError::io(path, e))?;
        let st = SafeTensors::deserialize(&mmap).map_err(|e| LmError::Safetensors {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        for (name, view) in st.tensors() {
            let t = to_tensor(&view, path, &name)?;
            let t = if t.is_floating_point() {
                t.to_kind(kind)
            } else {
                t
            };
            let t = t.to_device(device);
            let name = name.strip_prefix(strip_prefix).unwrap_or(&name).to_string();
            self.tensors.insert(name, (t, path.to_path_buf()));
        }
        Ok(())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    pub fn shape(&self, name: &str) -> Option<Vec<i64>> {
        self.tensors.get(name).map(|(t, _)| t.size())
    }

    /// Mutable access to a tensor (to merge adapters into it).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Tensor> {
        self.tensors.get_mut(name).map(|(t, _)| t)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Remove and return a tensor, checking its shape.
    pub fn take(&mut self, name: &str, shape: &[i64]) -> Result<Tensor> {
        self.take_opt(name, shape)?.ok_or_else(|| LmError::Tensor {
            path: self.source.clone(),
            name: name.to_string(),
            message: "missing from the checkpoint".into(),
        })
    }

    /// Remove and return a tensor if present, checking its shape.
    pub fn take_opt(&mut self, name: &str, shape: &[i64]) -> Result<Option<Tensor>> {
        match self.tensors.remove(name) {
            None => Ok(None),
            Some((t, file)) => {
                if t.size() != shape {
                    return Err(LmError::Tensor {
                        path: file,
                        name: name.to_string(),
                        message: format!(
                            "shape {:?} does not match the config, which implies {:?}",
                            t.size(),
                            shape
                        ),
                    });
                }
                self.taken.push((name.to_string(), t.shallow_clone()));
                Ok(Some(t))
            }
        }
    }

    /// Drop a tensor the model does not use (a stored copy of a tied head, say).
    pub fn discard(&mut self, name: &str) {
        self.tensors.remove(name);
    }

    /// The named tensors taken so far (the model's parameters, in checkpoint names).
    pub fn taken(&mut self) -> Vec<(String, Tensor)> {
        std::mem::take(&mut self.taken)
    }

    /// Names not consumed by a model (for warnings: a checkpoint with extra tensors is suspicious).
    pub fn leftover(&self) -> Vec<String> {
        let mut v: Vec<String> = self.tensors.keys().cloned().collect();
        v.sort();
        v
    }
}

fn shard_files(index: &Path) -> Result<Vec<PathBuf>> {
    let v = triad_data::fsutil::read_json(index)?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| LmError::field(index, "weight_map", "missing or not an object"))?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut files: Vec<PathBuf> = Vec::new();
    for (name, f) in map {
        let f = f.as_str().ok_or_else(|| {
            LmError::field(index, format!("weight_map.{name}"), "expected a file name")
        })?;
        let p = dir.join(f);
        if !files.contains(&p) {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

fn to_tensor(view: &TensorView<'_>, path: &Path, name: &str) -> Result<Tensor> {
    let kind = kind_of(view.dtype()).ok_or_else(|| LmError::Tensor {
        path: path.to_path_buf(),
        name: name.to_string(),
        message: format!("dtype {:?} is not supported", view.dtype()),
    })?;
    let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
    Ok(Tensor::f_from_data_size(view.data(), &shape, kind)?)
}

/// A tensor to write: raw little-endian bytes, dtype and shape.
pub struct RawTensor {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl RawTensor {
    pub fn f32(shape: Vec<usize>, values: &[f32]) -> Self {
        let mut data = Vec::with_capacity(values.len() * 4);
        for v in values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        RawTensor {
            dtype: Dtype::F32,
            shape,
            data,
        }
    }

    /// Copy a libtorch tensor (f32, f16 or bf16) to host bytes.
    pub fn from_tensor(t: &Tensor) -> Result<Self> {
        let t = t.to_device(Device::Cpu).contiguous();
        let (dtype, kind) = match t.kind() {
            Kind::BFloat16 => (Dtype::BF16, Kind::BFloat16),
            Kind::Half => (Dtype::F16, Kind::Half),
            _ => (Dtype::F32, Kind::Float),
        };
        let t = t.to_kind(kind);
        let numel = t.numel();
        let mut data = vec![0u8; numel * kind.elt_size_in_bytes()];
        t.f_copy_data_u8(&mut data, numel)?;
        Ok(RawTensor {
            dtype,
            shape: t.size().iter().map(|&d| d as usize).collect(),
            data,
        })
    }
}

impl safetensors::View for &RawTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Write tensors to a safetensors file atomically, with `{"format": "pt"}` metadata as
/// transformers expects.
pub fn write_safetensors(path: &Path, tensors: &BTreeMap<String, RawTensor>) -> Result<()> {
    let meta: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    let bytes = safetensors::serialize(tensors.iter().map(|(k, v)| (k.as_str(), v)), Some(meta))
        .map_err(|e| LmError::Safetensors {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(triad_data::fsutil::write_atomic(path, &bytes)?)
}

/// The identity of a model folder: lowercase hex SHA-256 over every `*.safetensors` file in it
/// except `optimizer.safetensors` (a checkpoint's optimizer state, not the model), in name
/// order, then `config.json` when present. Each file goes in as its name, its length and its
/// bytes, names and lengths as little-endian u64-prefixed fields, so no two folders give the
/// same stream and a folder moved elsewhere keeps its identity. An adapter folder's
/// `adapter_model.safetensors` counts like any other. `run.json` records the base's identity,
/// so an audit can check that the base it is given is the one the run fine-tuned.
pub fn model_identity(dir: &Path) -> Result<String> {
    use sha2::Digest;
    let mut files = weight_files(dir)?;
    if files.is_empty() {
        return Err(LmError::invalid(
            dir,
            "no *.safetensors weights in the model folder (optimizer.safetensors does not count)",
        ));
    }
    let config = dir.join("config.json");
    if config.is_file() {
        files.push(config);
    }
    let mut hasher = sha2::Sha256::new();
    for f in &files {
        feed_file(&mut hasher, f)?;
    }
    Ok(triad_data::fsutil::hex(&hasher.finalize()))
}

/// The weight files of `model_identity`, sorted by name.
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| LmError::io(dir, e))? {
        let path = e.map_err(|e| LmError::io(dir, e))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        if name.ends_with(".safetensors") && name != "optimizer.safetensors" && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// One file into a digest: name, length, bytes (streamed: weights can outgrow memory).
fn feed_file(hasher: &mut sha2::Sha256, path: &Path) -> Result<()> {
    use sha2::Digest;
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| LmError::io(path, e))?;
    let len = file.metadata().map_err(|e| LmError::io(path, e))?.len();
    let name = path.file_name().unwrap_or_default().as_encoded_bytes();
    hasher.update((name.len() as u64).to_le_bytes());
    hasher.update(name);
    hasher.update(len.to_le_bytes());
    let copied = std::io::copy(&mut file.take(len), hasher).map_err(|e| LmError::io(path, e))?;
    if copied != len {
        return Err(LmError::invalid(
            path,
            "the file shrank while it was hashed",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_shape_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = BTreeMap::new();
        m.insert(
            "a.weight".to_string(),
            RawTensor::f32(vec![2, 3], &[1., 2., 3., 4., 5., 6.]),
        );
        write_safetensors(&dir.path().join("model.safetensors"), &m).unwrap();
        let mut w = Weights::load_dir(dir.path(), Kind::Float, Device::Cpu).unwrap();
        let e = w.take("a.weight", &[3, 2]).unwrap_err().to_string();
        assert!(e.contains("a.weight") && e.contains("[2, 3]"), "{e}");
        let mut w = Weights::load_dir(dir.path(), Kind::Float, Device::Cpu).unwrap();
        let t = w.take("a.weight", &[2, 3]).unwrap();
        assert_eq!(t.double_value(&[1, 2]), 6.0);
        let e = w.take("b.weight", &[1]).unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("model.safetensors"),
            b"\x10\x00\x00\x00\x00\x00\x00\x00{not json",
        )
        .unwrap();
        let e = match Weights::load_dir(dir.path(), Kind::Float, Device::Cpu) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("corrupt file accepted"),
        };
        assert!(
            e.contains("model.safetensors") && e.contains("not a valid safetensors"),
            "{e}"
        );
    }

    /// The documented stream, built by hand: (name, bytes) fields in order.
    fn expected_identity(files: &[(&str, &[u8])]) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for (name, bytes) in files {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        triad_data::fsutil::hex(&h.finalize())
    }

    #[test]
    fn model_identity_digests_weights_in_name_order_then_config() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("model");
        std::fs::create_dir(&d).unwrap();
        let e = model_identity(&d).unwrap_err().to_string();
        assert!(e.contains("model") && e.contains("no *.safetensors"), "{e}");
        let write = |name: &str, bytes: &[u8]| std::fs::write(d.join(name), bytes).unwrap();
        write("model-00002.safetensors", b"second shard");
        write("model-00001.safetensors", b"first shard");
        write("optimizer.safetensors", b"adam moments");
        write("tokenizer.json", b"{}");
        let weights_only = model_identity(&d).unwrap();
        assert_eq!(
            weights_only,
            expected_identity(&[
                ("model-00001.safetensors", b"first shard"),
                ("model-00002.safetensors", b"second shard"),
            ])
        );
        write("config.json", b"{\"model_type\":\"llama\"}");
        let id = model_identity(&d).unwrap();
        assert_eq!(
            id,
            expected_identity(&[
                ("model-00001.safetensors", b"first shard"),
                ("model-00002.safetensors", b"second shard"),
                ("config.json", b"{\"model_type\":\"llama\"}"),
            ])
        );
        // The optimizer state and the tokenizer are not the model; a moved folder is the same.
        write("optimizer.safetensors", b"other moments");
        write("tokenizer.json", b"{\"changed\":1}");
        let moved = dir.path().join("moved");
        std::fs::rename(&d, &moved).unwrap();
        assert_eq!(model_identity(&moved).unwrap(), id);
        // One weight byte is another model.
        std::fs::write(moved.join("model-00001.safetensors"), b"first shard!").unwrap();
        assert_ne!(model_identity(&moved).unwrap(), id);
    }

    #[test]
    fn an_adapter_folder_is_identified_by_its_adapter_weights() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("adapter_model.safetensors"), b"lora a and b").unwrap();
        std::fs::write(d.join("adapter_config.json"), b"{}").unwrap();
        assert_eq!(
            model_identity(d).unwrap(),
            expected_identity(&[("adapter_model.safetensors", b"lora a and b")])
        );
    }
}
