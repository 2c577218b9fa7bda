//! Helpers shared by the integration tests: the golden files and the weight formula that
//! `tools/make_golden.py` also computes.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::Deserialize;

pub fn golden(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
        .join(file)
}

pub fn read_json<T: for<'de> Deserialize<'de>>(file: &str) -> T {
    let text = std::fs::read_to_string(golden(file)).expect("golden file");
    serde_json::from_str(&text).expect("golden JSON")
}

/// A tensor whose values come from the formula: `offset + scale * unit(i, fnv1a(name))`.
#[derive(Debug, Deserialize)]
pub struct FormulaTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: f64,
    pub scale: f64,
}

impl FormulaTensor {
    pub fn values(&self) -> Vec<f32> {
        let seed = fnv1a(&self.name);
        let n: usize = self.shape.iter().product();
        (0..n as u64)
            .map(|i| (self.offset + self.scale * unit(i, seed)) as f32)
            .collect()
    }

    pub fn tensor<const D: usize>(&self, device: &Device) -> Tensor<D> {
        Tensor::from_data(TensorData::new(self.values(), self.shape.clone()), device)
    }
}

fn fnv1a(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5, |h: u32, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A pseudo-random value in [-1, 1) from a 32-bit integer hash of (index, seed).
fn unit(i: u64, seed: u32) -> f64 {
    let mut x = (i.wrapping_mul(2_654_435_761).wrapping_add(u64::from(seed)) & 0xffff_ffff) as u32;
    x ^= x >> 16;
    x = x.wrapping_mul(0x045d_9f3b);
    x ^= x >> 16;
    f64::from(x) / 4_294_967_296.0 * 2.0 - 1.0
}

/// The float32 tensors of a `.safetensors` file as (name, shape, values).
pub fn read_safetensors(path: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .filter(|(_, view)| view.dtype() == safetensors::Dtype::F32)
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (name, view.shape().to_vec(), values)
        })
        .collect()
}

/// Writes float32 tensors (torch layout, torch names) as a `.safetensors` file.
pub fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, values)| values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), data)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .unwrap();
            (name.clone(), view)
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// Largest absolute difference relative to the largest absolute reference value.
pub fn relative_error(actual: &[f32], expected: &[f32]) -> f64 {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    let scale = expected
        .iter()
        .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
    let diff = actual
        .iter()
        .zip(expected)
        .fold(0.0f64, |m, (a, e)| m.max(f64::from((a - e).abs())));
    diff / scale
}

/// A fresh folder, removed when dropped; it reads as its path.
pub struct TempDir(tempfile::TempDir);

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.0.path()
    }
}

/// A fresh folder named for the test.
pub fn temp_dir(tag: &str) -> TempDir {
    let prefix = format!("shared-test-{tag}-");
    TempDir(tempfile::Builder::new().prefix(&prefix).tempdir().unwrap())
}
