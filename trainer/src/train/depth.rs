//! Where each parameter of a `step::Classifier` sits in its network (`Arch::depth_of`): for
//! layer-wise learning rates and for freezing all but the classifier. Parameters are named by
//! their module paths from the root (`net.<family>.<module>[.<index>]...`), as burn's
//! optimiser names them.

use std::collections::{BTreeMap, HashSet};

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use shared::model::Arch;

/// The paths of the parameters at each depth.
pub fn paths_by_depth<M: Module>(arch: Arch, model: &M) -> BTreeMap<usize, Vec<String>> {
    let mut depths = Depths {
        arch,
        path: Vec::new(),
        params: Vec::new(),
    };
    model.visit(&mut depths);
    let mut paths: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (path, _, depth) in depths.params {
        paths.entry(depth).or_default().push(path);
    }
    paths
}

/// The classifier's parameters (the head's depth).
pub fn classifier_params<M: Module>(arch: Arch, model: &M) -> HashSet<ParamId> {
    let mut depths = Depths {
        arch,
        path: Vec::new(),
        params: Vec::new(),
    };
    model.visit(&mut depths);
    depths
        .params
        .into_iter()
        .filter(|(_, _, depth)| *depth == arch.head_depth())
        .map(|(_, id, _)| id)
        .collect()
}

/// Every parameter's path, id and depth.
struct Depths {
    arch: Arch,
    path: Vec<String>,
    params: Vec<(String, ParamId, usize)>,
}

impl ModuleVisitor for Depths {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // `net`, the family's variant, then torchvision's top-level module.
        let [net, _, module, rest @ ..] = self.path.as_slice() else {
            return;
        };
        if net != "net" {
            return;
        }
        let index = rest.first().and_then(|index| index.parse().ok());
        let depth = self.arch.depth_of(module, index);
        self.params.push((self.path.join("."), param.id, depth));
    }
}
