//! The recipe's learning-rate schedule (`recipe::schedule`) as burn's scheduler, which
//! burn-train steps once per optimiser step, with the multipliers of layer-wise rates
//! (`--layer-decay`, `--head-lr-mult`) as parameter groups over the network's module paths.

use burn::module::{Module, ParamGroup};
use burn::optim::LearningRate;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::lr_scheduler::{LrScheduler, LrSchedulerRecord};

use super::depth;
use crate::recipe::TrainConfig;

/// The rate of each step of a run of `config`, times a multiplier, counting its steps. Its
/// record is the step count under the key burn's `SequentialLrScheduler` uses, which earlier
/// versions of the trainer saved, so their checkpoints resume on the same step.
#[derive(Clone, Debug)]
pub struct Schedule {
    config: TrainConfig,
    steps_per_epoch: usize,
    multiplier: f64,
    step: u64,
}

impl Schedule {
    pub fn new(config: &TrainConfig, steps_per_epoch: usize) -> Self {
        Schedule {
            config: config.clone(),
            steps_per_epoch,
            multiplier: 1.0,
            step: 0,
        }
    }

    /// The rate of `step` (from 0).
    pub fn lr(&self, step: usize) -> LearningRate {
        let config = &self.config;
        let lr = config.schedule.lr_at(
            config.optimizer.lr,
            step,
            config.epochs,
            self.steps_per_epoch,
        );
        lr * self.multiplier
    }
}

const STEP: &str = "step";

impl LrScheduler for Schedule {
    fn step(&mut self) -> LearningRate {
        let lr = self.lr(self.step as usize);
        self.step += 1;
        lr
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new().with_scalar(STEP, self.step)
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(step) = record.scalar::<u64>(STEP) {
            self.step = step;
        }
    }
}

/// The schedule of `config` for `model` (a `step::Classifier`): one group per learning-rate
/// multiplier of `--layer-decay` and `--head-lr-mult`, by depth (`Arch::depth_of`).
pub fn schedule<M: Module>(
    config: &TrainConfig,
    steps_per_epoch: usize,
    model: &M,
) -> ModuleLrScheduler {
    let base = Schedule::new(config, steps_per_epoch);
    let mut scheduler = ModuleLrScheduler::new(base.clone());
    let arch = config.model.arch;
    for (depth, paths) in depth::paths_by_depth(arch, model) {
        let multiplier = config.fine_tuning.lr_multiplier(depth, arch.head_depth());
        if multiplier != 1.0 {
            let schedule = Schedule {
                multiplier,
                ..base.clone()
            };
            scheduler = scheduler.with_group(ParamGroup::from_paths(paths), schedule);
        }
    }
    scheduler
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;
    use shared::heads::Heads;
    use shared::model::Arch;

    use super::*;
    use crate::train::step::Classifier;

    /// The tutorial's schedule: lr x 0.75 after epochs 10, 20 and 30 (milestones past the
    /// last epoch never come).
    #[test]
    fn the_step_schedule_multiplies_after_each_milestone() {
        let config = TrainConfig::default();
        let mut schedule = Schedule::new(&config, 3);
        let rates: Vec<f64> = (0..40 * 3).map(|_| schedule.step()).collect();
        let expected = |epoch: usize| 0.001 * 0.75f64.powi((epoch / 10) as i32);
        for (step, rate) in rates.iter().enumerate() {
            assert!(
                (rate - expected(step / 3)).abs() < 1e-15,
                "step {step}: {rate}"
            );
        }
        let mut resumed = Schedule::new(&config, 3);
        resumed.load_record(schedule.to_record());
        assert_eq!(resumed.step, 120);
    }

    /// Every parameter's module path, as burn's optimiser names it.
    #[derive(Default)]
    struct Paths(Vec<String>, Vec<String>);

    impl burn::module::ModuleVisitor for Paths {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.1.push(name.to_string());
        }

        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.1.pop();
        }

        fn visit_float<const D: usize>(&mut self, _param: &burn::module::Param<Tensor<D>>) {
            self.0.push(self.1.join("."));
        }
    }

    /// `--layer-decay 0.5 --head-lr-mult 10` on a ResNet: fc at 10 lr, layer4 at lr / 2,
    /// layer3 at lr / 4 ... the stem at lr / 32.
    #[test]
    fn each_stage_gets_its_layer_decayed_rate() {
        let mut config = TrainConfig::default();
        config.model.arch = Arch::Resnet18;
        config.model.width_mult = 4.0 / 64.0;
        config.fine_tuning.layer_decay = Some(0.5);
        config.fine_tuning.head_lr_mult = 10.0;
        config.schedule.lr_steps = vec![];
        let device = Device::flex();
        let heads = Heads::single("t", vec!["a".into(), "b".into()]).unwrap();
        let model = Classifier::new(config.net(2).init(&device), heads, &config);
        let mut scheduler = schedule(&config, 4, &model);
        let rates = scheduler.step();
        let lr = config.optimizer.lr;
        let mut paths = Paths::default();
        model.visit(&mut paths);
        assert!(paths.0.len() > 60, "{:?}", paths.0);
        for path in paths.0 {
            let expected = match path.split('.').nth(2).unwrap() {
                "fc" => lr * 10.0,
                "layer4" => lr / 2.0,
                "layer3" => lr / 4.0,
                "layer2" => lr / 8.0,
                "layer1" => lr / 16.0,
                "conv1" | "bn1" => lr / 32.0,
                other => panic!("{other} in {path}"),
            };
            let actual = rates.lr_from_param(burn::module::ParamId::new(), Some(&path));
            assert!(
                (actual - expected).abs() < 1e-15,
                "{path}: {actual}, not {expected}"
            );
        }
    }
}
