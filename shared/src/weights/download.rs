//! Downloading torchvision's ImageNet weights into a cache, the way `torch.hub` does: same
//! URLs, same cache folder and file names, same SHA-256 prefix check, so a file PyTorch
//! already downloaded is reused. An interrupted download resumes from its `.part` file, and
//! only a complete, verified file is renamed into place.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::model::Arch;

/// Which ImageNet training recipe's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImagenetWeights {
    /// `IMAGENET1K_V1`: the original weights (ResNet-50: 76.1% top-1), evaluated with the
    /// resize-256 / crop-224 preprocessing this project uses.
    #[default]
    V1,
    /// `IMAGENET1K_V2`: torchvision's newer recipe (ResNet-50: 80.9% top-1); ResNet-50, 101
    /// and 152, MobileNetV3-Large and EfficientNet-B1 only.
    V2,
}

/// torchvision's download URL for an architecture's ImageNet weights.
pub fn imagenet_url(arch: Arch, weights: ImagenetWeights) -> Option<&'static str> {
    use {Arch::*, ImagenetWeights::*};
    Some(match (arch, weights) {
        (Resnet18, V1) => "https://download.pytorch.org/models/resnet18-f37072fd.pth",
        (Resnet34, V1) => "https://download.pytorch.org/models/resnet34-b627a593.pth",
        (Resnet50, V1) => "https://download.pytorch.org/models/resnet50-0676ba61.pth",
        (Resnet101, V1) => "https://download.pytorch.org/models/resnet101-63fe2227.pth",
        (Resnet152, V1) => "https://download.pytorch.org/models/resnet152-394f9c45.pth",
        (Resnet50, V2) => "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
        (Resnet101, V2) => "https://download.pytorch.org/models/resnet101-cd907fc2.pth",
        (Resnet152, V2) => "https://download.pytorch.org/models/resnet152-f82ba261.pth",
        (MobilenetV3Large, V1) => {
            "https://download.pytorch.org/models/mobilenet_v3_large-8738ca79.pth"
        }
        (MobilenetV3Large, V2) => {
            "https://download.pytorch.org/models/mobilenet_v3_large-5c1a4163.pth"
        }
        (MobilenetV3Small, V1) => {
            "https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth"
        }
        (EfficientnetB0, V1) => {
            "https://download.pytorch.org/models/efficientnet_b0_rwightman-7f5810bc.pth"
        }
        (EfficientnetB1, V1) => {
            "https://download.pytorch.org/models/efficientnet_b1_rwightman-bac287d4.pth"
        }
        (EfficientnetB1, V2) => "https://download.pytorch.org/models/efficientnet_b1-c27df63c.pth",
        (EfficientnetB2, V1) => {
            "https://download.pytorch.org/models/efficientnet_b2_rwightman-c35c1473.pth"
        }
        (EfficientnetB3, V1) => {
            "https://download.pytorch.org/models/efficientnet_b3_rwightman-b3899882.pth"
        }
        (ConvnextTiny, V1) => "https://download.pytorch.org/models/convnext_tiny-983f1562.pth",
        (_, V2) => return None,
    })
}

/// torch.hub's cache folder: `$TORCH_HOME/hub/checkpoints`, else
/// `$XDG_CACHE_HOME/torch/hub/checkpoints`, else `~/.cache/torch/hub/checkpoints`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let env = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let torch_home = env("TORCH_HOME")
        .or_else(|| env("XDG_CACHE_HOME").map(|cache| cache.join("torch")))
        .or_else(|| env("HOME").map(|home| home.join(".cache").join("torch")))?;
    Some(torch_home.join("hub").join("checkpoints"))
}

/// Why a download failed. Messages name the URL or the file.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("{url}: the file name has no `-<sha256 prefix>` to verify it against")]
    NoHashInName { url: String },
    #[error("{url}: {reason}")]
    Http { url: String, reason: String },
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    #[error(
        "{path}: SHA-256 {actual} does not start with {expected}: the download is corrupt (removed; run again)"
    )]
    HashMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
}

/// Progress of a download: bytes on disk, and the total when the server says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: Option<u64>,
}

/// Returns the cached file for `url` in `cache_dir`, downloading it first if needed. The file
/// name's `-<hex>` suffix is the SHA-256 prefix the content must have (torch.hub's rule); a
/// cached file is checked too, so a corrupt cache is reported rather than used.
pub fn fetch(
    url: &str,
    cache_dir: &Path,
    mut progress: impl FnMut(Progress),
) -> Result<PathBuf, DownloadError> {
    let file_name = url.rsplit('/').next().unwrap_or_default();
    let expected = hash_prefix(file_name).ok_or_else(|| DownloadError::NoHashInName {
        url: url.to_string(),
    })?;
    let dest = cache_dir.join(file_name);
    if dest.is_file() {
        verify(&dest, expected)?;
        return Ok(dest);
    }
    fs::create_dir_all(cache_dir).map_err(io_at(cache_dir))?;
    let part = cache_dir.join(format!("{file_name}.part"));
    download_to(url, &part, &mut progress)?;
    if let Err(err) = verify(&part, expected) {
        let _ = fs::remove_file(&part);
        return Err(err);
    }
    fs::rename(&part, &dest).map_err(io_at(&dest))?;
    Ok(dest)
}

/// `resnet50-0676ba61.pth` -> `0676ba61`.
fn hash_prefix(file_name: &str) -> Option<&str> {
    let stem = file_name.split('.').next()?;
    let (_, prefix) = stem.rsplit_once('-')?;
    (prefix.len() >= 6 && prefix.bytes().all(|b| b.is_ascii_hexdigit())).then_some(prefix)
}

/// Appends the rest of `url` to `part`, asking the server to skip the bytes already there.
fn download_to(
    url: &str,
    part: &Path,
    progress: &mut impl FnMut(Progress),
) -> Result<(), DownloadError> {
    let http = |reason: String| DownloadError::Http {
        url: url.to_string(),
        reason,
    };
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        // A stalled connection fails instead of hanging; the next run resumes.
        .timeout_recv_body(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut request = agent.get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let mut response = request.call().map_err(|e| http(e.to_string()))?;
    let status = response.status().as_u16();
    let resumed = match status {
        206 => true,
        200 => false,
        // The part file is already complete.
        416 if have > 0 => return Ok(()),
        _ => return Err(http(format!("server answered HTTP {status}"))),
    };
    let length = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let mut done = if resumed { have } else { 0 };
    let total = length.map(|len| done + len);
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(part)
        .map_err(io_at(part))?;
    let mut body = response.body_mut().as_reader();
    let mut buffer = vec![0u8; 1 << 16];
    progress(Progress { done, total });
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(http(format!(
                    "{e} (after {done} bytes; run again to resume)"
                )));
            }
        };
        file.write_all(&buffer[..n]).map_err(io_at(part))?;
        done += n as u64;
        progress(Progress { done, total });
    }
    file.sync_all().map_err(io_at(part))?;
    if let Some(total) = total.filter(|total| done < *total) {
        return Err(http(format!(
            "connection closed after {done} of {total} bytes; run again to resume"
        )));
    }
    Ok(())
}

fn verify(path: &Path, expected: &str) -> Result<(), DownloadError> {
    let mut file = File::open(path).map_err(io_at(path))?;
    let actual = crate::sha256::hex_of_reader(&mut file).map_err(io_at(path))?;
    if actual.starts_with(&expected.to_ascii_lowercase()) {
        Ok(())
    } else {
        Err(DownloadError::HashMismatch {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            actual,
        })
    }
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> DownloadError + '_ {
    move |error| DownloadError::Io {
        path: path.to_path_buf(),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_prefix_follows_torch_hub() {
        assert_eq!(hash_prefix("resnet50-0676ba61.pth"), Some("0676ba61"));
        assert_eq!(hash_prefix("resnet50.pth"), None);
        assert_eq!(hash_prefix("my-model.pth"), None);
    }

    #[test]
    fn every_arch_has_v1_weights() {
        for arch in Arch::ALL {
            let url = imagenet_url(arch, ImagenetWeights::V1).unwrap();
            assert!(url.contains(arch.name()), "{url}");
            assert!(hash_prefix(url.rsplit('/').next().unwrap()).is_some());
        }
        assert_eq!(imagenet_url(Arch::Resnet18, ImagenetWeights::V2), None);
    }
}
