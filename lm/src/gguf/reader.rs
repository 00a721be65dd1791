//! The GGUF container: header, key/value metadata, tensor infos, aligned tensor data.
//! Every read is bounds-checked, so a truncated or corrupt file is an error naming the offset
//! and what was being read, never a panic or a huge allocation.

use crate::error::{LmError, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<MetaValue>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl MetaValue {
    pub fn as_u64(&self) -> Option<u64> {
        Some(match *self {
            MetaValue::U8(v) => v as u64,
            MetaValue::U16(v) => v as u64,
            MetaValue::U32(v) => v as u64,
            MetaValue::U64(v) => v,
            MetaValue::I8(v) if v >= 0 => v as u64,
            MetaValue::I16(v) if v >= 0 => v as u64,
            MetaValue::I32(v) if v >= 0 => v as u64,
            MetaValue::I64(v) if v >= 0 => v as u64,
            _ => return None,
        })
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            MetaValue::F32(v) => Some(v as f64),
            MetaValue::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            MetaValue::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            MetaValue::Array(a) => Some(a),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// GGUF order: `dims[0]` is the fastest-varying (the input dimension of a matrix).
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    /// Absolute byte offset of the data in the file.
    pub offset: usize,
}

impl TensorInfo {
    pub fn numel(&self) -> u64 {
        self.dims.iter().product()
    }
    /// Row-major shape as in PyTorch: GGUF dims reversed.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
}

pub struct GgufFile {
    pub path: PathBuf,
    pub version: u32,
    pub metadata: BTreeMap<String, MetaValue>,
    pub tensors: Vec<TensorInfo>,
    data: memmap2::Mmap,
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn err(&self, what: &str, msg: impl std::fmt::Display) -> LmError {
        LmError::Gguf {
            path: self.path.to_path_buf(),
            message: format!("{msg} at byte {} while reading {what}", self.pos),
        }
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.buf.len().saturating_sub(self.pos) < n {
            return Err(self.err(
                what,
                format_args!(
                    "file truncated: {} bytes needed, {} left",
                    n,
                    self.buf.len().saturating_sub(self.pos)
                ),
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        Ok(self.take(N, what)?.try_into().expect("N bytes"))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }
    fn len(&mut self, what: &str, min_elem: usize) -> Result<usize> {
        let n = self.u64(what)?;
        let left = (self.buf.len() - self.pos) as u64;
        if n.saturating_mul(min_elem as u64) > left {
            return Err(self.err(
                what,
                format_args!(
                    "length {n} exceeds the {left} bytes left (file truncated or corrupt)"
                ),
            ));
        }
        Ok(n as usize)
    }
    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.len(what, 1)?;
        let bytes = self.take(n, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.err(what, "invalid UTF-8"))
    }
    fn value(&mut self, ty: u32, what: &str, depth: usize) -> Result<MetaValue> {
        Ok(match ty {
            0 => MetaValue::U8(self.arr::<1>(what)?[0]),
            1 => MetaValue::I8(self.arr::<1>(what)?[0] as i8),
            2 => MetaValue::U16(u16::from_le_bytes(self.arr(what)?)),
            3 => MetaValue::I16(i16::from_le_bytes(self.arr(what)?)),
            4 => MetaValue::U32(self.u32(what)?),
            5 => MetaValue::I32(i32::from_le_bytes(self.arr(what)?)),
            6 => MetaValue::F32(f32::from_le_bytes(self.arr(what)?)),
            7 => MetaValue::Bool(self.arr::<1>(what)?[0] != 0),
            8 => MetaValue::String(self.string(what)?),
            9 => {
                if depth > 4 {
                    return Err(self.err(what, "arrays nested too deeply"));
                }
                let inner = self.u32(what)?;
                let n = self.len(what, 1)?;
                let mut v = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    v.push(self.value(inner, what, depth + 1)?);
                }
                MetaValue::Array(v)
            }
            10 => MetaValue::U64(self.u64(what)?),
            11 => MetaValue::I64(i64::from_le_bytes(self.arr(what)?)),
            12 => MetaValue::F64(f64::from_le_bytes(self.arr(what)?)),
            other => {
                return Err(self.err(what, format_args!("unknown metadata value type {other}")))
            }
        })
    }
}

impl GgufFile {
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| LmError::io(path, e))?;
        // SAFETY: read-only map of a file we do not modify; see weights.rs for the caveat.
        let data = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| LmError::io(path, e))?;
        let mut c = Cursor {
            buf: &data,
            pos: 0,
            path,
        };
        let magic = c.take(4, "the magic number")?;
        if magic != b"GGUF" {
            return Err(LmError::Gguf {
                path: path.to_path_buf(),
                message: "not a GGUF file (the first 4 bytes are not \"GGUF\")".into(),
            });
        }
        let version = c.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(c.err(
                "the version",
                format_args!("GGUF version {version} is not supported (2 or 3)"),
            ));
        }
        let n_tensors = c.len("the tensor count", 8)?;
        let n_kv = c.len("the metadata count", 12)?;
        let mut metadata = BTreeMap::new();
        for i in 0..n_kv {
            let key = c.string(&format!("metadata key #{i}"))?;
            let ty = c.u32(&format!("the type of `{key}`"))?;
            let v = c.value(ty, &format!("the value of `{key}`"), 0)?;
            metadata.insert(key, v);
        }
        let mut infos = Vec::with_capacity(n_tensors);
        for i in 0..n_tensors {
            let name = c.string(&format!("tensor name #{i}"))?;
            let what = format!("the info of tensor `{name}`");
            let n_dims = c.u32(&what)?;
            if n_dims == 0 || n_dims > 4 {
                return Err(c.err(&what, format_args!("{n_dims} dimensions (expected 1 to 4)")));
            }
            let dims = (0..n_dims)
                .map(|_| c.u64(&what))
                .collect::<Result<Vec<_>>>()?;
            let ggml_type = c.u32(&what)?;
            let offset = c.u64(&what)?;
            infos.push((name, dims, ggml_type, offset));
        }
        let alignment = metadata
            .get("general.alignment")
            .and_then(MetaValue::as_u64)
            .unwrap_or(32)
            .max(1) as usize;
        let data_start = c.pos.div_ceil(alignment) * alignment;
        let mut tensors = Vec::with_capacity(infos.len());
        for (name, dims, ggml_type, rel) in infos {
            let info = TensorInfo {
                name,
                dims,
                ggml_type,
                offset: data_start.saturating_add(rel as usize),
            };
            let size = super::dequant::byte_size(&info).map_err(|m| LmError::Gguf {
                path: path.to_path_buf(),
                message: format!("tensor `{}`: {m}", info.name),
            })?;
            if info.offset.saturating_add(size) > data.len() {
                return Err(LmError::Gguf {
                    path: path.to_path_buf(),
                    message: format!(
                        "file truncated: tensor `{}` needs bytes {}..{} but the file has {}",
                        info.name,
                        info.offset,
                        info.offset + size,
                        data.len()
                    ),
                });
            }
            tensors.push(info);
        }
        Ok(GgufFile {
            path: path.to_path_buf(),
            version,
            metadata,
            tensors,
            data,
        })
    }

    pub fn meta(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.get(key)
    }

    /// The raw bytes of a tensor (bounds were checked on open).
    pub fn tensor_bytes(&self, t: &TensorInfo) -> &[u8] {
        let size = super::dequant::byte_size(t).expect("checked on open");
        &self.data[t.offset..t.offset + size]
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
}
