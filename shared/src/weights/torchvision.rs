//! Loading torchvision state dicts of every architecture in [`Arch`] (`.pth` pickles or `.safetensors`) by path, and
//! safetensors from memory (web bundles; the only part built for wasm32).
//!
//! The pickle is parsed by burn-store's reader, which interprets the pickle opcodes as data
//! and never imports or calls anything, so a malicious `.pth` cannot run code here; one that
//! would run code in Python is refused outright ([`refuse_code`]).

use std::collections::BTreeSet;
#[cfg(not(target_arch = "wasm32"))]
use std::fs::File;
#[cfg(not(target_arch = "wasm32"))]
use std::io::Read;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::{
    ApplyResult, FloatCastAdapter, ModuleAdapter, ModuleSnapshot, ModuleStore,
    PyTorchToBurnAdapter, SafetensorsStore,
};
#[cfg(not(target_arch = "wasm32"))]
use burn::store::{KeyRemapper, PytorchStore};
use burn::tensor::DType;

#[cfg(not(target_arch = "wasm32"))]
use super::pickle_code::refuse_code;
use crate::model::{
    Arch, CONVNEXT_STAGES, Depth, Family, Net, NetConfig, RESNET_BASE_WIDTH, Scale, Variant,
};
#[cfg(not(target_arch = "wasm32"))]
use crate::precision::Precision;

/// What to do with the file's final Linear (`fc`, `classifier.3`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// Load it too: the model predicts the file's classes (1000 ImageNet classes).
    Pretrained,
    /// Transfer learning: load everything but the final Linear, and start a new, randomly
    /// initialised one with this many outputs.
    New { num_classes: usize },
}

/// The two on-disk formats torchvision weights come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// `torch.save` output: a zip archive (PyTorch >= 1.6) or a legacy pickle.
    Pytorch,
    Safetensors,
}

impl std::fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WeightFormat::Pytorch => "PyTorch",
            WeightFormat::Safetensors => "safetensors",
        })
    }
}

/// The network a weight file holds, read off its tensor names and shapes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightInfo {
    pub format: WeightFormat,
    pub arch: Arch,
    /// torchvision's `width_mult` (1 for its own weights; ResNet: base width / 64).
    pub width_mult: f64,
    pub num_classes: usize,
}

impl WeightInfo {
    /// The file as the `expected` architecture where its tensors cannot tell the two apart:
    /// EfficientNet-B1 and B2 have the same blocks, so a narrow B2 has the shapes of a B1 of
    /// another `width_mult` (the same channels).
    fn read_as(self, expected: Option<Arch>) -> WeightInfo {
        match (self.arch.family(), expected) {
            (Family::EfficientNet(found), Some(arch)) => match arch.family() {
                Family::EfficientNet(wanted) if wanted.blocks() == found.blocks() => WeightInfo {
                    arch,
                    width_mult: self.width_mult * found.width() / wanted.width(),
                    ..self
                },
                _ => self,
            },
            _ => self,
        }
    }
}

/// Why a weight file cannot be used. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum WeightError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{path}: not a weight file (expected a PyTorch .pth/.pt saved by torch.save, or .safetensors)"
    )]
    NotWeights { path: PathBuf },
    #[error("{path}: cannot read {format} weights: {reason}")]
    Unreadable {
        path: PathBuf,
        format: WeightFormat,
        reason: String,
    },
    #[error(
        "{path}: refused: its pickle calls Python's `{call}`, which a weight file has no use \
         for (loading it in Python would run it; nothing in it was run here)"
    )]
    RunsCode { path: PathBuf, call: String },
    #[error("{path}: not a torchvision state dict of a known architecture: {reason}")]
    NotTorchvision { path: PathBuf, reason: String },
    #[error("{path}: holds {found} weights, but {expected} was asked for")]
    WrongArch {
        path: PathBuf,
        found: Arch,
        expected: Arch,
    },
    #[error("{path}: does not match {arch}:\n{problems}")]
    Mismatch {
        path: PathBuf,
        /// torchvision's name of the architecture asked for.
        arch: String,
        problems: String,
    },
}

#[cfg(not(target_arch = "wasm32"))]
/// Reads which network a torchvision weight file holds, without building a model.
pub fn inspect(path: &Path) -> Result<WeightInfo, WeightError> {
    match sniff_format(path)? {
        WeightFormat::Pytorch => read_info(path, WeightFormat::Pytorch, &mut pytorch_store(path)?),
        WeightFormat::Safetensors => read_info(
            path,
            WeightFormat::Safetensors,
            &mut safetensors_store(path),
        ),
    }
}

#[cfg(not(target_arch = "wasm32"))]
/// Builds the network a torchvision weight file holds and loads it. With `expected` set, a
/// file of another architecture is refused. Every parameter of the model must come from the file (except a
/// [`Head::New`] classifier), and every tensor of the file must be used, so a wrong or
/// truncated file cannot half-load silently.
pub fn load_torchvision(
    path: &Path,
    expected: Option<Arch>,
    head: Head,
    device: &Device,
) -> Result<Net, WeightError> {
    let load = Load::open(path, head)?;
    let (net, _) = match load.format {
        WeightFormat::Pytorch => load.read(pytorch_store(path)?, expected, device)?,
        WeightFormat::Safetensors => load.read(safetensors_store(path), expected, device)?,
    };
    Ok(net)
}

/// Loads a torchvision-named safetensors state dict held in memory (a web bundle's
/// weights), and says what it held; `name` stands for it in messages. Half-precision tensors
/// are widened to f32.
pub fn load_safetensors_bytes(
    name: &Path,
    bytes: Vec<u8>,
    expected: Option<Arch>,
    device: &Device,
) -> Result<(Net, WeightInfo), WeightError> {
    let load = Load {
        path: name,
        size: bytes.len() as u64,
        format: WeightFormat::Safetensors,
        head: Head::Pretrained,
    };
    let bytes = rename_in_header(bytes).map_err(|reason| WeightError::Unreadable {
        path: name.to_path_buf(),
        format: WeightFormat::Safetensors,
        reason,
    })?;
    load.read(
        keep_indices(SafetensorsStore::from_bytes(Some(bytes))),
        expected,
        device,
    )
}

/// The network as a torchvision-named safetensors state dict (`bn1.weight`,
/// `layer1.0.downsample.0.weight`, ...) in f32 or f16: what [`load_safetensors_bytes`] and
/// PyTorch's `load_state_dict` read back.
#[cfg(not(target_arch = "wasm32"))]
pub fn torchvision_safetensors(net: &Net, precision: Precision) -> Result<Vec<u8>, String> {
    use burn::store::BurnToPyTorchAdapter;
    use burn::tensor::f16;
    use safetensors::{Dtype, tensor::TensorView};

    let mut tensors = Vec::new();
    for tensor in net.collect(None, Some(Box::new(BurnToPyTorchAdapter)), true) {
        let name = RENAMES
            .iter()
            .fold(tensor.name.clone(), |name, (torchvision, ours)| {
                name.replace(ours, torchvision)
            });
        let f32_bytes = tensor
            .to_bytes()
            .map_err(|err| format!("reading {name}: {err:?}"))?;
        let (dtype, bytes) = match precision {
            Precision::F32 => (Dtype::F32, f32_bytes.to_vec()),
            Precision::F16 => (
                Dtype::F16,
                f32_bytes
                    .chunks_exact(4)
                    .flat_map(|b| {
                        f16::from_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes()
                    })
                    .collect(),
            ),
        };
        tensors.push((name, dtype, tensor.shape.to_vec(), bytes));
    }
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes).map(|view| (name.clone(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| err.to_string())?;
    safetensors::serialize(views, None).map_err(|err| err.to_string())
}

/// Applies [`RENAMES`] to a safetensors file's header (a length-prefixed JSON object), which is
/// where its tensor names live; burn-store's regex remapper is not built for wasm32.
fn rename_in_header(bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    let too_short = || "shorter than its header".to_string();
    let length: [u8; 8] = bytes
        .get(..8)
        .ok_or_else(too_short)?
        .try_into()
        .map_err(|_| too_short())?;
    let end = usize::try_from(u64::from_le_bytes(length))
        .ok()
        .and_then(|length| length.checked_add(8))
        .filter(|&end| end <= bytes.len())
        .ok_or_else(too_short)?;
    let mut header = std::str::from_utf8(&bytes[8..end])
        .map_err(|_| "header is not UTF-8".to_string())?
        .to_string();
    for (from, to) in RENAMES {
        header = header.replace(from, to);
    }
    let mut out = Vec::with_capacity(bytes.len() + 64);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&bytes[end..]);
    Ok(out)
}

struct Load<'a> {
    path: &'a Path,
    /// The file's length, which bounds the model its shapes may ask for.
    size: u64,
    format: WeightFormat,
    head: Head,
}

impl<'a> Load<'a> {
    #[cfg(not(target_arch = "wasm32"))]
    /// A weight file, its format told from its first bytes.
    fn open(path: &'a Path, head: Head) -> Result<Self, WeightError> {
        let format = sniff_format(path)?;
        let size = std::fs::metadata(path)
            .map_err(|error| WeightError::Io {
                path: path.to_path_buf(),
                error,
            })?
            .len();
        Ok(Load {
            path,
            size,
            format,
            head,
        })
    }

    /// One pass over the file: its names and shapes pick the model, then its data fills it.
    fn read<S: ModuleStore>(
        self,
        mut store: S,
        expected: Option<Arch>,
        device: &Device,
    ) -> Result<(Net, WeightInfo), WeightError> {
        let path = self.path.to_path_buf();
        let info = read_info(self.path, self.format, &mut store)?.read_as(expected);
        if let Some(expected) = expected.filter(|arch| *arch != info.arch) {
            return Err(WeightError::WrongArch {
                path,
                found: info.arch,
                expected,
            });
        }
        let num_classes = match self.head {
            Head::Pretrained => info.num_classes,
            Head::New { num_classes } => num_classes,
        };
        let model = NetConfig::new()
            .with_arch(info.arch)
            .with_width_mult(info.width_mult)
            .with_num_classes(num_classes)
            .init(device);
        // The file chose the shapes, and parameters are allocated lazily: refuse shapes that
        // ask for more values than the file could hold (2 bytes each, in f16) before any is.
        let values = model.num_params() as u64;
        if values.saturating_mul(2) > self.size {
            return Err(WeightError::NotTorchvision {
                path,
                reason: format!(
                    "its shapes make a {} of {values} values, more than its {} bytes hold",
                    info.arch, self.size
                ),
            });
        }
        Ok((self.fill(model, store, info.arch)?, info))
    }

    /// Fills the built `model` of `arch` from the store: every parameter from the file, except
    /// a [`Head::New`] final Linear, and every tensor of the file used, all problems listed at
    /// once.
    fn fill<S: ModuleStore>(
        &self,
        mut model: Net,
        mut store: S,
        arch: Arch,
    ) -> Result<Net, WeightError> {
        // Applied here rather than by the store, so that both formats load alike: every
        // tensor is offered (`check_complete` lists all problems at once), and burn, which
        // keeps the dtype a file declares, gets f32 for a model that computes in f32. f16
        // files (bundles, halved `.pth`s) are widened on the CPU while loading: a GPU cast
        // needs shader-f16.
        let tensors = store
            .get_all_tensors()
            .map_err(|e| WeightError::Unreadable {
                path: self.path.to_path_buf(),
                format: self.format,
                reason: e.to_string(),
            })?;
        // A new head keeps its random initialisation: the file's classifier is set aside (it
        // counts as read, not "unused"), and the model's parameters it would have filled are
        // not missing.
        let (replaced, tensors): (Vec<_>, Vec<_>) = tensors.values().cloned().partition(|tensor| {
            self.head != Head::Pretrained && tensor.name.starts_with(arch.classifier())
        });
        let adapter = PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::F32));
        let mut result = model.apply(tensors, None, Some(Box::new(adapter)), true);
        result
            .missing
            .retain(|(path, _)| !replaced.iter().any(|tensor| tensor.name == *path));
        check_complete(&result).map_err(|problems| WeightError::Mismatch {
            path: self.path.to_path_buf(),
            arch: arch.name().to_string(),
            problems,
        })?;
        Ok(model)
    }
}

/// torchvision names the projection shortcut's layers by index; ours have names.
const RENAMES: [(&str, &str); 2] = [
    (".downsample.0.", ".downsample.conv."),
    (".downsample.1.", ".downsample.bn."),
];

#[cfg(not(target_arch = "wasm32"))]
fn renames() -> KeyRemapper {
    RENAMES
        .iter()
        .try_fold(KeyRemapper::new(), |remapper, (from, to)| {
            remapper.add_pattern(from.replace('.', r"\."), *to)
        })
        .expect("valid patterns")
}

// The stores only read: `Load::read` applies the tensors. They keep torchvision's indices as
// they are: they have no gaps, and renumbering could only hide a broken file.

#[cfg(not(target_arch = "wasm32"))]
/// A `.pth` file's store, once its pickle is known to name nothing outside torch.
fn pytorch_store(path: &Path) -> Result<PytorchStore, WeightError> {
    refuse_code(path)?;
    Ok(PytorchStore::from_file(path)
        .remap(renames())
        .map_indices_contiguous(false))
}

#[cfg(not(target_arch = "wasm32"))]
fn safetensors_store(path: &Path) -> SafetensorsStore {
    keep_indices(SafetensorsStore::from_file(path).remap(renames()))
}

fn keep_indices(store: SafetensorsStore) -> SafetensorsStore {
    #[cfg(not(target_arch = "wasm32"))] // Index remapping is not built for wasm32 at all.
    let store = store.map_indices_contiguous(false);
    store
}

#[cfg(not(target_arch = "wasm32"))]
/// Tells the format from the first bytes, whatever the file is called.
fn sniff_format(path: &Path) -> Result<WeightFormat, WeightError> {
    let io = |error| WeightError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut head = Vec::with_capacity(16);
    File::open(path)
        .map_err(io)?
        .take(16)
        .read_to_end(&mut head)
        .map_err(io)?;
    // A zip archive (torch.save since PyTorch 1.6) or a pickle's PROTO opcode (legacy format).
    if head.starts_with(b"PK\x03\x04") || (head.len() >= 2 && head[0] == 0x80 && head[1] <= 5) {
        return Ok(WeightFormat::Pytorch);
    }
    // safetensors: a little-endian u64 header length, then a JSON object.
    if head.len() > 8 && head[8] == b'{' {
        return Ok(WeightFormat::Safetensors);
    }
    Err(WeightError::NotWeights {
        path: path.to_path_buf(),
    })
}

/// Reads the file's tensor names and shapes and recognises the network they make.
fn read_info<S: ModuleStore>(
    path: &Path,
    format: WeightFormat,
    store: &mut S,
) -> Result<WeightInfo, WeightError> {
    let tensors = store
        .get_all_tensors()
        .map_err(|e| WeightError::Unreadable {
            path: path.to_path_buf(),
            format,
            reason: e.to_string(),
        })?;
    let shapes: Vec<(String, Vec<usize>)> = tensors
        .iter()
        .map(|(name, tensor)| (name.clone(), tensor.shape.to_vec()))
        .collect();
    let (arch, width_mult, num_classes) =
        describe(&shapes).map_err(|reason| WeightError::NotTorchvision {
            path: path.to_path_buf(),
            reason,
        })?;
    Ok(WeightInfo {
        format,
        arch,
        width_mult,
        num_classes,
    })
}

/// The widest model accepted, as torchvision's `width_mult`: a guard against files whose shapes
/// ask for a model too big to build (ResNet: a first stage of 1024).
const MAX_WIDTH_MULT: f64 = 16.0;

/// Recognises (arch, width, classes) from a state dict's names and shapes: the family by the
/// name of its final Linear, the member by its blocks, the width by one layer's channels.
/// What the shapes leave open, loading checks: every tensor against the model built.
fn describe(shapes: &[(String, Vec<usize>)]) -> Result<(Arch, f64, usize), String> {
    let shape_of = |name: &str| {
        shapes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, shape)| shape.as_slice())
    };
    // The distinct `<prefix>N` indices (blocks of a stage, entries of a Sequential).
    let entries = |prefix: &str| {
        shapes
            .iter()
            .filter_map(|(name, _)| name.strip_prefix(prefix)?.split('.').next())
            .collect::<BTreeSet<_>>()
            .len()
    };
    let classes = |name: &str| match shape_of(name) {
        Some(&[classes, inputs]) if classes > 0 && inputs > 0 => Ok((classes, inputs)),
        _ => Err(format!("no 2-d `{name}` with at least one class")),
    };
    let width = |width_mult: f64| {
        if width_mult > 0.0 && width_mult <= MAX_WIDTH_MULT {
            Ok(width_mult)
        } else {
            Err(format!(
                "its channels make a model {width_mult:.3} times torchvision's width, more \
                 than the {MAX_WIDTH_MULT} accepted"
            ))
        }
    };
    if shapes.is_empty() {
        return Err("the file holds no tensors".into());
    }
    if shape_of("classifier.3.weight").is_some() {
        let (num_classes, hidden) = classes("classifier.3.weight")?;
        let variant = Variant::from_features(entries("features."))
            .ok_or("its `features` match neither MobileNetV3 Large nor Small")?;
        let width_mult = width(variant.width_of_hidden(hidden))?;
        return Ok((
            Arch::of(Family::MobileNetV3(variant)),
            width_mult,
            num_classes,
        ));
    }
    if shape_of("classifier.1.weight").is_some() {
        let (num_classes, last) = classes("classifier.1.weight")?;
        let blocks: Vec<usize> = (1..=7)
            .map(|i| entries(&format!("features.{i}.")))
            .collect();
        let (scale, width_mult) = Scale::recognise(&blocks, last).ok_or_else(|| {
            format!("{blocks:?} blocks per stage match no EfficientNet from B0 to B3")
        })?;
        return Ok((
            Arch::of(Family::EfficientNet(scale)),
            width(width_mult)?,
            num_classes,
        ));
    }
    if shape_of("classifier.2.weight").is_some() {
        let (num_classes, _) = classes("classifier.2.weight")?;
        let blocks: Vec<usize> = [1, 3, 5, 7]
            .into_iter()
            .map(|i| entries(&format!("features.{i}.")))
            .collect();
        let tiny = CONVNEXT_STAGES.map(|(_, blocks)| blocks);
        if blocks != tiny {
            return Err(format!(
                "{blocks:?} blocks per stage match no ConvNeXt (Tiny has {tiny:?})"
            ));
        }
        let stem = match shape_of("features.0.0.weight") {
            Some(&[channels, 3, 4, 4]) if channels > 0 => channels,
            _ => return Err("no ConvNeXt stem `features.0.0.weight` of shape [C, 3, 4, 4]".into()),
        };
        return Ok((
            Arch::ConvnextTiny,
            width(stem as f64 / CONVNEXT_STAGES[0].0 as f64)?,
            num_classes,
        ));
    }
    let base_width = match shape_of("conv1.weight") {
        Some(&[width, 3, 7, 7]) if width > 0 => width,
        Some(shape) => {
            return Err(format!(
                "`conv1.weight` has shape {shape:?}, expected [C, 3, 7, 7]"
            ));
        }
        None => {
            return Err(format!(
                "none of ResNet's `conv1.weight`, MobileNetV3's `classifier.3.weight`, \
                 EfficientNet's `classifier.1.weight` or ConvNeXt's `classifier.2.weight` \
                 among its {} tensors",
                shapes.len()
            ));
        }
    };
    let width_mult = width(base_width as f64 / RESNET_BASE_WIDTH as f64)?;
    let (num_classes, _) = classes("fc.weight")?;
    let bottleneck = shape_of("layer1.0.conv3.weight").is_some();
    let blocks = [1, 2, 3, 4].map(|stage| entries(&format!("layer{stage}.")));
    Depth::ALL
        .into_iter()
        .find(|depth| depth.layers() == blocks && depth.bottleneck() == bottleneck)
        .map(|depth| (Arch::of(Family::ResNet(depth)), width_mult, num_classes))
        .ok_or_else(|| {
            let kind = if bottleneck { "bottleneck" } else { "basic" };
            format!("{blocks:?} {kind} blocks per stage match no ResNet depth")
        })
}

/// Turns burn-store's load report into a list of problems, allowing only what torchvision
/// files legitimately carry that we do not use (BatchNorm's `num_batches_tracked`).
fn check_complete(result: &ApplyResult) -> Result<(), String> {
    const SHOWN: usize = 12;
    let mut problems = String::new();
    let mut list = |title: &str, items: Vec<String>| {
        if items.is_empty() {
            return;
        }
        problems += &format!("  {} {title}:\n", items.len());
        for item in items.iter().take(SHOWN) {
            problems += &format!("    {item}\n");
        }
        if items.len() > SHOWN {
            problems += &format!("    ... and {} more\n", items.len() - SHOWN);
        }
    };
    list(
        "tensors with the wrong shape or type",
        result.errors.iter().map(|e| e.to_string()).collect(),
    );
    list(
        "parameters missing from the file",
        result
            .missing
            .iter()
            .map(|(path, _)| path.clone())
            .collect(),
    );
    list(
        "tensors in the file that the model does not have",
        result
            .unused
            .iter()
            .filter(|name| !name.ends_with(".num_batches_tracked"))
            .cloned()
            .collect(),
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.trim_end().to_string())
    }
}
