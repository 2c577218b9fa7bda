//! Class-activation maps are the head applied at each position: their mean over the map plus
//! the final Linear's bias must give back the logits, for every architecture, image and class.

use burn::prelude::*;
use burn::tensor::Distribution;
use shared::model::{Arch, NetConfig};

#[test]
fn cam_means_plus_bias_are_the_logits() {
    let device = Device::flex();
    for arch in Arch::ALL {
        let net = NetConfig::new()
            .with_arch(arch)
            .with_num_classes(3)
            .with_width_mult(0.25)
            .init(&device);
        let images = Tensor::<4>::random([2, 3, 64, 64], Distribution::Normal(0.0, 1.0), &device);

        let features = net.features(images.clone());
        let maps = net.class_activation_maps(features);
        assert_eq!(maps.dims(), [2, 3, 2, 2], "{arch}");
        let bias = net.final_linear().bias.as_ref().expect("a bias").val();
        let from_maps: Vec<f32> = (maps.mean_dim(3).mean_dim(2).reshape([2, 3]) + bias.unsqueeze())
            .into_data()
            .try_to_vec()
            .unwrap();
        let logits: Vec<f32> = net.forward(images).into_data().try_to_vec().unwrap();
        let scale = logits.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (a, b) in from_maps.iter().zip(&logits) {
            assert!(
                (a - b).abs() <= 1e-4 * scale.max(1e-3),
                "{arch}: {from_maps:?} vs {logits:?}"
            );
        }
        // The maps must differ between the two random images (not a broadcast of one).
        assert_ne!(&from_maps[..3], &from_maps[3..], "{arch}");
    }
}
