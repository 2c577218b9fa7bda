//! Where pretrained weights come from: `--pretrained imagenet | imagenet-v2 | none | <path>`.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use shared::model::Arch;
use shared::weights::download::{self, ImagenetWeights};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pretrained {
    /// torchvision's ImageNet weights, downloaded into torch.hub's cache.
    Imagenet(ImagenetWeights),
    /// A torchvision state dict (`.pth` or `.safetensors`) the user has.
    File(PathBuf),
    /// Random initialisation.
    None,
}

impl FromStr for Pretrained {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "imagenet" => Pretrained::Imagenet(ImagenetWeights::V1),
            "imagenet-v2" => Pretrained::Imagenet(ImagenetWeights::V2),
            "none" => Pretrained::None,
            path => Pretrained::File(PathBuf::from(path)),
        })
    }
}

impl Pretrained {
    /// The weight file to load for `arch`, downloading it first if needed; `None` for
    /// random initialisation.
    pub fn resolve(&self, arch: Arch, cache: Option<PathBuf>) -> Result<Option<PathBuf>> {
        match self {
            Pretrained::None => Ok(None),
            Pretrained::File(path) => Ok(Some(path.clone())),
            Pretrained::Imagenet(weights) => {
                let url = download::imagenet_url(arch, *weights).ok_or_else(|| {
                    anyhow!("torchvision has no {weights:?} ImageNet weights for {arch}")
                })?;
                let cache = cache.or_else(download::default_cache_dir).ok_or_else(|| {
                    anyhow!("no cache folder: set TORCH_HOME or pass --cache-dir")
                })?;
                fetch_with_progress(url, &cache).map(Some)
            }
        }
    }
}

fn fetch_with_progress(url: &str, cache: &std::path::Path) -> Result<PathBuf> {
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .expect("valid template"),
    );
    let file = url.rsplit('/').next().unwrap_or(url).to_string();
    let path = download::fetch(url, cache, |progress| {
        if bar.is_hidden() {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_message(format!("downloading {file}"));
        }
        if let Some(total) = progress.total {
            bar.set_length(total);
        }
        bar.set_position(progress.done);
    })
    .with_context(|| format!("downloading pretrained weights into {}", cache.display()))?;
    bar.finish_and_clear();
    Ok(path)
}
