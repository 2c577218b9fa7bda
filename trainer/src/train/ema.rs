//! `--model-ema`: an exponential moving average of the network's weights and BatchNorm
//! statistics, kept as timm's `ModelEmaV3` keeps it (`timm/utils/model_ema.py`).

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::prelude::*;
use shared::model::Net;

use super::Flattened;
use crate::recipe::Regularisation;

/// The decay of each update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decay {
    pub decay: f64,
    /// timm's `use_warmup` (warmup_gamma 1, warmup_power 2/3, min_decay 0).
    pub warmup: bool,
}

impl Decay {
    pub fn of(regularisation: &Regularisation) -> Decay {
        Decay {
            decay: regularisation.model_ema_decay,
            warmup: regularisation.model_ema_warmup,
        }
    }

    /// The decay of update `step` (from 1, one per optimiser step): 0 for the first, which
    /// copies the weights, then `decay`, or with the warm-up 1 - step^(-2/3) up to `decay`.
    pub fn at(self, step: usize) -> f64 {
        if step <= 1 {
            return 0.0;
        }
        match self.warmup {
            true => (1.0 - (step as f64).powf(-2.0 / 3.0)).clamp(0.0, self.decay),
            false => self.decay,
        }
    }
}

/// A copy of `net` to average into: outside autodiff, with parameter ids of its own, so that
/// no gradient or optimiser state of `net`'s applies to it.
pub fn copy_of(net: &Net) -> Net {
    net.valid().map(&mut Renumber)
}

struct Renumber;

impl ModuleMapper for Renumber {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (_, tensor, _) = param.consume();
        Param::initialized(ParamId::new(), tensor)
    }
}

/// `average` moved towards `net` by 1 - `decay`, every weight and BatchNorm statistic, as
/// torch's `lerp` does it (timm's update).
pub fn update(average: Net, net: &Net, decay: f64) -> Net {
    let mut values = Flattened::default();
    // `valid` first: BatchNorm's running statistics take their last update then.
    net.valid().visit(&mut values);
    average.map(&mut Lerp {
        towards: values.0.into_iter(),
        weight: 1.0 - decay,
    })
}

struct Lerp {
    towards: std::vec::IntoIter<Tensor<1>>,
    weight: f64,
}

impl ModuleMapper for Lerp {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(end) = self.towards.next() else {
            unreachable!("the average is a copy of the network: the same tensors, in order")
        };
        let weight = self.weight;
        param.map(|start| {
            let end = end.reshape(start.shape());
            let step = end.clone() - start.clone();
            // torch's lerp: exact at both ends (a weight of 1 gives `end` itself).
            match weight < 0.5 {
                true => start + step.mul_scalar(weight),
                false => end - step.mul_scalar(1.0 - weight),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use burn::module::ModuleVisitor;
    use burn::tensor::Distribution;
    use shared::model::Arch;

    use super::*;
    use crate::recipe::TrainConfig;

    /// A ResNet-18 four channels wide.
    fn tiny(device: &Device) -> Net {
        let mut config = TrainConfig::default();
        config.model.arch = Arch::Resnet18;
        config.model.width_mult = 4.0 / 64.0;
        config.net(3).init(device)
    }

    fn flat(net: &Net) -> Vec<f32> {
        let mut values = Flattened::default();
        net.visit(&mut values);
        Tensor::cat(values.0, 0)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    }

    /// The network after each of N steps, here every weight and statistic moved at random.
    fn steps(net: &Net, n: usize) -> Vec<Net> {
        let mut nets = vec![net.clone()];
        for _ in 1..n {
            let moved = nets.last().unwrap().clone().map(&mut Jolt);
            nets.push(moved);
        }
        nets
    }

    struct Jolt;

    impl ModuleMapper for Jolt {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| {
                let noise = t.random_like(Distribution::Normal(0.0, 0.1));
                t + noise
            })
        }
    }

    /// After N updates the average is the closed form: the first step's weights times
    /// d_2 ... d_N, plus each later step k's times (1 - d_k) d_(k+1) ... d_N.
    #[test]
    fn the_average_after_n_steps_is_the_closed_form() {
        let device = Device::flex();
        device.seed(3);
        let net = tiny(&device);
        for decay in [
            Decay {
                decay: 0.9,
                warmup: false,
            },
            Decay {
                decay: 0.7,
                warmup: true,
            },
        ] {
            let nets = steps(&net, 6);
            let mut average = copy_of(&nets[0]);
            for (step, net) in (1..).zip(&nets) {
                average = update(average, net, decay.at(step));
            }
            let decays: Vec<f64> = (1..=nets.len()).map(|step| decay.at(step)).collect();
            let flats: Vec<Vec<f32>> = nets.iter().map(flat).collect();
            let got = flat(&average);
            for (i, &value) in got.iter().enumerate() {
                let expected: f64 = (0..nets.len())
                    .map(|k| {
                        let later: f64 = decays[k + 1..].iter().product();
                        (1.0 - decays[k]) * later * f64::from(flats[k][i])
                    })
                    .sum();
                let scale = flats.iter().map(|f| f[i].abs()).fold(1e-3, f32::max);
                assert!(
                    (f64::from(value) - expected).abs() <= 1e-5 * f64::from(scale),
                    "{decay:?}, value {i}: {value} vs {expected}"
                );
            }
        }
    }

    /// timm's decays: the first update copies; the warm-up climbs as 1 - n^(-2/3) to the cap.
    #[test]
    fn the_decay_warms_up_as_timm_s() {
        let plain = Decay {
            decay: 0.9998,
            warmup: false,
        };
        assert_eq!(plain.at(1), 0.0);
        assert_eq!(plain.at(2), 0.9998);
        let warm = Decay {
            warmup: true,
            ..plain
        };
        assert_eq!(warm.at(1), 0.0);
        assert!((warm.at(2) - (1.0 - 2f64.powf(-2.0 / 3.0))).abs() < 1e-15);
        assert!((warm.at(1001) - (1.0 - 1001f64.powf(-2.0 / 3.0))).abs() < 1e-15);
        assert_eq!(warm.at(10_000_000), 0.9998);
    }

    /// The copy shares no parameter id with the network, so no gradient reaches it.
    #[test]
    fn the_copy_has_ids_of_its_own() {
        let net = tiny(&Device::flex().autodiff());
        let ids = |net: &Net| {
            let mut ids = Ids::default();
            net.visit(&mut ids);
            ids
        };
        let copy = copy_of(&net);
        let (trained, averaged) = (ids(&net), ids(&copy));
        assert!(!trained.trained.is_empty());
        assert!(averaged.trained.is_empty(), "the copy is outside autodiff");
        assert!(trained.trained.iter().all(|id| !averaged.all.contains(id)));
        assert_eq!(flat(&net), flat(&copy));
    }

    /// Every parameter's id, and those of the trained ones.
    #[derive(Default)]
    struct Ids {
        all: Vec<ParamId>,
        trained: Vec<ParamId>,
    }

    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.all.push(param.id);
            if param.val().is_require_grad() {
                self.trained.push(param.id);
            }
        }
    }
}
